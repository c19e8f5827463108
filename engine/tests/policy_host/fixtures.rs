//! Policy components built for the tests from WebAssembly text: a core
//! module written in WAT against the canonical ABI, wrapped into a component
//! by `wit-component` with the real `wit/policy.wit` (the same path a guest
//! toolchain takes), plus a few components written directly in component
//! text. Hostile behaviours are a few lines of WAT each.

#![allow(dead_code)] // each test binary uses a different subset

use std::path::Path;

use plumbline::policy::{ComponentSource, EvalContext, HostConfig, PolicyHost, PolicySpec};
use serde_json::{json, Value};

/// Memory map of every fixture core module:
/// strings at 16..512, return areas at 512..1100, templates at 640,
/// bump heap from 4096.
const PRELUDE: &str = r#"
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 16) "fixture")
  (data (i32.const 32) "0.1.0")
  (data (i32.const 48) "a test policy")
  (data (i32.const 64) "settings rejected: this policy takes no settings")
  (data (i32.const 128) "missing label team")
  (data (i32.const 160) "metadata.labels.team")
  (data (i32.const 192) "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"added-by-policy\"}}")
  (data (i32.const 288) "validating")
  (data (i32.const 304) "[1,2,3]")
  (data (i32.const 320) "no preopened directories")
  (data (i32.const 352) "found preopened directories")
  (data (i32.const 384) "opening /etc/passwd\n")
  (data (i32.const 416) "refusing these objects")
  ;; policy-info: name, version, description, settings-schema = none
  (data (i32.const 512) "\10\00\00\00\07\00\00\00\20\00\00\00\05\00\00\00\30\00\00\00\0d\00\00\00\00")
  ;; result<_, string>::ok at 576, ::err("settings rejected...") at 592
  (data (i32.const 592) "\01\00\00\00\40\00\00\00\30\00\00\00")
  ;; violation template (60 bytes): target none, path @40, message @48, severity error
  (data (i32.const 680) "\a0\00\00\00\14\00\00\00\80\00\00\00\12\00\00\00\00")

  (func $realloc (export "cabi_realloc")
    (param $old i32) (param $old_size i32) (param $align i32) (param $size i32) (result i32)
    (local $p i32) (local $need i32)
    (local.set $p (i32.and
      (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
      (i32.sub (i32.const 0) (local.get $align))))
    (global.set $heap (i32.add (local.get $p) (local.get $size)))
    (local.set $need (i32.sub (global.get $heap) (i32.mul (memory.size) (i32.const 65536))))
    (if (i32.gt_s (local.get $need) (i32.const 0))
      (then (if (i32.eq (memory.grow (i32.add (i32.div_u (local.get $need) (i32.const 65536)) (i32.const 1)))
                        (i32.const -1))
              (then unreachable))))
    (if (local.get $old) (then (memory.copy (local.get $p) (local.get $old) (local.get $old_size))))
    (local.get $p))

  (func (export "plumbline:policy/metadata@0.1.0#info") (result i32) (i32.const 512))

  ;; accepts exactly the settings `{}`
  (func (export "plumbline:policy/metadata@0.1.0#check-settings") (param $p i32) (param $len i32) (result i32)
    (if (result i32) (i32.eq (local.get $len) (i32.const 2))
      (then (i32.const 576)) (else (i32.const 592))))

  ;; a list of `n` copies of the violation template, written at 1024
  (func $violations (param $n i32) (result i32)
    (local $list i32) (local $i i32)
    (local.set $list (call $realloc (i32.const 0) (i32.const 0) (i32.const 4) (i32.mul (local.get $n) (i32.const 60))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (memory.copy (i32.add (local.get $list) (i32.mul (local.get $i) (i32.const 60))) (i32.const 640) (i32.const 60))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (i32.store (i32.const 1024) (local.get $list))
    (i32.store (i32.const 1028) (local.get $n))
    (i32.const 1024))
"#;

const LOG_IMPORT: &str =
    r#"(import "plumbline:policy/host@0.1.0" "log" (func $log (param i32 i32 i32)))"#;

/// `validate(objects, ctx)` flattened: list (2) + context (10) -> ret ptr.
fn validate(body: &str) -> String {
    format!(
        r#"(func (export "plumbline:policy/validator@0.1.0#validate")
             (param $objs i32) (param $n i32)
             (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)
             {body})"#
    )
}

/// `transform(objects, ctx)` flattened -> ret ptr to `result<list<string>, string>`.
fn transform(body: &str) -> String {
    format!(
        r#"(func (export "plumbline:policy/transformer@0.1.0#transform")
             (param $objs i32) (param $n i32)
             (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)
             (local $list i32)
             {body})"#
    )
}

/// `remediate(drift, ctx)`: too many flat params, so one pointer -> ret ptr.
fn remediate(body: &str) -> String {
    format!(
        r#"(func (export "plumbline:policy/remediator@0.1.0#remediate") (param i32) (result i32)
             {body})"#
    )
}

