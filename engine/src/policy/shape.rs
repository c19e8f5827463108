//! What a component declares, read from its bytes before anything is
//! compiled or instantiated: instances (nested component instantiations
//! expanded), linear memories and tables with their minimum sizes,
//! functions and their code, locals and element segments, and how deep
//! components nest. No IO.
//!
//! The load-time checks of the sandbox ([`Shape::check`]) refuse a component
//! that could not run within its limits anyway (too many memories, a minimum
//! above the memory budget) or whose compilation would be too costly:
//! cranelift's time and memory grow with the number and size of functions,
//! with locals times blocks in one function, with element segments, and
//! with every expanded instantiation, and compilation cannot be interrupted
//! (the compile child's limits, `super::compiler`, bound what these
//! estimates miss). Memory and table counts are static: a core module
//! instantiated twice counts once, one never instantiated still counts; the
//! store's resource limiter enforces the same caps at run time
//! ([`super::state::Limiter`]).

use wasmparser::{
    ComponentAlias, ComponentExternalKind, ComponentInstance, ComponentOuterAliasKind,
    ComponentTypeRef, Encoding, Parser, Payload,
};

use super::limits::{Limit, Limits};

/// Bytes the sandbox charges per table element (wasmtime stores one pointer
/// per element).
pub(crate) const TABLE_ELEMENT_BYTES: u64 = 8;

/// The static shape of one component.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Shape {
    /// Size of the component.
    pub(crate) bytes: u64,
    /// Core module and component instantiations, with every instantiation
    /// of a nested component counted with everything that component
    /// instantiates in turn (as wasmtime expands them when it compiles).
    pub(crate) instances: u64,
    /// Linear memories defined (not imported), summed over core modules.
    pub(crate) memories: u64,
    /// Tables defined (not imported), summed over core modules.
    pub(crate) tables: u64,
    /// Sum of the minimum sizes of the defined memories, in bytes.
    pub(crate) memory_minimum_bytes: u64,
    /// Largest minimum size of one defined table, in elements.
    pub(crate) largest_table_minimum: u64,
    /// Sum of the minimum sizes of the defined tables, in elements.
    pub(crate) table_minimum_elements: u64,
    /// Size of the largest function body, in bytes.
    pub(crate) largest_function: u64,
    /// Function bodies, summed over core modules.
    pub(crate) functions: u64,
    /// Size of all function bodies, in bytes.
    pub(crate) code_bytes: u64,
    /// The largest product of one function's declared locals and its body
    /// size in bytes: what makes cranelift's SSA construction and register
    /// allocation expensive.
    pub(crate) function_locals_bytes: u64,
    /// Items of all element segments.
    pub(crate) element_items: u64,
    /// Deepest nesting of components (the component itself is 1).
    pub(crate) nesting: u64,
}

/// One module or component being read (nested ones are read in place).
enum Frame {
    Module,
    Component(ComponentFrame),
}

/// What a component's instantiations cost once expanded.
#[derive(Default)]
struct ComponentFrame {
    /// The expanded instantiation count of each entry of the component
    /// index space.
    components: Vec<u64>,
    /// Expanded instantiations made by this component's own body.
    instances: u64,
}

