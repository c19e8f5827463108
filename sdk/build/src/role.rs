//! The roles a policy component can export, as projects in languages
//! without a Cargo manifest declare them (`pyproject.toml`,
//! `package.json`). Pure data; no IO.

/// A role of the contract (`wit/policy.wit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Reports violations (`validator`).
    Validator,
    /// Rewrites objects (`transformer`).
    Transformer,
    /// Decides about drift (`remediator`).
    Remediator,
    /// Judges the health of live objects (`health`).
    Health,
}

impl Role {
    /// The role's name in project files and in the WIT contract.
    pub fn name(self) -> &'static str {
        match self {
            Role::Validator => "validator",
            Role::Transformer => "transformer",
            Role::Remediator => "remediator",
            Role::Health => "health",
        }
    }

    /// The role with this name, if any.
    pub fn parse(name: &str) -> Option<Self> {
        [
            Role::Validator,
            Role::Transformer,
            Role::Remediator,
            Role::Health,
        ]
        .into_iter()
        .find(|role| role.name() == name)
    }
}