/// A validator that logs one line and reports one violation per object.
pub const GOOD_VALIDATE: &str = r#"
    (call $log (i32.const 2) (i32.const 288) (i32.const 10))
    (call $violations (local.get $n))"#;

/// The test WIT package: worlds for fixtures, and the parts of WASI 0.2
/// (copied from the WASI 0.2 WIT) that the filesystem fixture imports.
const FIXTURE_WIT: &str = r#"
package test:fixtures;

world validator {
    import plumbline:policy/host@0.1.0;
    export plumbline:policy/metadata@0.1.0;
    export plumbline:policy/validator@0.1.0;
}

world all-roles {
    import plumbline:policy/host@0.1.0;
    export plumbline:policy/metadata@0.1.0;
    export plumbline:policy/validator@0.1.0;
    export plumbline:policy/transformer@0.1.0;
    export plumbline:policy/remediator@0.1.0;
}

world transformer {
    import plumbline:policy/host@0.1.0;
    export plumbline:policy/metadata@0.1.0;
    export plumbline:policy/transformer@0.1.0;
}

world metadata-only {
    export plumbline:policy/metadata@0.1.0;
}

world wasi-sleeper {
    import wasi:clocks/monotonic-clock@0.2.0;
    export plumbline:policy/metadata@0.1.0;
    export plumbline:policy/validator@0.1.0;
}

world wasi-fs-validator {
    import wasi:filesystem/preopens@0.2.0;
    import wasi:cli/stdout@0.2.0;
    export plumbline:policy/metadata@0.1.0;
    export plumbline:policy/validator@0.1.0;
}
"#;

const WASI_WIT: &str = r#"
package wasi:io@0.2.0;
interface error { resource error; }
interface poll { resource pollable { block: func(); } }
interface streams {
    use error.{error};
    variant stream-error { last-operation-failed(error), closed }
    resource output-stream {
        blocking-write-and-flush: func(contents: list<u8>) -> result<_, stream-error>;
    }
}
"#;

const WASI_CLOCKS_WIT: &str = r#"
package wasi:clocks@0.2.0;
interface monotonic-clock {
    use wasi:io/poll@0.2.0.{pollable};
    type instant = u64;
    type duration = u64;
    now: func() -> instant;
    subscribe-duration: func(when: duration) -> pollable;
}
"#;

const WASI_FS_WIT: &str = r#"
package wasi:filesystem@0.2.0;
interface types { resource descriptor; }
interface preopens {
    use types.{descriptor};
    get-directories: func() -> list<tuple<descriptor, string>>;
}
"#;

const WASI_CLI_WIT: &str = r#"
package wasi:cli@0.2.0;
interface stdout {
    use wasi:io/streams@0.2.0.{output-stream};
    get-stdout: func() -> output-stream;
}
"#;

/// Wrap a core module (WAT) into a component of `world` (in FIXTURE_WIT).
pub fn component(world: &str, core_wat: &str) -> Vec<u8> {
    let mut resolve = wit_parser::Resolve::default();
    let wit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit/policy.wit");
    resolve.push_file(&wit).expect("wit/policy.wit parses");
    resolve.push_str("wasi-io.wit", WASI_WIT).unwrap();
    resolve
        .push_str("wasi-clocks.wit", WASI_CLOCKS_WIT)
        .unwrap();
    resolve.push_str("wasi-fs.wit", WASI_FS_WIT).unwrap();
    resolve.push_str("wasi-cli.wit", WASI_CLI_WIT).unwrap();
    let pkg = resolve.push_str("fixtures.wit", FIXTURE_WIT).unwrap();
    let world = resolve.select_world(&[pkg], Some(world)).unwrap();
    let mut module = wat::parse_str(core_wat).unwrap_or_else(|e| panic!("fixture WAT: {e}"));
    wit_component::embed_component_metadata(
        &mut module,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
    )
    .unwrap();
    wit_component::ComponentEncoder::default()
        .module(&module)
        .unwrap()
        .validate(true)
        .encode()
        .unwrap_or_else(|e| panic!("fixture component: {e:?}"))
}

/// A validator whose `validate` runs `body` (with `$log` and `$violations`).
pub fn validator(body: &str) -> Vec<u8> {
    component(
        "validator",
        &format!("(module {LOG_IMPORT} {PRELUDE} {})", validate(body)),
    )
}

