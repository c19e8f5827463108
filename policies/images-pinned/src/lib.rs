//! `images-pinned`: a validator. Every container, init container and
//! ephemeral container of a workload (Pod, Deployment, StatefulSet,
//! DaemonSet, ReplicaSet, ReplicationController, Job, CronJob, PodTemplate)
//! must name its image by a tag other than `latest` or by a digest; with
//! `requireDigest`, by a digest. With `allowedRegistries`, the image must
//! come from one of them (Docker's normalisation applies: `nginx` is
//! `docker.io/library/nginx`).
//!
//! Violations are errors at the image's path, e.g.
//! `spec.template.spec.initContainers[0].image`.

use plumbline_policies_common::image::{self, ImageRef};
use plumbline_policies_common::settings::{self, Settings};
use plumbline_sdk::serde_json::{json, Value};
use plumbline_sdk::{
    Container, ContainerKind, Context, Metadata, Object, PolicyInfo, Severity, Validator, Violation,
};

/// The policy.
struct ImagesPinned;

/// The settings, checked.
struct Config {
    /// Every image must carry a digest.
    require_digest: bool,
    /// Normalised registry (or registry/path) prefixes images may come
    /// from; `None` allows any.
    allowed_registries: Option<Vec<String>>,
}

impl Config {
    fn parse(value: &Value) -> settings::Result<Self> {
        let s = Settings::new(value, &["requireDigest", "allowedRegistries"])?;
        let allowed_registries = match s.string_list("allowedRegistries")? {
            None => None,
            Some(list) if list.is_empty() => {
                return Err(s.invalid(
                    "allowedRegistries",
                    "must not be empty (leave it out to allow every registry)",
                ))
            }
            Some(list) => Some(
                list.iter()
                    .enumerate()
                    .map(|(i, entry)| {
                        image::normalise_prefix(entry).map_err(|reason| settings::Error::Invalid {
                            at: s.item_name("allowedRegistries", i),
                            reason,
                        })
                    })
                    .collect::<settings::Result<Vec<_>>>()?,
            ),
        };
        Ok(Self {
            require_digest: s.bool("requireDigest", false)?,
            allowed_registries,
        })
    }

    /// The problems with one container's image, as messages.
    fn problems(&self, container: &Container<'_>) -> Vec<String> {
        let who = format!("{} `{}`", describe(container.kind()), container.name());
        let text = match container.image() {
            Some(text) if !text.is_empty() => text,
            _ => return vec![format!("{who} has no image")],
        };
        let image = match ImageRef::parse(text) {
            Ok(image) => image,
            Err(e) => return vec![format!("{who} has an invalid image `{text}`: {e}")],
        };
        let mut problems = Vec::new();
        if image.digest.is_none() {
            if self.require_digest {
                problems.push(format!(
                    "{who} image `{text}` is not pinned by a digest (requireDigest is set)"
                ));
            } else {
                match image.tag.as_deref() {
                    None => problems.push(format!(
                        "{who} image `{text}` has no tag, which means `latest`; pin a version"
                    )),
                    Some("latest") => problems.push(format!(
                        "{who} image `{text}` uses the `latest` tag; pin a version"
                    )),
                    Some(_) => {}
                }
            }
        }
        if let Some(allowed) = &self.allowed_registries {
            if !allowed.iter().any(|prefix| image.is_under(prefix)) {
                problems.push(format!(
                    "{who} image `{text}` ({}) is not from an allowed registry ({})",
                    image.name(),
                    allowed.join(", ")
                ));
            }
        }
        problems
    }
}

/// How a message names a container of each list.
fn describe(kind: ContainerKind) -> &'static str {
    match kind {
        ContainerKind::Container => "container",
        ContainerKind::Init => "init container",
        ContainerKind::Ephemeral => "ephemeral container",
    }
}

impl Metadata for ImagesPinned {
    fn info() -> PolicyInfo {
        PolicyInfo::new(
            "images-pinned",
            env!("CARGO_PKG_VERSION"),
            "Container images must be pinned (no `latest`, no tag-less images; optionally only \
             digests) and may be limited to allowed registries.",
        )
        .with_settings_schema(json!({
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "requireDigest": {"type": "boolean", "default": false,
                                  "description": "Every image must carry a digest (@sha256:...)."},
                "allowedRegistries": {"type": "array", "items": {"type": "string"}, "minItems": 1,
                                      "description": "Registries (or registry/path prefixes) images may come from."}
            }
        }))
    }

    fn check_settings(settings: &Value) -> Result<(), String> {
        Config::parse(settings).map(drop).map_err(String::from)
    }
}

impl Validator for ImagesPinned {
    fn validate(objects: &[Object], ctx: &Context) -> Vec<Violation> {
        let config = match Config::parse(&ctx.settings()) {
            Ok(config) => config,
            Err(e) => return vec![Violation::about_set(e.to_string(), Severity::Error)],
        };
        let mut violations = Vec::new();
        for object in objects {
            for container in object.containers() {
                for problem in config.problems(&container) {
                    violations.push(object.violation(
                        container.field_path("image"),
                        problem,
                        Severity::Error,
                    ));
                }
            }
        }
        violations
    }
}

plumbline_sdk::export_policy!(ImagesPinned, validator);
