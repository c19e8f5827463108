//! The `plumbline` command-line tool; see [`plumbline::cli`].

#[global_allocator]
static ALLOCATOR: plumbline::allocator::Allocator = plumbline::allocator::Allocator;

fn main() -> std::process::ExitCode {
    plumbline::allocator::return_freed_memory_at_once();
    let mut args = std::env::args_os().skip(1);
    // The compile child the policy host starts (see docs/sandbox.md).
    if args
        .next()
        .is_some_and(|first| first == plumbline::policy::COMPILE_SUBCOMMAND)
    {
        return plumbline::policy::compiler_main(args);
    }
    plumbline::cli::main()
}
