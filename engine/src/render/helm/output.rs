//! From the text `helm template` printed to objects, each with its
//! provenance (`chart@version: templates/x.yaml`, from Helm's `# Source:`
//! headers). Hooks no sync runs (tests, delete and rollback hooks) are
//! dropped here. No IO.

use serde_json::Value;

use super::super::{manifests, yaml, Error, Manifest, Origin, RenderOptions};

/// The annotation that makes an object a Helm hook.
pub const HOOK_ANNOTATION: &str = "helm.sh/hook";

/// The annotation by which Helm leaves an object in place when its release
/// stops rendering it; Plumbline's prune does the same.
pub const RESOURCE_POLICY_ANNOTATION: &str = "helm.sh/resource-policy";

/// Helm's `# Source: <chart>/<path>` header, one per document.
const SOURCE_HEADER: &str = "# Source: ";

/// Parse `text` (the output of `helm template` for `chart`, e.g.
/// `podinfo@6.14.1`) into objects. Syntax errors and objects without
/// identity go to `errors`.
pub(super) fn objects(
    chart: &str,
    text: &[u8],
    options: &RenderOptions,
    errors: &mut Vec<Error>,
) -> Vec<Manifest> {
    let limits = RenderOptions {
        max_file_size: u64::MAX,
        ..options.clone()
    };
    let printed = String::from_utf8_lossy(text);
    let headers = source_headers(&printed);
    let mut out = Vec::new();
    let mut per_source: std::collections::HashMap<&str, usize> = Default::default();
    for doc in yaml::parse(chart, text, &limits, errors) {
        if HookEvents::of(&doc.value).never_run() {
            continue;
        }
        let (source, header_line) = headers
            .iter()
            .rev()
            .find(|(_, line)| *line < doc.line)
            .map_or(("", 0), |(source, line)| (source.as_str(), *line));
        let index = per_source.entry(source).or_default();
        *index += 1;
        let origin = Origin {
            file: format!("{chart}: {}", within_chart(source)),
            document: *index,
            line: doc.line - header_line,
        };
        manifests::collect(doc.value, origin, &mut out, errors);
    }
    out
}

/// Every `# Source:` header: the path it names and its 1-based line.
fn source_headers(text: &str) -> Vec<(String, usize)> {
    text.lines()
        .enumerate()
        .filter_map(|(n, line)| Some((line.strip_prefix(SOURCE_HEADER)?.trim().to_owned(), n + 1)))
        .collect()
}

/// `podinfo/templates/x.yaml` → `templates/x.yaml` (the chart is named
/// already); a subchart's file keeps its `charts/<name>/` path.
fn within_chart(source: &str) -> &str {
    source.split_once('/').map_or(source, |(_, rest)| rest)
}

/// When a Helm hook runs, by the events its `helm.sh/hook` lists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HookEvents {
    /// It lists any event at all: it is a hook.
    pub any: bool,
    /// It lists `pre-install` or `pre-upgrade`.
    pub pre: bool,
    /// It lists `post-install` or `post-upgrade`.
    pub post: bool,
}

impl HookEvents {
    /// The events of `object`'s `helm.sh/hook` annotation.
    pub fn of(object: &Value) -> Self {
        let mut events = HookEvents::default();
        for event in hook_events(object) {
            events.any = true;
            match event.as_str() {
                "pre-install" | "pre-upgrade" => events.pre = true,
                "post-install" | "post-upgrade" => events.post = true,
                _ => {}
            }
        }
        events
    }

    /// Whether it is a hook a sync never runs: a test hook (`test`, Helm
    /// 2's `test-success`/`test-failure`) or one that runs only on delete
    /// or rollback. Never applied.
    pub fn never_run(&self) -> bool {
        self.any && !(self.pre || self.post)
    }
}

