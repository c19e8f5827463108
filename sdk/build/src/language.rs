//! Which language a policy project is written in, decided from the files at
//! its root. Reads only the directory listing.

use std::fmt;
use std::path::{Path, PathBuf};

/// A language a policy can be written in.
///
/// Each is built by its own module of this crate (see [`crate::build_all`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Language {
    /// A Cargo project (`Cargo.toml`), built for `wasm32-unknown-unknown`.
    Rust,
    /// A Python project (`pyproject.toml`, `app.py`), for componentize-py.
    Python,
    /// A JavaScript project (`package.json`), for componentize-qjs.
    JavaScript,
    /// A C project (`Makefile`, `CMakeLists.txt`, `*.c`), built with clang and
    /// wasi-libc (see [`crate::c`]).
    C,
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Language::Rust => "Rust",
            Language::Python => "Python",
            Language::JavaScript => "JavaScript",
            Language::C => "C",
        })
    }
}

/// Why the language of a project could not be decided.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The project directory could not be listed.
    #[error("cannot read policy project directory {}", dir.display())]
    ReadDir {
        /// The project directory.
        dir: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// No file at the root marks a known kind of project.
    #[error(
        "{} is not a policy project: expected Cargo.toml (Rust), pyproject.toml or app.py \
         (Python), package.json (JavaScript), or Makefile, CMakeLists.txt or *.c (C)",
        dir.display()
    )]
    Unrecognised {
        /// The project directory.
        dir: PathBuf,
    },
}

/// Result of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Decide the language of the project in `dir` from the files at its root
/// (first match wins: Cargo.toml, then Python, JavaScript, C markers).
pub fn detect(dir: &Path) -> Result<Language> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::ReadDir {
        dir: dir.to_owned(),
        source,
    })?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| Error::ReadDir {
            dir: dir.to_owned(),
            source,
        })?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    let has = |name: &str| names.iter().any(|n| n == name);
    let language = if has("Cargo.toml") {
        Language::Rust
    } else if has("pyproject.toml") || has("app.py") {
        Language::Python
    } else if has("package.json") {
        Language::JavaScript
    } else if has("Makefile") || has("CMakeLists.txt") || names.iter().any(|n| n.ends_with(".c")) {
        Language::C
    } else {
        return Err(Error::Unrecognised {
            dir: dir.to_owned(),
        });
    };
    Ok(language)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project_with(files: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        for file in files {
            std::fs::write(dir.path().join(file), "").expect("write marker");
        }
        dir
    }

    #[test]
    fn detects_each_language_by_its_marker_file() {
        let cases: [(&[&str], Language); 5] = [
            (&["Cargo.toml", "package.json"], Language::Rust),
            (&["pyproject.toml"], Language::Python),
            (&["app.py"], Language::Python),
            (&["package.json"], Language::JavaScript),
            (&["policy.c"], Language::C),
        ];
        for (files, expected) in cases {
            let dir = project_with(files);
            assert_eq!(detect(dir.path()).expect("detected"), expected, "{files:?}");
        }
    }

    #[test]
    fn names_the_directory_when_nothing_matches() {
        let dir = project_with(&["README.md"]);
        let err = detect(dir.path()).expect_err("no marker");
        assert!(matches!(err, Error::Unrecognised { .. }));
        assert!(err.to_string().contains(&dir.path().display().to_string()));
    }

    #[test]
    fn reports_a_missing_directory() {
        let err = detect(Path::new("/nonexistent/plumbline/policy")).expect_err("missing");
        assert!(matches!(err, Error::ReadDir { .. }), "{err}");
    }
}
