//! `image-mirror`: a transformer. Rewrites the images of every container,
//! init container and ephemeral container of workloads to pull from
//! mirrors. `mirrors` maps a registry (or registry/path prefix) to the
//! mirror prefix that replaces it; image names are normalised the way
//! Docker does it first, so with `{"docker.io": "mirror.example.com/hub"}`
//! the image `nginx:1.27` becomes `mirror.example.com/hub/library/nginx:1.27`.
//! Tags and digests are kept; the longest matching prefix wins. Images that
//! match no prefix are left as written, and so are images that cannot be
//! parsed (with a warning in the policy log: a validator such as
//! `images-pinned` reports them).

use plumbline_policies_common::image::{normalise_prefix, ImageRef};
use plumbline_policies_common::settings::{self, Settings};
use plumbline_sdk::serde_json::{json, Value};
use plumbline_sdk::{Context, Metadata, Object, PolicyInfo, Transformer};

/// The policy.
struct ImageMirror;

/// The settings, checked: `(normalised prefix, mirror)` pairs, longest
/// prefix first.
struct Config {
    mirrors: Vec<(String, String)>,
}

impl Config {
    fn parse(value: &Value) -> settings::Result<Self> {
        let s = Settings::new(value, &["mirrors"])?;
        s.require("mirrors")?;
        let entries = s.string_map("mirrors")?.unwrap_or_default();
        if entries.is_empty() {
            return Err(s.invalid("mirrors", "must map at least one registry to a mirror"));
        }
        let mut mirrors: Vec<(String, String)> = Vec::new();
        for (from, to) in entries {
            let at = plumbline_policies_common::path::child(&s.name("mirrors"), from);
            let invalid = |reason: String| settings::Error::Invalid {
                at: at.clone(),
                reason,
            };
            let from_normalised =
                normalise_prefix(from).map_err(|r| invalid(format!("key {r}")))?;
            let to_normalised = normalise_prefix(to).map_err(|r| invalid(format!("mirror {r}")))?;
            if let Some((other, _)) = mirrors.iter().find(|(f, _)| *f == from_normalised) {
                return Err(invalid(format!(
                    "names the same registry as another key (both mean `{other}`)"
                )));
            }
            mirrors.push((from_normalised, to_normalised));
        }
        for (from, to) in &mirrors {
            if let Some((key, _)) = mirrors.iter().find(|(key, _)| is_at_or_under(to, key)) {
                return Err(settings::Error::Invalid {
                    at: s.name("mirrors"),
                    reason: format!(
                        "maps `{from}` to `{to}`, which is itself under `{key}`: images would be \
                         rewritten again on every run"
                    ),
                });
            }
        }
        mirrors.sort_by_key(|(from, _)| std::cmp::Reverse(from.len()));
        Ok(Self { mirrors })
    }

    /// The mirrored form of an image, or `None` to leave it as it is.
    fn rewrite(&self, image: &str) -> Option<String> {
        let parsed = match ImageRef::parse(image) {
            Ok(parsed) => parsed,
            Err(e) => {
                plumbline_sdk::warn!("image `{image}` is left as it is: {e}");
                return None;
            }
        };
        self.mirrors
            .iter()
            .find_map(|(from, to)| parsed.with_prefix_replaced(from, to))
    }
}

/// Whether a normalised name or prefix is `prefix` or lies under it.
fn is_at_or_under(name: &str, prefix: &str) -> bool {
    name.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

impl Metadata for ImageMirror {
    fn info() -> PolicyInfo {
        PolicyInfo::new(
            "image-mirror",
            env!("CARGO_PKG_VERSION"),
            "Rewrites container images to pull from mirror registries (Docker's name \
             normalisation applies).",
        )
        .with_settings_schema(json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["mirrors"],
            "properties": {
                "mirrors": {"type": "object", "minProperties": 1,
                    "additionalProperties": {"type": "string"},
                    "description": "Registry (or registry/path prefix) -> mirror prefix."}
            }
        }))
    }

    fn check_settings(settings: &Value) -> Result<(), String> {
        Config::parse(settings).map(drop).map_err(String::from)
    }
}

impl Transformer for ImageMirror {
    fn transform(mut objects: Vec<Object>, ctx: &Context) -> Result<Vec<Object>, String> {
        let config = Config::parse(&ctx.settings()).map_err(String::from)?;
        for object in &mut objects {
            object.for_each_container_mut(|_, _, fields| {
                let Some(image) = fields.get("image").and_then(Value::as_str) else {
                    return;
                };
                if let Some(mirrored) = config.rewrite(image) {
                    fields.insert("image".into(), Value::String(mirrored));
                }
            });
        }
        Ok(objects)
    }
}

plumbline_sdk::export_policy!(ImageMirror, transformer);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_without_metadata_are_rewritten_without_trapping() {
        let objects = vec![
            Object::parse(r#"{"kind":"Pod","spec":{"containers":[{"image":"nginx:1"}]}}"#)
                .expect("object"),
            Object::parse(r#"{}"#).expect("object"),
        ];
        let settings = json!({"mirrors": {"docker.io": "m.example.com/hub"}});
        let out = ImageMirror::transform(objects, &Context::with_settings(&settings))
            .expect("transformed");
        let values: Vec<Value> = out.into_iter().map(Object::into_value).collect();
        assert_eq!(
            values,
            vec![
                json!({"kind": "Pod", "spec": {"containers": [{"image": "m.example.com/hub/library/nginx:1"}]}}),
                json!({}),
            ]
        );
    }
}
