//! Compiling a component in a child process that cannot exceed its memory
//! and CPU budget. IO: runs the compiler executable, pipes the component in
//! and the compiled code out.
//!
//! Cranelift cannot be interrupted, and a small hostile component can make
//! it take gigabytes and minutes. So the host never compiles in its own
//! process: it runs the compiler executable (the `plumbline` binary itself
//! by default) with the hidden [`COMPILE_SUBCOMMAND`], after limiting the
//! child's address space (`RLIMIT_AS`, [`Limits::compile_memory_bytes`])
//! and CPU time (`RLIMIT_CPU`, [`Limits::compile_timeout`] rounded up to
//! whole seconds). The component goes in on standard input; the child
//! answers with [`MAGIC`] and the serialized code on standard output, or
//! with why it failed on standard error. The limits are set in the child
//! between fork and exec, so nothing it runs is outside them. Past the
//! wall-clock deadline the host kills the child. What the child returns
//! is loaded with `Component::deserialize` in the host, exactly as the
//! compile cache does.
//!
//! Protocol of the child: `__compile STACK_BYTES FUEL` (`FUEL` is `0` or
//! `1`: the [`EngineKey`]); exit 0 with the code, [`EXIT_INVALID`] when
//! wasmtime refuses the component, [`EXIT_OUT_OF_MEMORY`] when it ran out
//! of memory.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Resource, Rlimit, Signal};

use super::engines::{config, EngineKey};
use super::limits::Limits;

/// The hidden subcommand that makes the compiler executable compile one
/// component (see [`compiler_main`]).
pub const COMPILE_SUBCOMMAND: &str = "__compile";

/// What the child writes before the compiled code, so that an executable
/// that is not a Plumbline compiler is recognised instead of trusted.
const MAGIC: &[u8] = b"plumbline-compiled-1\n";

/// Exit status of the child when wasmtime refuses the component.
const EXIT_INVALID: i32 = 3;

/// Exit status of the child when compiling ran out of memory.
const EXIT_OUT_OF_MEMORY: i32 = 4;

/// Exit status of the child when its arguments are wrong.
const EXIT_USAGE: i32 = 2;

/// Why a component could not be compiled.
#[derive(Debug)]
pub(crate) enum CompileError {
    /// Not a valid component, or cranelift failed: wasmtime's report.
    Invalid(String),
    /// Compilation did not finish within its wall-clock or CPU time.
    Timeout,
    /// Compilation needed more memory than the compile memory limit.
    OutOfMemory,
    /// The compiler executable could not be run, or did not answer as a
    /// Plumbline compiler.
    Compiler(String),
}

/// Compile `bytes` for the engine `key` in a child running `executable`,
/// within `limits`' compile budget; the serialized code on success.
pub(crate) fn compile_in_child(
    executable: &Path,
    key: EngineKey,
    bytes: &[u8],
    limits: &Limits,
) -> Result<Vec<u8>, CompileError> {
    let failed = |what: &str, e: std::io::Error| {
        CompileError::Compiler(format!("{what} {}: {e}", executable.display()))
    };
    let mut command = Command::new(executable);
    command
        .arg(COMPILE_SUBCOMMAND)
        .arg(key.stack_bytes.to_string())
        .arg(if key.fuel { "1" } else { "0" })
        // A panic's message is enough; a backtrace would only be noise.
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    limit_before_exec(&mut command, limits);
    let mut child = command
        .spawn()
        .map_err(|e| failed("cannot run the compiler", e))?;
    let mut stdin = child.stdin.take().expect("piped");
    let input = bytes.to_vec();
    let writer = std::thread::spawn(move || {
        // A child that died early closed the pipe; its status says why.
        let _ = stdin.write_all(&input);
    });
    let stdout = read_all(child.stdout.take().expect("piped"));
    let stderr = read_all(child.stderr.take().expect("piped"));

    let deadline = Instant::now() + limits.compile_timeout;
    let mut pause = Duration::from_millis(1);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                let _ = writer.join();
                return Err(CompileError::Timeout);
            }
            Ok(None) => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
            }
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(failed("cannot wait for the compiler", e));
            }
        }
    };
    let _ = writer.join();
    let stdout = stdout.join().unwrap_or_default();
    let stderr = String::from_utf8_lossy(&stderr.join().unwrap_or_default())
        .trim()
        .to_owned();
    match (status.code(), status.signal()) {
        (Some(0), _) => match stdout.strip_prefix(MAGIC) {
            Some(code) => Ok(code.to_vec()),
            None => Err(CompileError::Compiler(format!(
                "{} did not answer as a Plumbline compiler (set HostConfig::compiler to a plumbline binary)",
                executable.display()
            ))),
        },
        (Some(EXIT_INVALID), _) => Err(CompileError::Invalid(stderr)),
        (Some(EXIT_OUT_OF_MEMORY), _) => Err(CompileError::OutOfMemory),
        (_, Some(signal)) if signal == Signal::XCPU.as_raw() || signal == Signal::KILL.as_raw() => {
            Err(CompileError::Timeout)
        }
        // Rust aborts when an allocation fails; a thread that cannot get
        // its stack panics.
        (_, Some(signal)) if signal == Signal::ABORT.as_raw() => Err(CompileError::OutOfMemory),
        (Some(PANIC), _) if out_of_memory_panic(&stderr) => Err(CompileError::OutOfMemory),
        _ => Err(CompileError::Compiler(format!(
            "{} failed ({status}): {stderr}",
            executable.display()
        ))),
    }
}