/// Whether a live object says `helm.sh/resource-policy: keep`: prune
/// leaves it in place and forgets it.
pub fn is_kept_on_prune(object: &Value) -> bool {
    object
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(RESOURCE_POLICY_ANNOTATION))
        .and_then(Value::as_str)
        .is_some_and(|policy| policy.trim().eq_ignore_ascii_case("keep"))
}

/// The hook events an object's `helm.sh/hook` annotation lists.
pub fn hook_events(object: &Value) -> impl Iterator<Item = String> + '_ {
    object
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(HOOK_ANNOTATION))
        .and_then(Value::as_str)
        .into_iter()
        .flat_map(|events| events.split(','))
        .map(|event| event.trim().to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRINTED: &str = "---\n# Source: shop/templates/a.yaml\napiVersion: v1\nkind: ConfigMap\n\
        metadata:\n  name: a\n---\n# Source: shop/templates/a.yaml\napiVersion: v1\nkind: ConfigMap\n\
        metadata:\n  name: b\n---\n# Source: shop/charts/db/templates/s.yaml\napiVersion: v1\n\
        kind: Service\nmetadata:\n  name: db\n---\n# Source: shop/templates/tests/t.yaml\n\
        apiVersion: v1\nkind: Pod\nmetadata:\n  name: t\n  annotations:\n    helm.sh/hook: test\n\
        ---\n# Source: shop/templates/cleanup.yaml\napiVersion: batch/v1\nkind: Job\nmetadata:\n  \
        name: cleanup\n  annotations:\n    helm.sh/hook: pre-delete,post-rollback\n\
        ---\n# Source: shop/templates/migrate.yaml\napiVersion: batch/v1\nkind: Job\nmetadata:\n  \
        name: migrate\n  annotations:\n    helm.sh/hook: pre-delete,pre-upgrade\n";

    #[test]
    fn objects_name_their_chart_template_and_document_and_hooks_no_sync_runs_are_dropped() {
        let mut errors = Vec::new();
        let found = objects(
            "shop@1.0.0",
            PRINTED.as_bytes(),
            &RenderOptions::default(),
            &mut errors,
        );
        assert!(errors.is_empty(), "{errors:?}");
        let origins: Vec<String> = found.iter().map(|m| m.origin.to_string()).collect();
        assert_eq!(
            origins,
            [
                "shop@1.0.0: templates/a.yaml: document 1 (line 1)",
                "shop@1.0.0: templates/a.yaml: document 2 (line 1)",
                "shop@1.0.0: charts/db/templates/s.yaml: document 1 (line 1)",
                "shop@1.0.0: templates/migrate.yaml: document 1 (line 1)",
            ]
        );
    }

    #[test]
    fn hook_events_are_read_from_the_annotation() {
        let hook = serde_json::json!({"metadata": {"annotations": {HOOK_ANNOTATION: "pre-install, Test-Success"}}});
        assert_eq!(
            hook_events(&hook).collect::<Vec<_>>(),
            ["pre-install", "test-success"]
        );
        // Also a pre-install hook: a sync runs it.
        assert!(HookEvents::of(&hook).pre && !HookEvents::of(&hook).never_run());
        let test =
            serde_json::json!({"metadata": {"annotations": {HOOK_ANNOTATION: "test-success"}}});
        assert!(HookEvents::of(&test).never_run());
        let plain = serde_json::json!({"metadata": {"name": "x"}});
        assert!(!HookEvents::of(&plain).never_run());
        let upgrade =
            serde_json::json!({"metadata": {"annotations": {HOOK_ANNOTATION: "post-upgrade"}}});
        assert_eq!(
            HookEvents::of(&upgrade),
            HookEvents {
                any: true,
                pre: false,
                post: true
            }
        );
        let kept =
            serde_json::json!({"metadata": {"annotations": {RESOURCE_POLICY_ANNOTATION: "keep"}}});
        assert!(is_kept_on_prune(&kept) && !is_kept_on_prune(&plain));
    }
}
