//! Strict reading of a policy's settings (JSON): [`Settings`] refuses a
//! value that is not an object, unknown keys and values of the wrong type,
//! with messages that name the setting (`settings.labels[1] must be a
//! string, found a number`). No IO.

use std::collections::BTreeMap;
use std::fmt;

use plumbline_sdk::serde_json::{Map, Value};

/// Why settings were refused. The message is shown to the operator as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The settings (or a nested entry) are not a JSON object.
    NotAnObject {
        /// Where, e.g. `settings` or `settings.workloads[0]`.
        at: String,
        /// The JSON type found.
        found: &'static str,
    },
    /// A key the policy does not know.
    UnknownKey {
        /// Where the key was found.
        at: String,
        /// The key.
        key: String,
        /// The keys that are allowed there.
        known: Vec<&'static str>,
    },
    /// A required setting is missing.
    Missing {
        /// The full name of the setting.
        at: String,
    },
    /// A value has the wrong JSON type.
    WrongType {
        /// The full name of the setting.
        at: String,
        /// What was expected, e.g. `a list of strings`.
        expected: &'static str,
        /// The JSON type found.
        found: &'static str,
    },
    /// A value has the right type but is not acceptable.
    Invalid {
        /// The full name of the setting.
        at: String,
        /// Why it is refused.
        reason: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotAnObject { at, found } => write!(f, "{at} must be an object, found {found}"),
            Error::UnknownKey { at, key, known } => write!(
                f,
                "unknown setting `{key}` in {at} (known: {})",
                known.join(", ")
            ),
            Error::Missing { at } => write!(f, "{at} is required"),
            Error::WrongType {
                at,
                expected,
                found,
            } => write!(f, "{at} must be {expected}, found {found}"),
            Error::Invalid { at, reason } => write!(f, "{at} {reason}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<Error> for String {
    fn from(error: Error) -> Self {
        error.to_string()
    }
}

/// Result of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A settings object (or a nested object inside one) whose keys were
/// checked against the known ones.
#[derive(Debug, Clone, Copy)]
pub struct Settings<'a> {
    at: &'a str,
    map: &'a Map<String, Value>,
}

impl<'a> Settings<'a> {
    /// Check the top-level settings: `value` must be an object whose keys
    /// are all in `known`. `null` reads as `{}`.
    pub fn new(value: &'a Value, known: &[&'static str]) -> Result<Self> {
        Self::nested("settings", value, known)
    }

    /// Check a nested object named `at` (e.g. `settings.workloads[0]`),
    /// as [`Settings::new`] does; `null` is refused here.
    pub fn nested(at: &'a str, value: &'a Value, known: &[&'static str]) -> Result<Self> {
        static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
        let map = match value {
            Value::Object(map) => map,
            Value::Null if at == "settings" => EMPTY.get_or_init(Map::new),
            other => {
                return Err(Error::NotAnObject {
                    at: at.to_owned(),
                    found: json_type(other),
                })
            }
        };
        if let Some(key) = map.keys().find(|key| !known.contains(&key.as_str())) {
            return Err(Error::UnknownKey {
                at: at.to_owned(),
                key: key.clone(),
                known: known.to_vec(),
            });
        }
        Ok(Self { at, map })
    }

    /// The full name of a key, e.g. `settings.labels`.
    pub fn name(&self, key: &str) -> String {
        format!("{}.{key}", self.at)
    }

    /// The raw value of a key, if present and not `null`.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|value| !value.is_null())
    }

    /// A required value.
    pub fn require(&self, key: &str) -> Result<&'a Value> {
        self.get(key)
            .ok_or_else(|| Error::Missing { at: self.name(key) })
    }

    /// A boolean, `default` when absent.
    pub fn bool(&self, key: &str, default: bool) -> Result<bool> {
        match self.get(key) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(self.wrong_type(key, "true or false", other)),
        }
    }

    /// A string, if present.
    pub fn string(&self, key: &str) -> Result<Option<&'a str>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.wrong_type(key, "a string", other)),
        }
    }

    /// A list of strings, if present.
    pub fn string_list(&self, key: &str) -> Result<Option<Vec<&'a str>>> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        let Value::Array(items) = value else {
            return Err(self.wrong_type(key, "a list of strings", value));
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok(s.as_str()),
                other => Err(Error::WrongType {
                    at: format!("{}[{i}]", self.name(key)),
                    expected: "a string",
                    found: json_type(other),
                }),
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    /// An object whose values are all strings, if present.
    pub fn string_map(&self, key: &str) -> Result<Option<BTreeMap<&'a str, &'a str>>> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        let Value::Object(entries) = value else {
            return Err(self.wrong_type(key, "an object of strings", value));
        };
        entries
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.as_str(), s.as_str())),
                other => Err(Error::WrongType {
                    at: crate::path::child(&self.name(key), k),
                    expected: "a string",
                    found: json_type(other),
                }),
            })
            .collect::<Result<BTreeMap<_, _>>>()
            .map(Some)
    }

    /// A list of values, if present (each to be checked by the caller, e.g.
    /// with [`Settings::nested`] and the name from [`Settings::item_name`]).
    pub fn list(&self, key: &str) -> Result<Option<&'a [Value]>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => Ok(Some(items)),
            Some(other) => Err(self.wrong_type(key, "a list", other)),
        }
    }

    /// The full name of one item of a list, e.g. `settings.workloads[0]`.
    pub fn item_name(&self, key: &str, index: usize) -> String {
        format!("{}[{index}]", self.name(key))
    }

    /// An [`Error::Invalid`] about a key.
    pub fn invalid(&self, key: &str, reason: impl Into<String>) -> Error {
        Error::Invalid {
            at: self.name(key),
            reason: reason.into(),
        }
    }

    fn wrong_type(&self, key: &str, expected: &'static str, found: &Value) -> Error {
        Error::WrongType {
            at: self.name(key),
            expected,
            found: json_type(found),
        }
    }
}

/// The JSON type name of a value, for messages.
pub fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plumbline_sdk::serde_json::json;

    #[test]
    fn refuses_unknown_keys_naming_the_known_ones() {
        let value = json!({"lables": ["a"]});
        let err = Settings::new(&value, &["labels", "kinds"]).expect_err("unknown key");
        assert_eq!(
            err.to_string(),
            "unknown setting `lables` in settings (known: labels, kinds)"
        );
    }

    #[test]
    fn names_the_offending_item() {
        let value = json!({"labels": ["a", 5], "m": {"a.b": 1}});
        let settings = Settings::new(&value, &["labels", "m"]).expect("keys are known");
        assert_eq!(
            settings
                .string_list("labels")
                .expect_err("a number")
                .to_string(),
            "settings.labels[1] must be a string, found a number"
        );
        assert_eq!(
            settings.string_map("m").expect_err("a number").to_string(),
            "settings.m[\"a.b\"] must be a string, found a number"
        );
    }

    #[test]
    fn null_settings_read_as_empty_and_other_types_are_refused() {
        let settings = Settings::new(&Value::Null, &["x"]).expect("null is {}");
        assert!(!settings.bool("x", false).expect("absent"));
        let err = Settings::new(&json!([1]), &["x"]).expect_err("a list");
        assert_eq!(err.to_string(), "settings must be an object, found a list");
    }
}
