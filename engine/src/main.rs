//! The `plumbline` command-line tool; see [`plumbline::cli`].

fn main() -> std::process::ExitCode {
    plumbline::cli::main()
}
