//! Paths of policy components built from source for the host's tests.
//!
//! The build script builds every test guest in `tests/guests/*/` and every
//! standard policy in `policies/*/` (Rust, for `wasm32-unknown-unknown`)
//! with `plumbline-policy-build`. For each it defines a constant named
//! after the package (`test-all-roles` → [`TEST_ALL_ROLES`]) holding the
//! absolute path of the component, lists them all in [`ALL`], and defines
//! `foreach_policy!`, which calls a macro once per component:
//!
//! ```
//! macro_rules! assert_exists {
//!     ($name:ident, $path:expr) => {
//!         assert!(std::path::Path::new($path).is_file(), "{}", stringify!($name));
//!     };
//! }
//! policy_artifacts::foreach_policy!(assert_exists);
//! ```
//!
//! Building needs a wasm toolchain (see DEVELOPERS.md); without one the
//! build of this crate fails and says what to install.

/// One built component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Artifact {
    /// The package name, e.g. `test-all-roles`.
    pub name: &'static str,
    /// Absolute path of the component.
    pub path: &'static str,
    /// Source directory, relative to the repository root.
    pub source: &'static str,
    /// SHA-256 of the component when it was built, lowercase hex.
    pub sha256: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/artifacts.rs"));
