//! The one bounded YAML loader: every YAML text Plumbline reads — manifests
//! ([`crate::render`]), `plumbline.yaml` with its policy settings
//! ([`crate::spec`]), policy test suites and their fixture files — is read
//! through here. No IO.
//!
//! YAML aliases let a few hundred bytes expand to gigabytes ("billion
//! laughs"). Every text therefore has an *expansion budget*, 32 × its size
//! and at least 1 MiB, charged for every node and every byte of every
//! scalar as the deserializer produces them, aliases included; past it,
//! parsing stops with an error naming the line. This stops a bomb long
//! before serde_yaml's own alias-repetition limit would.
//!
//! Documents are read as JSON values, with scalar mapping keys turned into
//! strings like Kubernetes does; merge keys (`<<`), custom tags and
//! duplicate keys are refused. [`from_str`] reads typed configuration: it
//! measures the text against the budget first, then deserializes it with
//! serde_yaml, so errors keep their line and column.

use std::cell::Cell;
use std::fmt;

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor,
};
use serde_json::{Map, Number, Value};

/// How many times its own size a YAML text may expand to.
pub const EXPANSION_FACTOR: usize = 32;

/// The smallest expansion budget, so that small texts with a few aliases
/// are never refused.
pub const MIN_EXPANSION_BYTES: usize = 1 << 20;

/// Deserialize one YAML document (typed configuration) within the
/// expansion budget of `text`. Errors are serde_yaml's, with a location.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, serde_yaml::Error> {
    let budget = Budget::for_text(text);
    for document in serde_yaml::Deserializer::from_str(text) {
        ValueSeed(&budget).deserialize(document)?;
    }
    serde_yaml::from_str(text)
}

/// The documents of multi-document YAML `text` as JSON values, empty
/// documents skipped, all within one expansion budget.
pub fn documents(text: &str) -> Result<Vec<Value>, serde_yaml::Error> {
    let budget = Budget::for_text(text);
    let mut values = Vec::new();
    for document in serde_yaml::Deserializer::from_str(text) {
        let value = ValueSeed(&budget).deserialize(document)?;
        if !value.is_null() {
            values.push(value);
        }
    }
    Ok(values)
}

/// Bytes a text may still expand to.
pub(crate) struct Budget {
    limit: usize,
    left: Cell<usize>,
}

impl Budget {
    /// The budget of `text`: [`EXPANSION_FACTOR`] × its size, at least
    /// [`MIN_EXPANSION_BYTES`].
    pub(crate) fn for_text(text: &str) -> Self {
        let limit = text
            .len()
            .saturating_mul(EXPANSION_FACTOR)
            .max(MIN_EXPANSION_BYTES);
        Self {
            limit,
            left: Cell::new(limit),
        }
    }

    /// Charge `n` bytes (plus a node's overhead).
    fn charge<E: de::Error>(&self, n: usize) -> Result<(), E> {
        let cost = n + 16;
        match self.left.get().checked_sub(cost) {
            Some(left) => {
                self.left.set(left);
                Ok(())
            }
            None => Err(E::custom(format_args!(
                "document expands to more than {} bytes (too many aliases?)",
                self.limit
            ))),
        }
    }
}

/// Builds a [`Value`] directly from a YAML deserializer, charging the budget
/// and turning scalar mapping keys into strings like Kubernetes does.
pub(crate) struct ValueSeed<'a>(pub(crate) &'a Budget);

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a YAML value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        self.0.charge(0)?;
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        self.0.charge(0)?;
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        self.0.charge(0)?;
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        self.0.charge(0)?;
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom(format_args!("{v} cannot be represented in JSON")))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        self.0.charge(v.len())?;
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        self.0.charge(v.len())?;
        Ok(Value::String(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.0.charge(0)?;
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        self.visit_unit()
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.0.charge(0)?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(ValueSeed(self.0))? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.0.charge(0)?;
        let mut object = Map::new();
        while let Some(key) = map.next_key_seed(KeySeed(self.0))? {
            if key == "<<" {
                return Err(de::Error::custom("YAML merge keys (<<) are not supported"));
            }
            let value = map.next_value_seed(ValueSeed(self.0))?;
            if object.insert(key.clone(), value).is_some() {
                return Err(de::Error::custom(format_args!("duplicate key {key:?}")));
            }
        }
        Ok(Value::Object(object))
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, _: A) -> Result<Value, A::Error> {
        Err(de::Error::custom("YAML tags (!tag) are not supported"))
    }
}

/// Mapping keys: scalars, converted to strings.
struct KeySeed<'a>(&'a Budget);

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = String;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a scalar mapping key")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
        self.visit_string(v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        self.visit_string(v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        self.visit_string(v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        self.visit_string(v.to_string())
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        self.visit_string(v.to_owned())
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        self.0.charge(v.len())?;
        Ok(v)
    }
    fn visit_unit<E: de::Error>(self) -> Result<String, E> {
        self.visit_string("null".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 64 KiB string anchored once and referenced `refs` times.
    fn bomb(refs: usize) -> String {
        let big = "x".repeat(64 << 10);
        format!("a: &big {big}\nb: [{}]\n", vec!["*big"; refs].join(", "))
    }

    #[test]
    fn alias_bombs_are_refused_with_a_location() {
        // 64 MiB from 70 KB: over the budget of 32 × 70 KB.
        let text = bomb(1000);
        let e = from_str::<serde_json::Value>(&text).unwrap_err();
        assert!(e.to_string().contains("expands to more than"), "{e}");
        assert!(e.location().is_some(), "{e}");
        let e = documents(&format!("a: 1\n---\n{text}")).unwrap_err();
        assert!(e.to_string().contains("expands to more than"), "{e}");
    }

    #[test]
    fn ordinary_aliases_and_documents_are_read() {
        let value: serde_json::Value = from_str("a: &x [1, 2]\nb: *x\n").unwrap();
        assert_eq!(value["b"], serde_json::json!([1, 2]));
        let docs = documents("a: 1\n---\n---\nb: {80: x}\n").unwrap();
        assert_eq!(
            docs,
            [
                serde_json::json!({"a": 1}),
                serde_json::json!({"b": {"80": "x"}})
            ]
        );
    }
}
