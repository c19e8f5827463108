//! The `plumbline` command-line tool; see [`plumbline::cli`].

#[global_allocator]
static ALLOCATOR: plumbline::allocator::Allocator = plumbline::allocator::Allocator;

fn main() -> std::process::ExitCode {
    plumbline::allocator::return_freed_memory_at_once();
    plumbline::cli::main()
}
