//! The `plumbline` command-line tool.

fn main() {
    println!("plumbline {}", env!("CARGO_PKG_VERSION"));
}