/// The well-behaved validator: one violation per object.
pub fn good_validator() -> Vec<u8> {
    validator(GOOD_VALIDATE)
}

/// All three roles, well behaved: validate as [`good_validator`]; transform
/// appends a ConfigMap `added-by-policy`; remediate defers by 30 s
/// (`some(defer(30))`: option tag at 1200, variant tag at 1204, payload at
/// 1208).
pub fn all_roles() -> Vec<u8> {
    all_roles_with(
        ADD_CONFIG_MAP,
        r#"(i32.store8 (i32.const 1200) (i32.const 1))
           (i32.store8 (i32.const 1204) (i32.const 4))
           (i32.store (i32.const 1208) (i32.const 30))
           (i32.const 1200)"#,
    )
}

/// A transform body that returns its input plus the ConfigMap
/// `added-by-policy`, which names no namespace.
const ADD_CONFIG_MAP: &str = r#"
    (local.set $list (call $realloc (i32.const 0) (i32.const 0) (i32.const 4)
                       (i32.mul (i32.add (local.get $n) (i32.const 1)) (i32.const 8))))
    (memory.copy (local.get $list) (local.get $objs) (i32.mul (local.get $n) (i32.const 8)))
    (i32.store (i32.add (local.get $list) (i32.mul (local.get $n) (i32.const 8))) (i32.const 192))
    (i32.store (i32.add (local.get $list) (i32.add (i32.mul (local.get $n) (i32.const 8)) (i32.const 4))) (i32.const 76))
    (i32.store8 (i32.const 1100) (i32.const 0))
    (i32.store (i32.const 1104) (local.get $list))
    (i32.store (i32.const 1108) (i32.add (local.get $n) (i32.const 1)))
    (i32.const 1100)"#;

/// Only a transformer: appends the ConfigMap `added-by-policy`, without a
/// namespace, to its input.
pub fn adding_transformer() -> Vec<u8> {
    component(
        "transformer",
        &format!(
            "(module {LOG_IMPORT} {PRELUDE} {})",
            transform(ADD_CONFIG_MAP)
        ),
    )
}

/// All three roles with the given transform and remediate bodies.
pub fn all_roles_with(transform_body: &str, remediate_body: &str) -> Vec<u8> {
    component(
        "all-roles",
        &format!(
            "(module {LOG_IMPORT} {PRELUDE} {} {} {})",
            validate(GOOD_VALIDATE),
            transform(transform_body),
            remediate(remediate_body)
        ),
    )
}

/// A transformer that returns `["[1,2,3]"]`: valid JSON, not an object.
pub fn bad_output_transformer() -> Vec<u8> {
    all_roles_with(
        r#"(i32.store (i32.const 1300) (i32.const 304))
           (i32.store (i32.const 1304) (i32.const 7))
           (i32.store8 (i32.const 1100) (i32.const 0))
           (i32.store (i32.const 1104) (i32.const 1300))
           (i32.store (i32.const 1108) (i32.const 1))
           (i32.const 1100)"#,
        "(i32.const 1200)",
    )
}

/// A transformer that refuses its input with `err("refusing these objects")`.
pub fn rejecting_transformer() -> Vec<u8> {
    all_roles_with(
        r#"(i32.store8 (i32.const 1100) (i32.const 1))
           (i32.store (i32.const 1104) (i32.const 416))
           (i32.store (i32.const 1108) (i32.const 22))
           (i32.const 1100)"#,
        "(i32.const 1200)",
    )
}

/// A component that exports metadata but no role.
pub fn metadata_only() -> Vec<u8> {
    component("metadata-only", &format!("(module {PRELUDE})"))
}

/// Loops forever in `validate`.
pub fn infinite_loop() -> Vec<u8> {
    validator("(loop $spin (br $spin)) (unreachable)")
}

/// Grows memory 1 MiB at a time until growth fails.
pub fn memory_hog() -> Vec<u8> {
    validator(
        "(loop $grow (br_if $grow (i32.ne (memory.grow (i32.const 16)) (i32.const -1)))) (unreachable)",
    )
}

/// Recurses without end.
pub fn deep_recursion() -> Vec<u8> {
    component(
        "validator",
        &format!(
            r#"(module {LOG_IMPORT} {PRELUDE}
                 (func $down (param i32) (result i32)
                   (i32.add (call $down (i32.add (local.get 0) (i32.const 1))) (i32.const 1)))
                 {})"#,
            validate("(drop (call $down (i32.const 0))) (call $violations (i32.const 0))")
        ),
    )
}

