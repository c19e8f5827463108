//! Build a policy project (or every policy of a guest workspace) and print
//! what was built and how long it took.
//!
//! ```text
//! cargo run -p plumbline-policy-build --example build_policy -- tests/guests/all-roles
//! cargo run -p plumbline-policy-build --example build_policy -- policies
//! ```
//!
//! The guest target directory is `plumbline_policy_build::default_target_dir()`
//! (set `PLUMBLINE_GUEST_TARGET_DIR` to measure a cold build in an empty one).

use std::path::PathBuf;
use std::time::Instant;

fn main() {
    let Some(project) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: build_policy <policy project directory>");
        std::process::exit(2);
    };
    let options = plumbline_policy_build::BuildOptions {
        show_output: true,
        ..Default::default()
    };
    let started = Instant::now();
    match plumbline_policy_build::build_all(&project, &options) {
        Ok(all) => {
            for built in all {
                println!("name:          {}", built.name);
                println!("toolchain:     {}", built.toolchain);
                println!("component:     {}", built.component_path.display());
                println!("size:          {} bytes", built.size);
                println!("sha256:        {}", built.sha256);
                println!("componentized: {}", built.componentized);
                println!("imports:       {}", built.interfaces.imports.join(", "));
                println!("exports:       {}", built.interfaces.exports.join(", "));
                println!();
            }
            println!("elapsed:       {:.2?}", started.elapsed());
        }
        Err(error) => {
            eprintln!("error: {error}");
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            std::process::exit(1);
        }
    }
}