/// Have the child limit its own address space and CPU time between fork
/// and exec, so its first instruction already runs within them. (Limits
/// set from outside once it started would race its allocator, which may
/// reserve a large arena first and then fault when it cannot grow.)
fn limit_before_exec(command: &mut Command, limits: &Limits) {
    let memory = limits.compile_memory_bytes;
    let cpu_seconds =
        limits.compile_timeout.as_secs() + u64::from(limits.compile_timeout.subsec_nanos() > 0);
    let limit = move || -> std::io::Result<()> {
        let address_space = Rlimit {
            current: Some(memory),
            maximum: Some(memory),
        };
        rustix::process::setrlimit(Resource::As, address_space)?;
        let cpu = Rlimit {
            current: Some(cpu_seconds),
            maximum: Some(cpu_seconds + 1),
        };
        rustix::process::setrlimit(Resource::Cpu, cpu)?;
        Ok(())
    };
    // SAFETY: the closure runs in the forked child before exec, where only
    // async-signal-safe work is allowed: it makes two `setrlimit` system
    // calls on values computed before the fork, and neither allocates nor
    // takes a lock.
    #[allow(unsafe_code)]
    unsafe {
        command.pre_exec(limit);
    }
}

/// Exit status of a Rust program that panicked.
const PANIC: i32 = 101;

/// Whether a panic message says the memory limit was reached: an
/// allocation or a thread (whose stack is mapped memory) was refused.
fn out_of_memory_panic(stderr: &str) -> bool {
    ["memory", "os error 11", "os error 12"]
        .iter()
        .any(|sign| stderr.contains(sign))
}

/// Read `pipe` to its end on a thread of its own.
fn read_all(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        // A read error ends the output; the exit status says what happened.
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

/// The child's side: compile the component on standard input for the
/// engine named by `args` (the arguments after [`COMPILE_SUBCOMMAND`]) and
/// write a marker and the serialized code to standard output. The host
/// has already limited this process's memory and CPU time.
///
/// A binary that embeds the engine and wants to compile policies itself
/// calls this when its first argument is [`COMPILE_SUBCOMMAND`].
pub fn compiler_main(mut args: impl Iterator<Item = OsString>) -> ExitCode {
    let mut next = || args.next().and_then(|a| a.into_string().ok());
    let key = match (next().map(|s| s.parse()), next().as_deref()) {
        (Some(Ok(stack_bytes)), Some(fuel @ ("0" | "1"))) => EngineKey {
            stack_bytes,
            fuel: fuel == "1",
        },
        _ => {
            eprintln!("usage: plumbline {COMPILE_SUBCOMMAND} STACK_BYTES 0|1 < component.wasm");
            return exit(EXIT_USAGE);
        }
    };
    let mut bytes = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut bytes) {
        eprintln!("cannot read the component: {e}");
        return exit(EXIT_USAGE);
    }
    let compiled =
        wasmtime::Engine::new(&config(key)).and_then(|engine| engine.precompile_component(&bytes));
    match compiled {
        Ok(code) => {
            let mut stdout = std::io::stdout().lock();
            match stdout
                .write_all(MAGIC)
                .and_then(|()| stdout.write_all(&code))
                .and_then(|()| stdout.flush())
            {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("cannot write the compiled component: {e}");
                    exit(EXIT_USAGE)
                }
            }
        }
        Err(e) => {
            let out_of_memory = e.is::<wasmtime::OutOfMemory>()
                || e.chain().any(|cause| {
                    cause.is::<wasmtime::OutOfMemory>()
                        || cause
                            .downcast_ref::<std::io::Error>()
                            .is_some_and(|io| io.kind() == std::io::ErrorKind::OutOfMemory)
                });
            eprintln!("{e:#}");
            exit(if out_of_memory {
                EXIT_OUT_OF_MEMORY
            } else {
                EXIT_INVALID
            })
        }
    }
}

fn exit(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
