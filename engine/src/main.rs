//! The `plumbline` command-line tool; see [`plumbline::cli`].

/// mimalloc returns freed memory to the system (glibc's allocator keeps a
/// long-running controller at the peak of its largest reconcile).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    plumbline::cli::main()
}
