//! The components built by this crate's build script are real components
//! with exactly the exports their source declares and no imports beyond the
//! contract's `host` (and `types`, an instance of type definitions only,
//! which every component whose exports use the shared types imports): no
//! WASI.

use plumbline_policy_build::inspect::{interfaces, Interfaces};

const HOST: &str = "plumbline:policy/host@0.1.0";
const TYPES: &str = "plumbline:policy/types@0.1.0";
const METADATA: &str = "plumbline:policy/metadata@0.1.0";
const VALIDATOR: &str = "plumbline:policy/validator@0.1.0";
const TRANSFORMER: &str = "plumbline:policy/transformer@0.1.0";
const REMEDIATOR: &str = "plumbline:policy/remediator@0.1.0";

fn interfaces_of(path: &str) -> Interfaces {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    interfaces(&bytes).unwrap_or_else(|e| panic!("inspecting {path}: {e}"))
}

#[test]
fn the_all_roles_guest_exports_every_role() {
    let found = interfaces_of(policy_artifacts::TEST_ALL_ROLES);
    assert_eq!(found.imports, [TYPES, HOST]);
    let mut exports = found.exports;
    exports.sort();
    assert_eq!(exports, [METADATA, REMEDIATOR, TRANSFORMER, VALIDATOR]);
}

#[test]
fn the_validator_only_guest_exports_only_metadata_and_validator() {
    let found = interfaces_of(policy_artifacts::TEST_VALIDATOR_ONLY);
    assert_eq!(found.imports, [TYPES, HOST]);
    let mut exports = found.exports;
    exports.sort();
    assert_eq!(exports, [METADATA, VALIDATOR]);
}

#[test]
fn every_component_imports_only_the_contract_and_exports_metadata() {
    for artifact in policy_artifacts::ALL {
        let found = interfaces_of(artifact.path);
        assert!(
            found
                .imports
                .iter()
                .all(|import| import == HOST || import == TYPES),
            "{} imports {:?}",
            artifact.name,
            found.imports
        );
        assert!(
            found.exports.iter().any(|export| export == METADATA),
            "{} does not export metadata: {:?}",
            artifact.name,
            found.exports
        );
        assert!(
            found.exports.len() >= 2,
            "{} exports no role: {:?}",
            artifact.name,
            found.exports
        );
    }
}

#[test]
fn foreach_policy_visits_every_component_once() {
    let mut visited = Vec::new();
    macro_rules! visit {
        ($name:ident, $path:expr) => {
            visited.push((stringify!($name).replace('_', "-"), $path));
        };
    }
    policy_artifacts::foreach_policy!(visit);
    let expected: Vec<(String, &str)> = policy_artifacts::ALL
        .iter()
        .map(|a| (a.name.to_owned(), a.path))
        .collect();
    assert_eq!(visited, expected);
}