/// Returns one violation whose message is `mib` MiB long.
pub fn oversized_output(mib: i32) -> Vec<u8> {
    validator(&format!(
        r#"(local $list i32)
           (drop (memory.grow (i32.const {pages})))
           (local.set $list (call $violations (i32.const 1)))
           (i32.store offset=48 (i32.load (i32.const 1024)) (i32.const 65536))
           (i32.store offset=52 (i32.load (i32.const 1024)) (i32.const {bytes}))
           (local.get $list)"#,
        pages = mib * 16 + 1,
        bytes = mib * 1024 * 1024,
    ))
}

/// Executes `unreachable`.
pub fn trapping() -> Vec<u8> {
    validator("(unreachable)")
}

/// Imports two interfaces the host does not provide (component text).
pub fn unknown_imports() -> Vec<u8> {
    wat::parse_str(
        r#"(component
             (import "evil:net/socket@1.0.0" (instance
               (export "connect" (func (param "host" string)))))
             (import "evil:fs/files@1.0.0" (instance)))"#,
    )
    .unwrap()
}

/// Imports WASI: writes "opening /etc/passwd" to stdout, then asks for the
/// preopened directories (the only way a WASI program can reach a file) and
/// reports whether it got any: "no preopened directories" or "found ...".
pub fn wasi_filesystem() -> Vec<u8> {
    component(
        "wasi-fs-validator",
        &format!(
            r#"(module
                 (import "wasi:filesystem/preopens@0.2.0" "get-directories" (func $dirs (param i32)))
                 (import "wasi:cli/stdout@0.2.0" "get-stdout" (func $stdout (result i32)))
                 (import "wasi:io/streams@0.2.0" "[method]output-stream.blocking-write-and-flush"
                   (func $write (param i32 i32 i32 i32)))
                 {PRELUDE}
                 {})"#,
            validate(
                r#"(local $out i32)
                   (call $write (call $stdout) (i32.const 384) (i32.const 20) (i32.const 1400))
                   (call $dirs (i32.const 1500))
                   (local.set $out (call $violations (i32.const 1)))
                   (if (i32.eqz (i32.load (i32.const 1504)))
                     (then
                       (i32.store offset=48 (i32.load (i32.const 1024)) (i32.const 320))
                       (i32.store offset=52 (i32.load (i32.const 1024)) (i32.const 24)))
                     (else
                       (i32.store offset=48 (i32.load (i32.const 1024)) (i32.const 352))
                       (i32.store offset=52 (i32.load (i32.const 1024)) (i32.const 27))))
                   (local.get $out)"#
            )
        ),
    )
}

/// Imports WASI clocks: sleeps 5 s (subscribe-duration + block), then reports
/// one violation per second the monotonic clock says passed.
pub fn wasi_sleeper() -> Vec<u8> {
    component(
        "wasi-sleeper",
        &format!(
            r#"(module
                 (import "wasi:clocks/monotonic-clock@0.2.0" "subscribe-duration"
                   (func $subscribe (param i64) (result i32)))
                 (import "wasi:clocks/monotonic-clock@0.2.0" "now" (func $now (result i64)))
                 (import "wasi:io/poll@0.2.0" "[method]pollable.block" (func $block (param i32)))
                 {PRELUDE}
                 {})"#,
            validate(
                r#"(call $block (call $subscribe (i64.const 5000000000)))
                   (call $violations (i32.wrap_i64 (i64.div_u (call $now) (i64.const 1000000000))))"#
            )
        ),
    )
}

/// A validator with extra module-level `fields` (memories, tables,
/// functions, data) whose `validate` runs `body`.
pub fn validator_with(fields: &str, body: &str) -> Vec<u8> {
    component(
        "validator",
        &format!(
            "(module {LOG_IMPORT} {PRELUDE} {fields} {})",
            validate(body)
        ),
    )
}

/// `extra` linear memories besides the canonical one; `validate` grows each
/// by `pages` 64 KiB pages and fills it (so the pages are really touched),
/// then reports one violation per object.
pub fn many_memories(extra: usize, pages: u32) -> Vec<u8> {
    let fields: String = (1..=extra).map(|i| format!("(memory $m{i} 0)")).collect();
    let body: String = (1..=extra)
        .map(|i| {
            format!(
                "(drop (memory.grow $m{i} (i32.const {pages})))
                 (memory.fill $m{i} (i32.const 0) (i32.const 1) (i32.const {bytes}))",
                bytes = u64::from(pages) * 65536,
            )
        })
        .collect();
    validator_with(
        &fields,
        &format!("{body} (call $violations (local.get $n))"),
    )
}