impl Shape {
    /// Read the shape of `bytes` (a component or a core module). Errors are
    /// wasmparser's: the bytes are not well-formed WebAssembly.
    ///
    /// A component that is imported, or taken from an instance's exports,
    /// has an unknown body; its instantiations are counted as the largest
    /// component read so far (the compile child's limits bound what this
    /// misjudges).
    pub(crate) fn of(bytes: &[u8]) -> Result<Self, wasmparser::BinaryReaderError> {
        let mut shape = Shape {
            bytes: bytes.len() as u64,
            ..Shape::default()
        };
        let mut stack: Vec<Frame> = Vec::new();
        let mut largest_component = 0u64;
        for payload in Parser::new(0).parse_all(bytes) {
            let payload = payload?;
            let depth = stack
                .iter()
                .filter(|f| matches!(f, Frame::Component(_)))
                .count();
            let mut frame = match stack.last_mut() {
                Some(Frame::Component(frame)) => Some(frame),
                _ => None,
            };
            match payload {
                Payload::Version { encoding, .. } => {
                    stack.push(match encoding {
                        Encoding::Component => {
                            shape.nesting = shape.nesting.max(depth as u64 + 1);
                            Frame::Component(ComponentFrame::default())
                        }
                        Encoding::Module => Frame::Module,
                    });
                }
                Payload::End(_) => {
                    if let Some(Frame::Component(done)) = stack.pop() {
                        largest_component = largest_component.max(done.instances);
                        match stack.last_mut() {
                            Some(Frame::Component(parent)) => {
                                parent.components.push(done.instances)
                            }
                            _ => shape.instances = done.instances,
                        }
                    }
                }
                Payload::InstanceSection(reader) => {
                    for instance in reader {
                        if let wasmparser::Instance::Instantiate { .. } = instance? {
                            let count = match &mut frame {
                                Some(frame) => &mut frame.instances,
                                None => &mut shape.instances,
                            };
                            *count = count.saturating_add(1);
                        }
                    }
                }
                Payload::ComponentInstanceSection(reader) => {
                    let Some(frame) = frame else { continue };
                    for instance in reader {
                        if let ComponentInstance::Instantiate {
                            component_index, ..
                        } = instance?
                        {
                            let weight = frame
                                .components
                                .get(component_index as usize)
                                .copied()
                                .unwrap_or(largest_component);
                            frame.instances =
                                frame.instances.saturating_add(1).saturating_add(weight);
                        }
                    }
                }
                Payload::ComponentImportSection(reader) => {
                    let Some(frame) = frame else { continue };
                    for import in reader {
                        if let ComponentTypeRef::Component(_) = import?.ty {
                            frame.components.push(largest_component);
                        }
                    }
                }
                Payload::ComponentExportSection(reader) => {
                    let Some(frame) = frame else { continue };
                    for export in reader {
                        let export = export?;
                        if export.kind == ComponentExternalKind::Component {
                            let weight = frame
                                .components
                                .get(export.index as usize)
                                .copied()
                                .unwrap_or(largest_component);
                            frame.components.push(weight);
                        }
                    }
                }
                Payload::ComponentAliasSection(reader) => {
                    for alias in reader {
                        let weight = match alias? {
                            ComponentAlias::InstanceExport {
                                kind: ComponentExternalKind::Component,
                                ..
                            } => largest_component,
                            ComponentAlias::Outer {
                                kind: ComponentOuterAliasKind::Component,
                                count,
                                index,
                            } => outer_component(&stack, count, index).unwrap_or(largest_component),
                            _ => continue,
                        };
                        if let Some(Frame::Component(frame)) = stack.last_mut() {
                            frame.components.push(weight);
                        }
                    }
                }
                Payload::MemorySection(reader) => {
                    for memory in reader {
                        let memory = memory?;
                        let page = 1u64 << memory.page_size_log2();
                        shape.memories += 1;
                        shape.memory_minimum_bytes = shape
                            .memory_minimum_bytes
                            .saturating_add(memory.initial.saturating_mul(page));
                    }
                }
                Payload::TableSection(reader) => {
                    for table in reader {
                        let initial = table?.ty.initial;
                        shape.tables += 1;
                        shape.largest_table_minimum = shape.largest_table_minimum.max(initial);
                        shape.table_minimum_elements =
                            shape.table_minimum_elements.saturating_add(initial);
                    }
                }
                Payload::ElementSection(reader) => {
                    for element in reader {
                        let items = match element?.items {
                            wasmparser::ElementItems::Functions(items) => items.count(),
                            wasmparser::ElementItems::Expressions(_, items) => items.count(),
                        };
                        shape.element_items = shape.element_items.saturating_add(items.into());
                    }
                }
                Payload::CodeSectionEntry(body) => {
                    let bytes = body.range().len() as u64;
                    let mut locals = 0u64;
                    for group in body.get_locals_reader()? {
                        locals = locals.saturating_add(group?.0.into());
                    }
                    shape.functions += 1;
                    shape.code_bytes = shape.code_bytes.saturating_add(bytes);
                    shape.largest_function = shape.largest_function.max(bytes);
                    shape.function_locals_bytes = shape
                        .function_locals_bytes
                        .max(locals.saturating_mul(bytes));
                }
                _ => {}
            }
        }
        Ok(shape)
    }

