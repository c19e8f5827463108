//! `test-validator-only`: a test policy that exports only `metadata` and
//! `validator`, so the engine's tests can check that a component with a
//! subset of roles loads and that the missing roles are reported as such.
//!
//! It rejects container images without an explicit tag or digest, or tagged
//! `latest`: one error per container, at the container's `image` path
//! (`spec.template.spec.containers[0].image`, ...), with the message
//! `container <name> image <image> has no pinned tag`. Each call logs one
//! `info` line, `checked <n> containers in <m> objects`.

use plumbline_sdk::{info, Context, Metadata, Object, PolicyInfo, Severity, Validator, Violation};

/// The policy.
struct PinnedImages;

impl Metadata for PinnedImages {
    fn info() -> PolicyInfo {
        PolicyInfo::new(
            "test-validator-only",
            "0.1.0",
            "Test policy: container images must have a tag other than latest, or a digest.",
        )
    }
}

impl Validator for PinnedImages {
    fn validate(objects: &[Object], _ctx: &Context) -> Vec<Violation> {
        let mut violations = Vec::new();
        let mut checked = 0;
        for object in objects {
            for container in object.containers() {
                checked += 1;
                let image = container.image().unwrap_or("");
                if !is_pinned(image) {
                    violations.push(object.violation(
                        container.field_path("image"),
                        format!(
                            "container {} image {image} has no pinned tag",
                            container.name()
                        ),
                        Severity::Error,
                    ));
                }
            }
        }
        info!("checked {checked} containers in {} objects", objects.len());
        violations
    }
}

/// Whether an image reference names a digest or a tag other than `latest`.
fn is_pinned(image: &str) -> bool {
    if image.contains('@') {
        return true;
    }
    // The tag follows the last `:` after the last `/` (a `:` before it is a
    // registry port).
    let last_part = image.rsplit('/').next().unwrap_or(image);
    match last_part.rsplit_once(':') {
        Some((_, tag)) => !tag.is_empty() && tag != "latest",
        None => false,
    }
}

plumbline_sdk::export_policy!(PinnedImages, validator);
