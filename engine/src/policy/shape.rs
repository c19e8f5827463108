//! What a component declares, read from its bytes before anything is
//! compiled or instantiated: core module instances, linear memories and
//! tables with their minimum sizes, and the largest function body. No IO.
//!
//! The load-time checks of the sandbox ([`Shape::check`]) refuse a component
//! that could not run within its limits anyway (too many memories, a minimum
//! above the memory budget) or whose compilation would be unbounded (too
//! large, or one huge function: cranelift's time and memory grow faster
//! than linearly in a function's size, and compilation cannot be
//! interrupted). The counts are static: a core module instantiated twice
//! counts twice, one never instantiated still counts; the store's resource
//! limiter enforces the same caps at run time ([`super::state::Limiter`]).

use wasmparser::{Parser, Payload};

use super::limits::{Limit, Limits};

/// Bytes the sandbox charges per table element (wasmtime stores one pointer
/// per element).
pub(crate) const TABLE_ELEMENT_BYTES: u64 = 8;

/// The static shape of one component.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Shape {
    /// Size of the component.
    pub(crate) bytes: u64,
    /// Core module instantiations (`core instance` of a module).
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
}

impl Shape {
    /// Read the shape of `bytes` (a component or a core module). Errors are
    /// wasmparser's: the bytes are not well-formed WebAssembly.
    pub(crate) fn of(bytes: &[u8]) -> Result<Self, wasmparser::BinaryReaderError> {
        let mut shape = Shape {
            bytes: bytes.len() as u64,
            ..Shape::default()
        };
        for payload in Parser::new(0).parse_all(bytes) {
            match payload? {
                Payload::InstanceSection(reader) => {
                    for instance in reader {
                        if let wasmparser::Instance::Instantiate { .. } = instance? {
                            shape.instances += 1;
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
                Payload::CodeSectionEntry(body) => {
                    shape.largest_function = shape.largest_function.max(body.range().len() as u64);
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
        if self.instances > u64::from(limits.max_instances) {
            return Some((
                Limit::Instances,
                format!("it instantiates {} core modules", self.instances),
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