    /// The first limit this shape cannot run within, with what was found.
    pub(crate) fn check(&self, limits: &Limits) -> Option<(Limit, String)> {
        if self.bytes > limits.component_bytes {
            return Some((
                Limit::ComponentSize,
                format!("the component is {} bytes", self.bytes),
            ));
        }
        if self.largest_function > limits.function_bytes {
            return Some((
                Limit::FunctionSize,
                format!(
                    "its largest function body is {} bytes",
                    self.largest_function
                ),
            ));
        }
        if self.functions > limits.max_functions {
            return Some((
                Limit::Functions,
                format!("it defines {} functions", self.functions),
            ));
        }
        if self.code_bytes > limits.code_bytes {
            return Some((
                Limit::CodeSize,
                format!("its function bodies are {} bytes", self.code_bytes),
            ));
        }
        if self.function_locals_bytes > limits.function_locals_bytes {
            return Some((
                Limit::FunctionLocals,
                format!(
                    "a function's locals times its body size is {}",
                    self.function_locals_bytes
                ),
            ));
        }
        if self.element_items > limits.element_items {
            return Some((
                Limit::ElementItems,
                format!("its element segments hold {} items", self.element_items),
            ));
        }
        if self.nesting > u64::from(limits.component_nesting) {
            return Some((
                Limit::ComponentNesting,
                format!("it nests components {} levels deep", self.nesting),
            ));
        }
        if self.instances > u64::from(limits.max_instances) {
            return Some((
                Limit::Instances,
                format!(
                    "it instantiates {} core modules and components (nested instantiations expanded)",
                    self.instances
                ),
            ));
        }
        if self.memories > u64::from(limits.max_memories) {
            return Some((
                Limit::Memories,
                format!("it defines {} linear memories", self.memories),
            ));
        }
        if self.tables > u64::from(limits.max_tables) {
            return Some((Limit::Tables, format!("it defines {} tables", self.tables)));
        }
        if self.largest_table_minimum > limits.table_elements {
            return Some((
                Limit::TableElements,
                format!(
                    "it declares a table of at least {} elements",
                    self.largest_table_minimum
                ),
            ));
        }
        let minimum = self.memory_minimum_bytes.saturating_add(
            self.table_minimum_elements
                .saturating_mul(TABLE_ELEMENT_BYTES),
        );
        if minimum > limits.memory_bytes {
            return Some((
                Limit::Memory,
                format!("its memories and tables need at least {minimum} bytes"),
            ));
        }
        None
    }
}

/// The expanded instantiation count of component `index` of the component
/// `count` levels out from the innermost one on `stack`.
fn outer_component(stack: &[Frame], count: u32, index: u32) -> Option<u64> {
    let mut components = stack.iter().rev().filter_map(|f| match f {
        Frame::Component(frame) => Some(frame),
        Frame::Module => None,
    });
    components
        .nth(count as usize)?
        .components
        .get(index as usize)
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_memories_tables_and_the_largest_function() {
        let module = wat::parse_str(
            r#"(module
                 (import "a" "m" (memory 1))
                 (memory 2) (memory 3)
                 (table 10 funcref) (table 1000 funcref)
                 (func (drop (i32.const 1)))
                 (func (drop (i32.add (i32.const 1) (i32.const 2)))))"#,
        )
        .unwrap();
        let shape = Shape::of(&module).unwrap();
        assert_eq!(shape.memories, 2);
        assert_eq!(shape.memory_minimum_bytes, 5 << 16);
        assert_eq!(shape.tables, 2);
        assert_eq!(shape.largest_table_minimum, 1000);
        assert_eq!(shape.table_minimum_elements, 1010);
        assert!(shape.largest_function > 5, "{shape:?}");

        let limits = Limits::default();
        assert_eq!(shape.check(&limits), None);
        let few = Limits {
            max_memories: 1,
            ..limits
        };
        assert_eq!(shape.check(&few).unwrap().0, Limit::Memories);
        let small = Limits {
            table_elements: 999,
            ..limits
        };
        assert_eq!(shape.check(&small).unwrap().0, Limit::TableElements);
        let tight = Limits {
            memory_bytes: 5 << 16,
            ..limits
        };
        assert_eq!(shape.check(&tight).unwrap().0, Limit::Memory);
    }
}
