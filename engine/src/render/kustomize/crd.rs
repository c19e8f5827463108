//! The schemas of custom resources, from CustomResourceDefinitions in the
//! same build, for strategic-merge patches. No IO.

use serde_json::Value;

use super::schema::Schema;
use crate::render::Manifest;

/// The `openAPIV3Schema` of `object`'s version in its
/// CustomResourceDefinition among `objects` (`apiextensions.k8s.io/v1`,
/// or the single `validation` schema of `v1beta1`), if the build has it
/// and the kind is not a built-in one.
pub(super) fn schema_for(objects: &[Manifest], object: &Value) -> Option<Value> {
    let api_version = s(object, "/apiVersion");
    let kind = s(object, "/kind");
    if Schema::builtin().root(api_version, kind).is_some() {
        return None;
    }
    let (group, version) = api_version.rsplit_once('/')?;
    let crd = objects.iter().map(|m| &m.object).find(|crd| {
        s(crd, "/kind") == "CustomResourceDefinition"
            && s(crd, "/apiVersion").starts_with("apiextensions.k8s.io/")
            && s(crd, "/spec/group") == group
            && s(crd, "/spec/names/kind") == kind
    })?;
    let versioned = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|v| s(v, "/name") == version)
        .and_then(|v| v.pointer("/schema/openAPIV3Schema"));
    versioned
        .or_else(|| crd.pointer("/spec/validation/openAPIV3Schema"))
        .cloned()
}

/// The string at `pointer` in `v` (`""` if none).
fn s<'v>(v: &'v Value, pointer: &str) -> &'v str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}