/// A table that `validate` grows to `elements` and fills with `table.fill`.
pub fn table_filler(elements: u32) -> Vec<u8> {
    validator_with(
        "(table $big 0 funcref)",
        &format!(
            "(drop (table.grow $big (ref.null func) (i32.const {elements})))
             (table.fill $big (i32.const 0) (ref.null func) (table.size $big))
             (call $violations (local.get $n))"
        ),
    )
}

/// A table declared with a minimum of `elements`.
pub fn huge_declared_table(elements: u32) -> Vec<u8> {
    validator_with(&format!("(table $big {elements} funcref)"), GOOD_VALIDATE)
}

/// Returns `n` violations with empty path and message (60 bytes each in
/// the guest, no text at all).
pub fn many_violations(n: u32) -> Vec<u8> {
    validator(&format!(
        "(i32.store (i32.const 684) (i32.const 0))
         (i32.store (i32.const 692) (i32.const 0))
         (call $violations (i32.const {n}))"
    ))
}

/// A transformer that returns `n` copies of the ConfigMap `added-by-policy`.
pub fn many_objects(n: u32) -> Vec<u8> {
    all_roles_with(
        &format!(
            r#"(local $i i32)
               (local.set $list (call $realloc (i32.const 0) (i32.const 0) (i32.const 4)
                                  (i32.mul (i32.const {n}) (i32.const 8))))
               (block $done (loop $next
                 (br_if $done (i32.ge_u (local.get $i) (i32.const {n})))
                 (i32.store (i32.add (local.get $list) (i32.mul (local.get $i) (i32.const 8))) (i32.const 192))
                 (i32.store (i32.add (local.get $list) (i32.add (i32.mul (local.get $i) (i32.const 8)) (i32.const 4))) (i32.const 76))
                 (local.set $i (i32.add (local.get $i) (i32.const 1)))
                 (br $next)))
               (i32.store8 (i32.const 1100) (i32.const 0))
               (i32.store (i32.const 1104) (local.get $list))
               (i32.store (i32.const 1108) (i32.const {n}))
               (i32.const 1100)"#
        ),
        "(i32.const 1200)",
    )
}

/// A validator carrying an unused function of `instructions` pairs of
/// `i32.const 1; drop` (3 bytes each): a large function body to compile.
pub fn large_function(instructions: usize) -> Vec<u8> {
    let body = "i32.const 1 drop ".repeat(instructions);
    validator_with(&format!("(func $large {body})"), GOOD_VALIDATE)
}

/// Reports one violation if `0.0 / 0.0` (computed at run time) is the
/// canonical NaN `0x7fc00000`, none otherwise. Call with no objects.
pub fn nan_bits() -> Vec<u8> {
    validator(
        "(call $violations (i32.eq
           (i32.reinterpret_f32 (f32.div (f32.convert_i32_u (local.get $n))
                                         (f32.convert_i32_u (local.get $n))))
           (i32.const 0x7fc00000)))",
    )
}

/// One violation whose message is `ESC [2K CR 0 error(s)`: terminal codes
/// that erase the line and print a fake summary over it.
pub fn terminal_escapes() -> Vec<u8> {
    validator_with(
        r#"(data (i32.const 2000) "\1b[2K\0d0 error(s)")"#,
        r#"(local $list i32)
           (local.set $list (call $violations (i32.const 1)))
           (i32.store offset=48 (i32.load (i32.const 1024)) (i32.const 2000))
           (i32.store offset=52 (i32.load (i32.const 1024)) (i32.const 15))
           (local.get $list)"#,
    )
}

/// A policy host with the default limits.
pub fn host() -> PolicyHost {
    PolicyHost::new(HostConfig {
        compiler: Some(env!("CARGO_BIN_EXE_plumbline").into()),
        ..HostConfig::default()
    })
    .unwrap()
}

/// The spec of a policy named `name` made of `bytes`.
pub fn spec(name: &str, bytes: Vec<u8>) -> PolicySpec {
    PolicySpec::new(name, ComponentSource::Bytes(bytes))
}

/// `n` ConfigMaps named `cm-0`, `cm-1`, ...
pub fn objects(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("cm-{i}")}}))
        .collect()
}

/// A well-behaved validator loaded and evaluated on `host` succeeds: what
/// every hostile case checks after its fault.
pub fn assert_host_still_works(host: &PolicyHost) {
    let good = host.load(spec("good", good_validator())).unwrap();
    let eval = good.validate(&objects(2), &EvalContext::default()).unwrap();
    assert_eq!(eval.value.len(), 2);
}
