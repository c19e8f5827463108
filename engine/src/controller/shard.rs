//! Sharding: which sync units this controller replica owns.
//!
//! One cluster can grow past one replica by running several controller
//! Deployments (or StatefulSet pods), each with its own [`Shard`]:
//!
//! - [`Shard::All`]: every sync unit (the default, one replica).
//! - [`Shard::Hash`]: the sync units whose stable hash of
//!   `namespace/name` falls into bucket `index` of `count`. Every sync unit
//!   is owned by exactly one of the shards `0..count`: no overlap, no gap.
//! - [`Shard::Label`]: the sync units carrying the label `key=value`; the
//!   watch itself is narrowed with [`Shard::label_selector`], so a replica
//!   never even receives the others' sync units.
//!
//! Pure: no IO. The hash is FNV-1a (64 bit) over the UTF-8 bytes of
//! `namespace/name`, fixed forever so that replicas of different versions
//! agree during a rolling update.

use std::fmt;
use std::str::FromStr;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// Which sync units a replica reconciles.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Shard {
    /// Every sync unit.
    #[default]
    All,
    /// The sync units whose [`stable_hash`] modulo `count` is `index`.
    Hash {
        /// This replica's bucket, `0..count`.
        index: u32,
        /// The number of buckets (replicas).
        count: u32,
    },
    /// The sync units labelled `key=value`.
    Label {
        /// The label key.
        key: String,
        /// The label value.
        value: String,
    },
}

/// Errors of parsing a shard from its text form.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The text is none of `all`, `hash:INDEX/COUNT`, `label:KEY=VALUE`.
    #[error(
        "shard {0:?}: expected `all`, `hash:INDEX/COUNT` (e.g. hash:0/3) or `label:KEY=VALUE`"
    )]
    Syntax(String),
    /// A hash shard's numbers are not numbers.
    #[error("shard {text:?}: {source}")]
    Number {
        /// The text given.
        text: String,
        /// Why the number did not parse.
        #[source]
        source: std::num::ParseIntError,
    },
    /// A hash shard's index is not below its count (or the count is 0).
    #[error("shard {0:?}: the index must be below the count, and the count at least 1")]
    OutOfRange(String),
    /// A label shard's key or value is empty.
    #[error("shard {0:?}: the label key and value must not be empty")]
    EmptyLabel(String),
}

/// Results of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Shard {
    /// Whether this replica owns the object with this metadata (a sync
    /// unit). Objects without a name are owned by no hash shard.
    pub fn owns(&self, meta: &ObjectMeta) -> bool {
        match self {
            Shard::All => true,
            Shard::Hash { index, count } => {
                let Some(name) = meta.name.as_deref() else {
                    return false;
                };
                let namespace = meta.namespace.as_deref().unwrap_or("");
                stable_hash(namespace, name) % u64::from(*count) == u64::from(*index)
            }
            Shard::Label { key, value } => meta
                .labels
                .as_ref()
                .and_then(|labels| labels.get(key))
                .is_some_and(|v| v == value),
        }
    }

    /// The label selector that narrows the watch of sync units to this
    /// shard, when the shard can be expressed as one (label shards only).
    pub fn label_selector(&self) -> Option<String> {
        match self {
            Shard::Label { key, value } => Some(format!("{key}={value}")),
            Shard::All | Shard::Hash { .. } => None,
        }
    }
}

/// The stable 64-bit FNV-1a hash of `namespace/name`.
pub fn stable_hash(namespace: &str, name: &str) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    namespace
        .bytes()
        .chain(std::iter::once(b'/'))
        .chain(name.bytes())
        .fold(OFFSET, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(PRIME)
        })
}

impl FromStr for Shard {
    type Err = Error;

    /// Parse `all`, `hash:INDEX/COUNT` or `label:KEY=VALUE` (the
    /// `--shard` flag).
    fn from_str(text: &str) -> Result<Self> {
        let syntax = || Error::Syntax(text.to_owned());
        if text == "all" {
            return Ok(Shard::All);
        }
        if let Some(rest) = text.strip_prefix("hash:") {
            let (index, count) = rest.split_once('/').ok_or_else(syntax)?;
            let number = |s: &str| {
                s.trim().parse::<u32>().map_err(|source| Error::Number {
                    text: text.to_owned(),
                    source,
                })
            };
            let (index, count) = (number(index)?, number(count)?);
            if count == 0 || index >= count {
                return Err(Error::OutOfRange(text.to_owned()));
            }
            return Ok(Shard::Hash { index, count });
        }
        if let Some(rest) = text.strip_prefix("label:") {
            let (key, value) = rest.split_once('=').ok_or_else(syntax)?;
            if key.is_empty() || value.is_empty() {
                return Err(Error::EmptyLabel(text.to_owned()));
            }
            return Ok(Shard::Label {
                key: key.to_owned(),
                value: value.to_owned(),
            });
        }
        Err(syntax())
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shard::All => f.write_str("all"),
            Shard::Hash { index, count } => write!(f, "hash:{index}/{count}"),
            Shard::Label { key, value } => write!(f, "label:{key}={value}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(namespace: &str, name: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(namespace.to_owned()),
            ..ObjectMeta::default()
        }
    }

    #[test]
    fn the_hash_is_fnv1a_and_never_changes() {
        // FNV-1a 64 of "a/b"; a change here reshuffles every cluster's
        // sync units between replicas during an upgrade.
        assert_eq!(stable_hash("a", "b"), 0xe620_c319_0468_cf61);
        assert_ne!(stable_hash("a", "b"), stable_hash("b", "a"));
    }

    #[test]
    fn text_forms_round_trip() {
        for text in ["all", "hash:0/3", "hash:2/3", "label:team=payments"] {
            assert_eq!(text.parse::<Shard>().unwrap().to_string(), text);
        }
    }

    #[test]
    fn bad_text_is_refused_with_the_reason() {
        let cases = [
            ("hash:3/3", "below the count"),
            ("hash:0/0", "below the count"),
            ("hash:x/3", "invalid digit"),
            ("hash:1", "expected `all`"),
            ("label:team", "expected `all`"),
            ("label:=a", "must not be empty"),
            ("some", "expected `all`"),
        ];
        for (text, reason) in cases {
            let error = text.parse::<Shard>().unwrap_err().to_string();
            assert!(error.contains(reason), "{text}: {error}");
            assert!(error.contains(text), "{text}: {error}");
        }
    }

    #[test]
    fn label_shards_select_by_label() {
        let shard: Shard = "label:team=a".parse().unwrap();
        let mut owned = meta("ns", "x");
        owned.labels = Some([("team".to_owned(), "a".to_owned())].into());
        let mut other = meta("ns", "y");
        other.labels = Some([("team".to_owned(), "b".to_owned())].into());
        assert!(shard.owns(&owned));
        assert!(!shard.owns(&other));
        assert!(!shard.owns(&meta("ns", "z")));
        assert_eq!(shard.label_selector().as_deref(), Some("team=a"));
        assert_eq!(Shard::All.label_selector(), None);
    }
}
