//! Render tests: the shared real-world corpus (plain entries, kustomize
//! entries inside and outside the supported subset, compared with the
//! verbatim `kubectl kustomize` output), a live `kubectl kustomize` run on a
//! generated fixture, error reporting and hostile YAML.

use std::path::{Path, PathBuf};
use std::process::Command;

use plumbline::object::ObjectKey;
use plumbline::render::{self, Error, RenderOptions, Tree};
use plumbline::source::{self, Limits};
use serde_json::{json, Value};

fn corpus() -> PathBuf {
    // A copy of the shared real-world corpus is kept in tests/corpus (with
    // its upstream licence and notice), so a clean clone has it.
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    for candidate in [
        here.join("../tests/corpus"),
        here.join("../../shared/corpus"),
    ] {
        if candidate.join("MANIFEST.md").is_file() {
            return candidate;
        }
    }
    panic!("tests/corpus not found");
}

/// One row of the corpus table.
#[derive(Debug)]
struct Entry {
    entry: String,
    count: usize,
    kustomize: String,
    notes: String,
}

fn entries() -> Vec<Entry> {
    let text = std::fs::read_to_string(corpus().join("MANIFEST.md")).unwrap();
    let mut out = Vec::new();
    for line in text.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        out.push(Entry {
            entry: cells[1].trim_matches('`').to_owned(),
            count: cells[6].parse().unwrap(),
            kustomize: cells[7].to_owned(),
            notes: cells[8].to_owned(),
        });
    }
    assert!(out.len() >= 40, "corpus table not parsed");
    out
}

/// The tree of an entry's app folder (read through cap-std), and the
/// entry's directory inside it.
fn load(entry: &str) -> (Tree, String) {
    let (app, path) = entry.split_once('/').unwrap_or((entry, ""));
    let limits = Limits {
        max_file_size: 16 << 20,
        ..Limits::default()
    };
    (
        source::read_local_dir(&corpus().join(app), &limits).unwrap(),
        path.to_owned(),
    )
}

fn options(path: &str) -> RenderOptions {
    RenderOptions {
        path: path.to_owned(),
        ..RenderOptions::default()
    }
}

/// Canonical JSON texts of objects, sorted: compares as a multiset.
fn canonical(objects: impl IntoIterator<Item = Value>) -> Vec<String> {
    let mut v: Vec<String> = objects.into_iter().map(|o| o.to_string()).collect();
    v.sort();
    v
}

fn parse_yaml_stream(bytes: &[u8]) -> Vec<Value> {
    let tree: Tree = [("expected.yaml", bytes.to_vec())].into_iter().collect();
    let options = RenderOptions {
        allow_empty: true,
        ..RenderOptions::default()
    };
    render::render(&tree, &options)
        .unwrap()
        .objects
        .into_iter()
        .map(|m| m.object)
        .collect()
}

fn keys(objects: &[Value]) -> Vec<String> {
    objects
        .iter()
        .map(|o| ObjectKey::of(o).unwrap().to_string())
        .collect()
}

/// Features beyond the corpus's "subset" that Plumbline builds, as the
/// corpus table names them.
const BUILT_BEYOND_SUBSET: [&str; 2] = ["patches (strategic-merge)", "configMapGenerator"];

/// The features an entry uses beyond the subset (empty if in the subset).
fn beyond_subset(e: &Entry) -> Vec<&str> {
    e.kustomize
        .strip_prefix("yes, outside subset: ")
        .map(|list| list.split(", ").collect())
        .unwrap_or_default()
}

#[test]
fn corpus_kustomizations_match_kubectl_kustomize() {
    let mut compared = 0;
    for e in entries().iter().filter(|e| e.kustomize.starts_with("yes")) {
        for feature in beyond_subset(e) {
            assert!(
                BUILT_BEYOND_SUBSET.contains(&feature),
                "{}: {feature} is not built",
                e.entry
            );
        }
        let (tree, path) = load(&e.entry);
        let mut options = options(&path);
        if e.count == 0 {
            let empty = render::render(&tree, &options).unwrap_err();
            assert!(
                matches!(empty.0[..], [Error::Empty { .. }]),
                "{}: {empty}",
                e.entry
            );
            options.allow_empty = true;
        }
        let rendered =
            render::render(&tree, &options).unwrap_or_else(|err| panic!("{}: {err}", e.entry));
        let ours: Vec<Value> = rendered.objects.into_iter().map(|m| m.object).collect();
        let expected_file = corpus().join(&e.entry).join(".expected.kustomize.yaml");
        let expected = parse_yaml_stream(&std::fs::read(expected_file).unwrap());
        assert_eq!(ours.len(), e.count, "{}: object count", e.entry);
        assert_same_objects(&ours, &expected, &e.entry);
        if keys(&ours) != keys(&expected) {
            // kubectl sorts by kind ("legacy" order); we keep resource order.
            eprintln!("{}: same objects, different order", e.entry);
        }
        compared += 1;
    }
    assert_eq!(compared, 22);
}

/// The same objects, as multisets; shows the first difference.
fn assert_same_objects(ours: &[Value], expected: &[Value], what: &str) {
    let (ours_c, expected_c) = (canonical(ours.to_vec()), canonical(expected.to_vec()));
    if ours_c != expected_c {
        for (a, b) in ours_c.iter().zip(&expected_c) {
            assert_eq!(a, b, "{what}: first difference (ours, kubectl)");
        }
        panic!(
            "{what}: different object counts: {} vs {}",
            ours_c.len(),
            expected_c.len()
        );
    }
}

#[test]
fn corpus_plain_entries_render_with_duplicates_reported() {
    let mut checked = 0;
    for e in entries()
        .iter()
        .filter(|e| e.kustomize.starts_with("no (plain"))
    {
        let (mut tree, path) = load(&e.entry);
        if e.kustomize.contains("top-level files only") {
            let prefix = if path.is_empty() {
                String::new()
            } else {
                format!("{path}/")
            };
            tree = tree
                .iter()
                .filter(|(p, _)| {
                    p.strip_prefix(&prefix)
                        .is_some_and(|rest| !rest.contains('/'))
                })
                .map(|(p, b)| (p.to_owned(), b.to_vec()))
                .collect();
        }
        let duplicates: usize = e
            .notes
            .split("; ")
            .find_map(|n| n.split_once(" duplicate object identities"))
            .map_or(0, |(n, _)| n.trim().parse().unwrap());
        match render::render(&tree, &options(&path)) {
            Ok(rendered) => {
                assert_eq!(duplicates, 0, "{}: duplicates not reported", e.entry);
                assert_eq!(rendered.objects.len(), e.count, "{}", e.entry);
                for m in &rendered.objects {
                    assert!(m.origin.line >= 1 && m.origin.document >= 1);
                    assert!(tree.get(&m.origin.file).is_some(), "{:?}", m.origin);
                }
            }
            Err(errors) => {
                let mut keys = std::collections::BTreeSet::new();
                for err in &errors.0 {
                    let Error::Duplicate { key, first, second } = err else {
                        panic!("{}: unexpected {err}", e.entry);
                    };
                    let text = err.to_string();
                    assert!(
                        text.contains(&first.file) && text.contains(&second.file),
                        "{text}"
                    );
                    keys.insert(key.clone());
                }
                assert_eq!(keys.len(), duplicates, "{}: {errors}", e.entry);
            }
        }
        checked += 1;
    }
    assert_eq!(checked, 21);
}

/// Write `files` under a new temp dir.
fn fixture(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

const BASE_KUSTOMIZATION: &str = "\
resources:
- app.yaml
- rbac.yaml
- list.yaml
- extra.json
commonLabels:
  app.kubernetes.io/part-of: shop
images:
- name: nginx
  newTag: 1.27.1
- name: ghcr.io/acme/worker
  newName: registry.example/worker
  digest: sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
";

const APP: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    tier: front
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      serviceAccountName: web
      initContainers:
      - name: init
        image: ghcr.io/acme/worker:v1
      containers:
      - name: web
        image: nginx:1.25
        args: [--serve]
        envFrom:
        - configMapRef:
            name: settings
        env:
        - name: TOKEN
          valueFrom:
            secretKeyRef:
              name: token
              key: value
      volumes:
      - name: cfg
        configMap:
          name: settings
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
  - port: 80
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  serviceName: web
  selector:
    matchLabels:
      app: db
  template:
    metadata:
      labels:
        app: db
    spec:
      containers:
      - name: db
        image: postgres:16
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: web
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: web
  minReplicas: 1
  maxReplicas: 3
---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: report
spec:
  schedule: \"*/5 * * * *\"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers:
          - name: report
            image: nginx
";

const RBAC: &str = "\
apiVersion: v1
kind: ServiceAccount
metadata:
  name: web
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: reader
rules:
- apiGroups: [\"\"]
  resources: [configmaps]
  verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: web-reads
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: reader
subjects:
- kind: ServiceAccount
  name: web
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: viewer
rules: []
---
apiVersion: v1
kind: Namespace
metadata:
  name: shop
";

const LIST: &str = "\
apiVersion: v1
kind: ConfigMapList
items:
- apiVersion: v1
  kind: ConfigMap
  metadata:
    name: settings
  data:
    mode: fast
- apiVersion: v1
  kind: Secret
  metadata:
    name: token
  stringData:
    value: abc
";

const EXTRA_JSON: &str = r#"{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
 "metadata": {"name": "web"},
 "spec": {"podSelector": {"matchLabels": {"app": "web"}},
          "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "lb"}}}]}]}}"#;

const OVERLAY_KUSTOMIZATION: &str = "\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- ../base
- cache.yaml
namespace: shop-prod
namePrefix: prod-
nameSuffix: -v2
labels:
- pairs:
    env: prod
- pairs:
    team: checkout
  includeTemplates: true
- pairs:
    release: r1
  includeSelectors: true
commonAnnotations:
  owner: checkout@example.com
patches:
- target:
    kind: Deployment
    name: \"(web|cache)\"
  patch: |-
    - op: replace
      path: /spec/replicas
      value: 5
    - op: add
      path: /spec/template/spec/containers/0/args/-
      value: --verbose
- path: patch-svc.yaml
  target:
    version: v1
    kind: Service
    labelSelector: app.kubernetes.io/part-of=shop
";

const CACHE: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: cache
spec:
  replicas: 1
  selector:
    matchLabels:
      app: cache
  template:
    metadata:
      labels:
        app: cache
    spec:
      containers:
      - name: redis
        image: redis:7
        args: [--save]
";

const PATCH_SVC: &str = "\
- op: add
  path: /metadata/annotations/patched
  value: \"yes\"
";

#[test]
fn supported_kustomize_fields_match_live_kubectl_kustomize() {
    let dir = fixture(&[
        ("base/kustomization.yaml", BASE_KUSTOMIZATION),
        ("base/app.yaml", APP),
        ("base/rbac.yaml", RBAC),
        ("base/list.yaml", LIST),
        ("base/extra.json", EXTRA_JSON),
        ("overlay/kustomization.yaml", OVERLAY_KUSTOMIZATION),
        ("overlay/cache.yaml", CACHE),
        ("overlay/patch-svc.yaml", PATCH_SVC),
    ]);
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir.path().join("overlay"))
        .output()
        .expect("kubectl must be installed (scripts/setup installs it)");
    assert!(
        out.status.success(),
        "kubectl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = parse_yaml_stream(&out.stdout);

    let tree = source::read_local_dir(dir.path(), &Limits::default()).unwrap();
    let rendered = render::render(&tree, &options("overlay")).unwrap_or_else(|e| panic!("{e}"));
    let ours: Vec<Value> = rendered.objects.iter().map(|m| m.object.clone()).collect();
    let (ours_c, expected_c) = (canonical(ours.clone()), canonical(expected.clone()));
    if ours_c != expected_c {
        for (a, b) in ours_c.iter().zip(&expected_c) {
            if a != b {
                panic!("first difference:\n ours:    {a}\n kubectl: {b}");
            }
        }
        panic!(
            "different object counts: {} vs {}",
            ours_c.len(),
            expected_c.len()
        );
    }
    assert_eq!(ours.len(), 14);

    // Provenance survives the transformations.
    let web = rendered
        .objects
        .iter()
        .find(|m| m.object["metadata"]["name"] == "prod-web-v2" && m.object["kind"] == "Deployment")
        .unwrap();
    assert_eq!(
        (
            web.origin.file.as_str(),
            web.origin.document,
            web.origin.line
        ),
        ("base/app.yaml", 1, 1)
    );
    let secret = rendered
        .objects
        .iter()
        .find(|m| m.object["kind"] == "Secret")
        .unwrap();
    assert_eq!(secret.origin.file, "base/list.yaml");
}

/// `cm.yaml` with one ConfigMap `c`, for kustomizations whose errors are
/// the point.
const CONFIG_MAP_C: (&str, &str) = (
    "cm.yaml",
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n",
);

/// Render `files`: it must fail with exactly `expected`, in order.
fn assert_render_errors(files: &[(&str, &str)], expected: &[&str]) {
    let errors = render_files(files).unwrap_err();
    let shown: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
    assert_eq!(shown, expected);
}

fn render_files(files: &[(&str, &str)]) -> Result<render::Rendered, render::Errors> {
    let tree: Tree = files
        .iter()
        .map(|(p, t)| (p.to_string(), t.as_bytes().to_vec()))
        .collect();
    render::render(&tree, &RenderOptions::default())
}

#[test]
fn all_errors_are_reported_together_with_file_document_and_line() {
    let errors = render_files(&[
        (
            "a.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\n---\nkind: [unclosed\n",
        ),
        (
            "b.yaml",
            "# header\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {}\n",
        ),
        (
            "c.json",
            "{\"kind\": \"ConfigMap\", \"metadata\": {\"name\": \"x\"}}",
        ),
        ("d.yaml", "- just\n- a list\n"),
        ("e.yaml", "apiVersion: v1\nmetadata:\n  name: nokind\n"),
    ])
    .unwrap_err();
    let text: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
    assert_eq!(text.len(), 5, "{text:#?}");
    // libyaml reports an unclosed flow sequence where the input ends.
    assert!(
        text[0].starts_with("a.yaml: document 2, line 7 column 1: did not find expected"),
        "{}",
        text[0]
    );
    assert_eq!(
        text[1],
        "b.yaml: document 1 (line 3): object has no metadata.name"
    );
    assert_eq!(
        text[2],
        "c.json: document 1 (line 1): object has no apiVersion"
    );
    assert_eq!(
        text[3],
        "d.yaml: document 1 (line 1): expected an object, found a list"
    );
    assert_eq!(text[4], "e.yaml: document 1 (line 1): object has no kind");
    assert!(errors.to_string().starts_with("5 render error(s):"));
}

#[test]
fn duplicates_name_both_files() {
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: same\n  namespace: ns\n";
    let errors =
        render_files(&[("a.yaml", cm), ("dir/b.yaml", &format!("---\n{cm}"))]).unwrap_err();
    assert_eq!(
        errors.0[0].to_string(),
        "duplicate object ConfigMap ns/same: a.yaml: document 1 (line 1) and dir/b.yaml: document 1 (line 2)"
    );
    // Same name in another namespace or group is not a duplicate.
    let other = cm.replace("namespace: ns", "namespace: other");
    assert!(render_files(&[("a.yaml", cm), ("b.yaml", &other)]).is_ok());
}

#[test]
fn lists_are_flattened_and_non_manifests_and_ignored_files_skipped() {
    let rendered = render_files(&[
        (".plumblineignore", "drafts/\n*.skip.yaml\n"),
        ("drafts/x.yaml", "not: [valid"),
        ("a.skip.yaml", "broken: ["),
        ("README.md", "# not a manifest"),
        ("logo.png", "\u{89}PNG"),
        (".hidden/x.yaml", "broken: ["),
        (
            "list.yaml",
            "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: a}\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: b}\n",
        ),
        ("empty.yaml", "# nothing\n---\n---\n"),
    ])
    .unwrap();
    let names: Vec<&str> = rendered
        .objects
        .iter()
        .map(|m| m.object["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a", "b"]);
}

#[test]
fn binary_manifest_files_are_an_error_naming_the_file() {
    let tree: Tree = [("bin.yaml", vec![0xff, 0xfe, 0x00])].into_iter().collect();
    let errors = render::render(&tree, &RenderOptions::default()).unwrap_err();
    assert_eq!(
        errors.to_string(),
        "1 render error(s):\n  bin.yaml: not UTF-8 text"
    );
}

#[test]
fn unsupported_kustomize_fields_are_errors_with_their_line() {
    let errors = render_files(&[
        (
            "kustomization.yaml",
            "resources:\n- cm.yaml\ncrds:\n- x.yaml\n\ntransformers:\n- y.yaml\n",
        ),
        CONFIG_MAP_C,
    ])
    .unwrap_err();
    let text: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
    assert_eq!(
        text,
        [
            "kustomization.yaml: line 3: field `crds` is not supported (not supported yet)",
            "kustomization.yaml: line 6: field `transformers` is not supported (not supported yet)",
        ]
    );

    assert_render_errors(
        &[
            (
                "kustomization.yaml",
                "resources: [cm.yaml]\ncomponents:\nhelmChartInflationGenerator:\n- chartName: x\ngenerators:\n- g.yaml\n",
            ),
            CONFIG_MAP_C,
        ],
        &[
            "kustomization.yaml: line 3: field `helmChartInflationGenerator` is not supported (deprecated by kustomize; use helmCharts)",
            "kustomization.yaml: line 5: field `generators` is not supported (not supported yet)",
        ],
    );
}

#[test]
fn kustomize_resource_problems_are_clear() {
    let errors = render_files(&[
        (
            "kustomization.yaml",
            "resources:\n- missing.yaml\n- ../outside\n- loop\n- nokust\n",
        ),
        ("loop/kustomization.yaml", "resources:\n- ..\n"),
        ("nokust/x.yaml", "a: 1\n"),
    ])
    .unwrap_err();
    let text = errors.to_string();
    for needle in [
        "kustomization.yaml: resource \"missing.yaml\" not found",
        "kustomization.yaml: \"../outside\" is outside the source path",
        "loop/kustomization.yaml: resource \"..\" is included in a cycle",
        "kustomization.yaml: resource directory \"nokust\" has no kustomization.yaml",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in {text}");
    }
}

#[test]
fn a_100_mb_document_fails_fast_before_parsing() {
    let huge = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\ndata:\n  x: \"{}\"\n",
        "a".repeat(100 << 20)
    );
    let errors = render_files(&[("big.yaml", &huge)]).unwrap_err();
    assert!(
        matches!(errors.0[..], [Error::FileTooLarge { ref file, limit, .. }] if file == "big.yaml" && limit == 8 << 20)
    );
}

#[test]
fn deep_nesting_is_refused() {
    let depth = 100_000;
    let flow = format!("a: {}{}\n", "[".repeat(depth), "]".repeat(depth));
    let block: String = (0..300).map(|i| format!("{}k:\n", " ".repeat(i))).collect();
    let json = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let errors = render_files(&[
        ("flow.yaml", &flow),
        ("block.yaml", &block),
        ("deep.json", &json),
    ])
    .unwrap_err();
    let text: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
    assert_eq!(text.len(), 3, "{text:?}");
    assert!(
        text.iter()
            .any(|t| t.starts_with("flow.yaml") && t.contains("recursion limit exceeded")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|t| t.starts_with("block.yaml") && t.contains("recursion limit exceeded")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|t| t.starts_with("deep.json") && t.contains("recursion limit exceeded")),
        "{text:?}"
    );
}

#[test]
fn alias_bombs_are_refused() {
    // "Billion laughs": 9 levels of 9 aliases, ~387 million strings.
    let mut bomb = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for (prev, name) in ["a", "b", "c", "d", "e", "f", "g", "h"]
        .iter()
        .zip(["b", "c", "d", "e", "f", "g", "h", "i"])
    {
        bomb.push_str(&format!(
            "{name}: &{name} [{}]\n",
            vec![format!("*{prev}"); 9].join(",")
        ));
    }
    // A wide variant: one 20 KB anchored string referenced 2000 times.
    let wide = format!(
        "big: &big \"{}\"\nrefs: [{}]\n",
        "x".repeat(20_000),
        vec!["*big"; 2000].join(",")
    );
    let errors = render_files(&[("bomb.yaml", &bomb), ("wide.yaml", &wide)]).unwrap_err();
    assert_eq!(errors.0.len(), 2, "{errors}");
    for e in &errors.0 {
        let text = e.to_string();
        assert!(
            text.contains("expands to more than") || text.contains("repetition limit exceeded"),
            "{text}"
        );
    }
    // Modest, legitimate anchors still work.
    let ok =
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: &n anchored\n  labels: {copy: *n}\n";
    let rendered = render_files(&[("ok.yaml", ok)]).unwrap();
    assert_eq!(
        rendered.objects[0].object["metadata"]["labels"],
        json!({"copy": "anchored"})
    );
}

#[test]
fn render_path_selects_a_directory() {
    let rendered = render::render(
        &[
            (
                "apps/a.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
            ),
            ("other/b.yaml", "broken: ["),
        ]
        .into_iter()
        .collect::<Tree>(),
        &options("apps"),
    )
    .unwrap();
    assert_eq!(rendered.objects.len(), 1);
    assert_eq!(rendered.objects[0].origin.file, "apps/a.yaml");
}

#[test]
fn a_missing_path_and_an_empty_render_are_errors() {
    let tree: Tree = [
        (
            "apps/web.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n",
        ),
        ("apps/drafts/notes.txt", "not a manifest\n"),
        ("empty/kustomization.yaml", "resources: []\n"),
    ]
    .into_iter()
    .map(|(p, t)| (p.to_owned(), t.as_bytes().to_vec()))
    .collect();

    let missing = render::render(&tree, &options("app")).unwrap_err();
    assert_eq!(
        missing.to_string(),
        "1 render error(s):\n  path \"app\" does not exist in the source"
    );
    assert_eq!(missing.0[0].reason(), "PathNotFound");

    for path in ["apps/drafts", "empty"] {
        let empty = render::render(&tree, &options(path)).unwrap_err();
        assert!(
            matches!(&empty.0[..], [Error::Empty { path: p }] if p == path),
            "{empty}"
        );
        assert!(empty.to_string().contains("allowEmpty: true"), "{empty}");
        let allowed = RenderOptions {
            allow_empty: true,
            ..options(path)
        };
        assert!(render::render(&tree, &allowed).unwrap().objects.is_empty());
    }
    assert_eq!(
        render::render(&tree, &options("apps"))
            .unwrap()
            .objects
            .len(),
        1
    );
}

#[tokio::test]
async fn the_strategic_merge_table_matches_a_real_api_server() {
    let Some(plane) = control_plane::ControlPlane::start_or_skip().await else {
        return;
    };
    let request = http::Request::get("/openapi/v2").body(Vec::new()).unwrap();
    let openapi: Value = plane.client().request(request).await.unwrap();
    let generated = render::kustomize::schema::generate(&openapi);
    let shipped_path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src/render/kustomize/schema.txt");
    let shipped = std::fs::read_to_string(&shipped_path).unwrap();
    if generated != shipped {
        let fresh = std::env::temp_dir().join("plumbline-schema.txt");
        std::fs::write(&fresh, &generated).unwrap();
        panic!(
            "{} is out of date; the table generated from the running API server is in {}",
            shipped_path.display(),
            fresh.display()
        );
    }
}

/// Build `dir/<entry>` with live `kubectl kustomize` and with Plumbline, and
/// compare the objects as sets. Returns our objects.
fn assert_matches_live_kubectl(dir: &Path, entry: &str) -> Vec<Value> {
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir.join(entry))
        .output()
        .expect("kubectl must be installed (scripts/setup installs it)");
    assert!(
        out.status.success(),
        "kubectl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = parse_yaml_stream(&out.stdout);
    let tree = source::read_local_dir(dir, &Limits::default()).unwrap();
    let rendered = render::render(&tree, &options(entry)).unwrap_or_else(|e| panic!("{e}"));
    let ours: Vec<Value> = rendered.objects.into_iter().map(|m| m.object).collect();
    assert_same_objects(&ours, &expected, entry);
    ours
}

const SMP_BASE: &str = "\
resources: [web.yaml, widget.yaml]
";

const SMP_WEB: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web, tier: front}
  finalizers: [example.com/a]
spec:
  revisionHistoryLimit: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: app
        image: app:1
        args: [--a, --b]
        env:
        - {name: A, value: '1'}
        ports:
        - {containerPort: 80, protocol: TCP}
      - name: sidecar
        image: side:1
      volumes:
      - name: data
        emptyDir: {}
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: doomed
data: {a: b}
";

const SMP_WIDGET: &str = "\
apiVersion: example.com/v1
kind: Widget
metadata:
  name: w
spec:
  parts:
  - {name: a, size: 1}
  - {name: b, size: 2}
  tags: [x, y]
";

const SMP_OVERLAY: &str = "\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
metadata:
  name: overlay
resources: [../base]
components:
sortOptions:
  order: fifo
patchesStrategicMerge:
- deploy.yaml
- |-
  apiVersion: v1
  kind: ConfigMap
  metadata:
    name: doomed
  $patch: delete
patches:
- path: widget.yaml
- target: {kind: Deployment, labelSelector: tier=front}
  patch: |-
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: any
      annotations: {patched: 'yes'}
- target: {kind: Service}
  patch: |-
    apiVersion: v1
    kind: Service
    metadata: {name: any}
    spec:
      ports:
      - {name: https, port: 443}
patchesJson6902:
- target: {version: v1, kind: Service, name: web}
  patch: |-
    - {op: add, path: /spec/type, value: NodePort}
namePrefix: p-
replicas:
- {name: web, count: 4}
";

const SMP_DEPLOY: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  finalizers: [example.com/b]
spec:
  revisionHistoryLimit: null
  template:
    spec:
      containers:
      - name: app
        args: [--c]
        env:
        - {name: B, value: '2'}
        ports:
        - {containerPort: 443}
      - name: sidecar
        $patch: delete
      - name: new
        image: new:1
      volumes:
      - name: cache
        emptyDir: {}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      securityContext:
        runAsNonRoot: true
";

const SMP_WIDGET_PATCH: &str = "\
apiVersion: example.com/v1
kind: Widget
metadata:
  name: w
spec:
  parts:
  - {name: b, size: 3}
  - {name: c, size: 4}
  tags: [z]
";

#[test]
fn strategic_merge_and_json6902_patches_match_live_kubectl_kustomize() {
    let dir = fixture(&[
        ("base/kustomization.yaml", SMP_BASE),
        ("base/web.yaml", SMP_WEB),
        ("base/widget.yaml", SMP_WIDGET),
        ("overlay/kustomization.yaml", SMP_OVERLAY),
        ("overlay/deploy.yaml", SMP_DEPLOY),
        ("overlay/widget.yaml", SMP_WIDGET_PATCH),
    ]);
    let ours = assert_matches_live_kubectl(dir.path(), "overlay");
    assert_eq!(ours.len(), 3, "the ConfigMap was deleted by its patch");
    let deployment = ours.iter().find(|o| o["kind"] == "Deployment").unwrap();
    let names: Vec<&Value> = deployment["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["name"])
        .collect();
    assert_eq!(names, ["app", "new"]);
    assert_eq!(
        deployment["spec"]["replicas"], 4,
        "replicas by the name before the prefix"
    );
}

#[test]
fn patch_errors_name_the_patch_file() {
    assert_render_errors(
        &[
            (
                "kustomization.yaml",
                "resources: [cm.yaml]\npatches:\n- path: p.yaml\n- path: ops.yaml\n  target: {kind: ConfigMap}\n",
            ),
            CONFIG_MAP_C,
            ("p.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\n"),
            ("ops.yaml", "- {op: remove, path: /data/x}\n"),
        ],
        &[
            "kustomization.yaml: patches[1] (p.yaml) on ConfigMap other: matches no object of the build",
            "kustomization.yaml: patches[2] (ops.yaml) on ConfigMap c: operation 1: path /data/x does not exist",
        ],
    );
}

#[test]
fn components_match_live_kubectl_kustomize() {
    let component = |resources: &str, rest: &str| {
        format!(
            "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources: [{resources}]\n{rest}"
        )
    };
    let monitoring = component(
        "monitor.yaml",
        "patches:\n- target: {kind: Deployment}\n  patch: |-\n    apiVersion: apps/v1\n    kind: Deployment\n    metadata: {name: x, annotations: {scrape: 'true'}}\ncommonLabels: {monitored: 'yes'}\n",
    );
    let tls = component(
        "",
        "patchesStrategicMerge:\n- |-\n  apiVersion: v1\n  kind: Service\n  metadata: {name: web}\n  spec:\n    ports:\n    - {name: https, port: 443}\ncomponents: [../nested]\n",
    );
    let nested = component("", "commonAnnotations: {nested: 'yes'}\n");
    let dir = fixture(&[
        ("base/kustomization.yaml", "resources: [web.yaml]\n"),
        ("base/web.yaml", SMP_WEB),
        ("components/monitoring/kustomization.yaml", &monitoring),
        (
            "components/monitoring/monitor.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: monitor\n",
        ),
        ("components/tls/kustomization.yaml", &tls),
        ("components/nested/kustomization.yaml", &nested),
        (
            "overlay/kustomization.yaml",
            "resources: [../base]\ncomponents: [../components/monitoring, ../components/tls]\nnamePrefix: prod-\n",
        ),
    ]);
    let ours = assert_matches_live_kubectl(dir.path(), "overlay");
    assert_eq!(ours.len(), 4);
    assert!(ours
        .iter()
        .all(|o| o["metadata"]["labels"]["monitored"] == "yes"));

    // A Component is built as the rendered directory, as kubectl does, but
    // it is not a resource.
    assert_matches_live_kubectl(dir.path(), "components/monitoring");
    std::fs::create_dir(dir.path().join("wrong")).unwrap();
    std::fs::write(
        dir.path().join("wrong/kustomization.yaml"),
        "resources: [../components/tls]\n",
    )
    .unwrap();
    assert_kubectl_fails(dir.path(), "wrong");
    let tree = source::read_local_dir(dir.path(), &Limits::default()).unwrap();
    let errors = render::render(&tree, &options("wrong")).unwrap_err();
    assert!(
        errors
            .to_string()
            .contains("components/tls/kustomization.yaml: kind \"Component\" where a Kustomization is expected"),
        "{errors}"
    );
}

#[test]
fn generators_with_hash_suffixes_and_references_match_live_kubectl_kustomize() {
    let base = "\
resources: [app.yaml]
generatorOptions:
  labels: {generated: 'yes'}
configMapGenerator:
- name: settings
  literals: [MODE=fast, 'QUOTED=\"a b\"', 'EMPTY=']
  files: [app.conf, renamed.conf=extra.conf]
  envs: [vars.env]
- name: fixed
  literals: [A=1]
  options:
    disableNameSuffixHash: true
    annotations: {note: kept}
secretGenerator:
- name: creds
  literals: [user=admin, password=s3cr&t<>]
- name: tls
  type: kubernetes.io/tls
  files: [tls.crt, tls.key]
";
    let app = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: app
        image: app:1
        envFrom:
        - configMapRef: {name: settings}
        - secretRef: {name: creds}
        env:
        - name: A
          valueFrom:
            configMapKeyRef: {name: fixed, key: A}
      volumes:
      - name: tls
        secret: {secretName: tls}
      - name: conf
        configMap: {name: settings}
";
    let overlay = "\
resources: [../base]
namePrefix: prod-
namespace: shop
configMapGenerator:
- name: settings
  behavior: merge
  literals: [MODE=safe, EXTRA=1]
- name: overlay-only
  literals: [B=2]
commonLabels: {env: prod}
";
    let dir = fixture(&[
        ("base/kustomization.yaml", base),
        ("base/app.yaml", app),
        ("base/app.conf", "listen 80\n"),
        ("base/extra.conf", "# extra\nx = 1\n"),
        ("base/vars.env", "# comment\nFROM_ENV=yes\n\n  SPACED=a=b\n"),
        ("base/tls.crt", "CERT\n"),
        ("base/tls.key", "KEY\n"),
        ("overlay/kustomization.yaml", overlay),
    ]);
    assert_matches_live_kubectl(dir.path(), "base");
    let ours = assert_matches_live_kubectl(dir.path(), "overlay");
    let names: Vec<&str> = ours
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"prod-fixed"), "{names:?}");
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("prod-settings-") && n.len() == "prod-settings-".len() + 10),
        "{names:?}"
    );
}

#[test]
fn replacements_match_live_kubectl_kustomize() {
    let kustomization = "\
resources: [app.yaml]
namePrefix: p-
replacements:
- source: {kind: ConfigMap, name: settings, fieldPath: data.image}
  targets:
  - select: {kind: Deployment}
    reject: [{name: other}]
    fieldPaths:
    - spec.template.spec.containers.[name=app].image
  - select: {kind: Deployment, name: other}
    fieldPaths: [spec.template.spec.containers.0.image]
    options: {delimiter: ':', index: 1}
- path: more.yaml
";
    let more = "\
- source: {kind: Service, name: web}
  targets:
  - select: {kind: Deployment}
    fieldPaths:
    - metadata.annotations.[example.com/service]
    options: {create: true}
";
    let app = "\
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {image: 'reg/web:9'}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  ports: [{port: 80}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  template:
    spec:
      containers: [{name: app, image: old}, {name: side, image: side:1}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: other}
spec:
  template:
    spec:
      containers: [{name: app, image: 'reg/other:1'}]
";
    let dir = fixture(&[
        ("app/kustomization.yaml", kustomization),
        ("app/more.yaml", more),
        ("app/app.yaml", app),
    ]);
    let ours = assert_matches_live_kubectl(dir.path(), "app");
    let web = ours
        .iter()
        .find(|o| o["metadata"]["name"] == "p-web" && o["kind"] == "Deployment")
        .unwrap();
    assert_eq!(
        web["spec"]["template"]["spec"]["containers"][0]["image"],
        "reg/web:9"
    );
    assert_eq!(
        web["metadata"]["annotations"]["example.com/service"],
        "p-web"
    );

    let missing = render_files(&[
        (
            "kustomization.yaml",
            "resources: [cm.yaml]\nreplacements:\n- source: {kind: ConfigMap}\n  targets:\n  - select: {kind: ConfigMap}\n    fieldPaths: [data.x]\n",
        ),
        CONFIG_MAP_C,
    ])
    .unwrap_err();
    assert_eq!(
        missing.to_string(),
        "1 render error(s):\n  kustomization.yaml: replacements[1]: target field data.x: data does not exist"
    );
}

/// `kubectl kustomize dir/entry` fails (what Plumbline refuses, kustomize
/// refuses too).
fn assert_kubectl_fails(dir: &Path, entry: &str) {
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir.join(entry))
        .output()
        .expect("kubectl must be installed (scripts/setup installs it)");
    assert!(!out.status.success(), "kubectl built {entry}");
}

const VARS_BASE: &str = "\
resources: [app.yaml]
configMapGenerator:
- name: settings
  literals: [a=b]
vars:
- name: SVC
  objref: {kind: Service, name: web, apiVersion: v1}
- name: REPLICAS
  objref: {kind: Deployment, name: web, apiVersion: apps/v1}
  fieldref: {fieldpath: spec.replicas}
- name: IMAGE
  objref: {kind: Deployment, name: web, apiVersion: apps/v1}
  fieldref:
    fieldpath: spec.template.spec.containers[0].image
- name: PORT
  objref: {kind: Service, name: web, apiVersion: v1}
  fieldref: {fieldpath: 'spec.ports[0].port'}
- name: SETTINGS
  objref: {kind: ConfigMap, name: settings, apiVersion: v1}
";

const VARS_APP: &str = "\
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  ports: [{name: http, port: 8080, targetPort: '$(REPLICAS)'}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {svc: '$(SVC)'}}
spec:
  replicas: 3
  template:
    spec:
      containers:
      - name: app
        image: nginx:1
        args: ['--svc=$(SVC):$(PORT)', '$(REPLICAS)', '$$(SVC)', '$(NOPE)', '$(SVC']
        command: [run, '$(IMAGE)']
        env: [{name: A, value: '$(SETTINGS)'}, {name: B, value: '$(OVERLAY)'}]
        volumeMounts: [{name: v, mountPath: '/data/$(SVC)'}]
      initContainers:
      - {name: init, image: busybox, args: ['$(SVC)']}
      volumes: [{name: v, nfs: {server: '$(SVC).nfs', path: /}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web}
spec:
  tls: [{hosts: ['$(SVC).example.com'], secretName: '$(SVC)-tls'}]
  rules: [{host: '$(SVC).example.com'}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: job, annotations: {a: '$(SVC)'}, finalizers: ['$(SVC)']}
spec:
  schedule: '* * * * *'
  jobTemplate:
    spec:
      template:
        spec:
          containers: [{name: c, image: busybox, command: [echo, '$(SVC)']}]
";

#[test]
fn vars_match_live_kubectl_kustomize() {
    let overlay = "\
resources: [../base]
namePrefix: p-
vars:
- name: OVERLAY
  objref: {kind: Deployment, name: web, apiVersion: apps/v1}
";
    let dir = fixture(&[
        ("base/kustomization.yaml", VARS_BASE),
        ("base/app.yaml", VARS_APP),
        ("overlay/kustomization.yaml", overlay),
    ]);
    assert_matches_live_kubectl(dir.path(), "base");
    let ours = assert_matches_live_kubectl(dir.path(), "overlay");
    let deployment = ours.iter().find(|o| o["kind"] == "Deployment").unwrap();
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        container["args"],
        json!(["--svc=p-web:8080", 3, "$(SVC)", "$(NOPE)", "$(SVC"]),
        "renamed, typed, escaped, unknown and unclosed"
    );
    assert!(container["env"][0]["value"]
        .as_str()
        .unwrap()
        .starts_with("p-settings-"));
    let cron = ours.iter().find(|o| o["kind"] == "CronJob").unwrap();
    assert_eq!(cron["metadata"]["annotations"], json!({"a": "p-web"}));
    assert_eq!(
        cron["metadata"]["finalizers"],
        json!(["$(SVC)"]),
        "only varReference fields are replaced"
    );
}

#[test]
fn unresolvable_vars_are_errors_naming_the_var_and_file() {
    let cases = [
        (
            "vars:\n- name: GONE\n  objref: {kind: Service, name: nope, apiVersion: v1}\n",
            "kustomization.yaml: line 5: var `GONE`: objref v1 Service nope matches no object of the build",
        ),
        (
            "vars:\n- name: NOVERSION\n  objref: {kind: Deployment, name: web}\n",
            "kustomization.yaml: line 5: var `NOVERSION`: objref (no apiVersion) Deployment web matches no object of the build",
        ),
        (
            "vars:\n- name: FIELD\n  objref: {kind: Service, name: web, apiVersion: v1}\n  fieldref: {fieldpath: spec.clusterIP}\n",
            "kustomization.yaml: line 5: var `FIELD`: fieldref spec.clusterIP does not exist in its object",
        ),
        (
            "vars:\n- name: SVC\n  objref: {kind: Service, name: web, apiVersion: v1}\n",
            "kustomization.yaml: line 5: var `SVC`: declared twice (also in base/kustomization.yaml line 6)",
        ),
    ];
    for (vars, message) in cases {
        let overlay = format!("resources: [base]\nnamePrefix: p-\n# comment\n{vars}");
        let files = [
            ("kustomization.yaml", overlay.as_str()),
            ("base/kustomization.yaml", VARS_BASE),
            ("base/app.yaml", VARS_APP),
        ];
        let dir = fixture(&files);
        assert_kubectl_fails(dir.path(), "");
        assert_render_errors(&files, &[message]);
    }
}

#[test]
fn configurations_match_live_kubectl_kustomize() {
    let base = "\
resources: [app.yaml]
configurations: [config.yaml]
vars:
- name: CM
  objref: {kind: ConfigMap, name: settings, apiVersion: v1}
";
    let config = "\
nameReference:
- kind: ConfigMap
  version: v1
  fieldSpecs:
  - {path: spec/configRef, kind: Widget}
  - {path: spec/items/ref/name, kind: Widget}
- kind: Secret
  fieldSpecs:
  - {path: spec/secrets, kind: Widget}
commonLabels:
- {path: spec/selector/labels, kind: Widget, create: true}
commonAnnotations:
- {path: spec/template/annotations, kind: Widget, create: true}
namePrefix:
- {path: spec/alias, kind: Widget}
- {path: metadata/name}
images:
- {path: spec/runner/image, kind: Widget}
- {path: 'spec/images[]/ref', kind: Widget}
varReference:
- {path: spec/message, kind: Widget}
- {path: spec/notes, kind: Widget}
";
    let app = "\
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {a: b}
---
apiVersion: v1
kind: Secret
metadata: {name: creds}
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: w}
spec:
  configRef: settings
  secrets: [creds, other]
  items: [{ref: {name: settings}}, {ref: {name: gen}}, {ref: {name: nope}}]
  alias: w-alias
  runner: {image: 'nginx:1'}
  images: [{ref: 'nginx:2'}]
  message: uses $(CM)
  notes: [a $(CM), b]
";
    let overlay = "\
resources: [../base]
namePrefix: p-
nameSuffix: -s
commonLabels: {team: a}
commonAnnotations: {note: x}
images:
- {name: nginx, newTag: '9'}
configMapGenerator:
- name: gen
  literals: [a=b]
";
    let dir = fixture(&[
        ("base/kustomization.yaml", base),
        ("base/config.yaml", config),
        ("base/app.yaml", app),
        ("overlay/kustomization.yaml", overlay),
    ]);
    assert_matches_live_kubectl(dir.path(), "base");
    let ours = assert_matches_live_kubectl(dir.path(), "overlay");
    let widget = ours.iter().find(|o| o["kind"] == "Widget").unwrap();
    assert_eq!(widget["spec"]["configRef"], "p-settings-s");
    let generated = widget["spec"]["items"][1]["ref"]["name"].as_str().unwrap();
    assert!(generated.starts_with("p-gen-s-"), "{generated}");
    assert_eq!(widget["spec"]["alias"], "p-w-alias", "prefix only, once");
    assert_eq!(widget["spec"]["runner"]["image"], "nginx:9");
    assert_eq!(widget["spec"]["selector"]["labels"]["team"], "a");

    assert_render_errors(
        &[
            (
                "kustomization.yaml",
                "resources: [cm.yaml]\nconfigurations: [conf.yaml]\n",
            ),
            CONFIG_MAP_C,
            (
                "conf.yaml",
                "images: []\nreplicas:\n- path: spec/size\n  kind: W\ntemplateLabels:\n- path: spec/t\n",
            ),
        ],
        &[
            "conf.yaml: line 2: field `replicas` is not supported (not supported yet)",
            "conf.yaml: line 5: field `templateLabels` is not supported (not supported yet)",
        ],
    );
}

#[test]
fn origin_annotations_match_live_kubectl_kustomize() {
    let dir = fixture(&[
        (
            "apps/base/kustomization.yaml",
            "resources: [cm.yaml]\nnamePrefix: b-\nconfigMapGenerator:\n- {name: gen, literals: [a=b]}\nsecretGenerator:\n- {name: s, literals: [c=d]}\n",
        ),
        (
            "apps/base/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, annotations: {keep: 'yes'}}\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: d}}\n",
        ),
        (
            "apps/component/kustomization.yaml",
            "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources: [extra.yaml]\n",
        ),
        (
            "apps/component/extra.yaml",
            "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: sa}\n",
        ),
        (
            "apps/overlay/kustomization.yaml",
            "resources: [../base, local.yaml]\ncomponents: [../component]\nbuildMetadata: [originAnnotations]\nnamePrefix: o-\n",
        ),
        (
            "apps/overlay/local.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: l}\n",
        ),
    ]);
    let ours = assert_matches_live_kubectl(dir.path(), "apps/overlay");
    let origins: Vec<&str> = ours
        .iter()
        .map(|o| {
            o["metadata"]["annotations"]["config.kubernetes.io/origin"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert!(origins.contains(&"path: ../base/cm.yaml\n"), "{origins:?}");
    assert!(origins.contains(&"path: local.yaml\n"), "{origins:?}");

    assert_render_errors(
        &[
            (
                "kustomization.yaml",
                "resources: [cm.yaml]\nbuildMetadata: [managedByLabel, originAnnotations, transformerAnnotations]\n",
            ),
            CONFIG_MAP_C,
        ],
        &[
            "kustomization.yaml: line 2: field `buildMetadata: managedByLabel` is not supported (the managed-by label names the kustomize build (`kustomize-(devel)` in kubectl); not supported)",
            "kustomization.yaml: line 2: field `buildMetadata: transformerAnnotations` is not supported (transformer annotations are not supported yet)",
        ],
    );
}

const WIDGET_CRD: &str = "\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              parts:
                type: array
                x-kubernetes-list-type: map
                x-kubernetes-list-map-keys: [name]
                items:
                  type: object
                  properties:
                    name: {type: string}
                    size: {type: integer}
                    ports:
                      type: array
                      x-kubernetes-list-type: map
                      x-kubernetes-list-map-keys: [port, protocol]
                      items: {type: object, x-kubernetes-preserve-unknown-fields: true}
              items:
                type: array
                x-kubernetes-patch-strategy: merge
                x-kubernetes-patch-merge-key: id
                items: {type: object, x-kubernetes-preserve-unknown-fields: true}
              tags:
                type: array
                items: {type: string}
";

#[test]
fn custom_resource_lists_merge_by_the_keys_of_their_crd_in_the_build() {
    let widget = "\
apiVersion: example.com/v1
kind: Widget
metadata: {name: w}
spec:
  parts:
  - {name: a, size: 1}
  - name: b
    size: 2
    ports: [{port: 80, protocol: TCP}, {port: 80, protocol: UDP, extra: x}]
  items: [{id: 1, v: a}, {id: 2, v: b}]
  tags: [x, y]
---
apiVersion: other.example.com/v1
kind: Gadget
metadata: {name: g}
spec:
  parts: [{name: a, size: 1}]
";
    let kustomization = "\
resources: [crd.yaml, widget.yaml]
patches:
- patch: |-
    apiVersion: example.com/v1
    kind: Widget
    metadata: {name: w}
    spec:
      parts:
      - name: b
        size: 3
        ports: [{port: 80, protocol: UDP, extra: y}]
      - {name: c, size: 4}
      items: [{id: 2, v: new}]
      tags: [z]
- patch: |-
    apiVersion: other.example.com/v1
    kind: Gadget
    metadata: {name: g}
    spec:
      parts: [{name: b, size: 2}]
";
    let dir = fixture(&[
        ("kustomization.yaml", kustomization),
        ("crd.yaml", WIDGET_CRD),
        ("widget.yaml", widget),
    ]);
    let tree = source::read_local_dir(dir.path(), &Limits::default()).unwrap();
    let ours: Vec<Value> = render::render(&tree, &options(""))
        .unwrap()
        .objects
        .into_iter()
        .map(|m| m.object)
        .collect();
    let widget = ours.iter().find(|o| o["kind"] == "Widget").unwrap();
    assert_eq!(
        widget["spec"],
        json!({
            "parts": [
                {"name": "b", "size": 3, "ports": [
                    {"port": 80, "protocol": "UDP", "extra": "y"},
                    {"port": 80, "protocol": "TCP"}
                ]},
                {"name": "c", "size": 4},
                {"name": "a", "size": 1}
            ],
            "items": [{"id": 2, "v": "new"}, {"id": 1, "v": "a"}],
            "tags": ["z"]
        }),
        "merged by list-map-keys (nested too) and patch-merge-key, the patch's items first; \
         plain lists replaced"
    );

    // kubectl kustomize (v5.5) does not read CRDs of the build: it replaces
    // the Widget's lists. Everything else is the same.
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let kubectl = parse_yaml_stream(&out.stdout);
    let kubectl_widget = kubectl.iter().find(|o| o["kind"] == "Widget").unwrap();
    assert_eq!(
        kubectl_widget["spec"]["items"],
        json!([{"id": 2, "v": "new"}])
    );
    let others = |objects: &[Value]| -> Vec<Value> {
        objects
            .iter()
            .filter(|o| o["kind"] != "Widget")
            .cloned()
            .collect()
    };
    assert_same_objects(&others(&ours), &others(&kubectl), "without the Widget");
}

/// Every directory of the corpus with a kustomization (entry points, the
/// bases and components they include), relative to the corpus root.
fn corpus_kustomization_dirs() -> Vec<String> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            if path.is_dir() {
                walk(&path, root, out);
            } else if ["kustomization.yaml", "kustomization.yml", "Kustomization"]
                .contains(&name.as_str())
            {
                let rel = dir.strip_prefix(root).unwrap();
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(&corpus(), &corpus(), &mut out);
    out
}

/// The corpus result table of docs/render.md: every kustomization of the
/// corpus that `kubectl kustomize` builds renders to the same objects (a
/// set comparison: kubectl sorts by kind, we keep resource order), and
/// every one it refuses, Plumbline refuses too.
#[test]
fn every_corpus_kustomization_renders_like_live_kubectl_kustomize() {
    let mut identical = Vec::new();
    let mut refused = Vec::new();
    for entry in corpus_kustomization_dirs() {
        let out = Command::new("kubectl")
            .arg("kustomize")
            .arg(corpus().join(&entry))
            .output()
            .expect("kubectl must be installed (scripts/setup installs it)");
        let (tree, path) = load(&entry);
        let mut options = options(&path);
        options.allow_empty = true;
        let ours = render::render(&tree, &options);
        if !out.status.success() {
            let errors = ours.expect_err(&entry);
            refused.push(format!("{entry}: {errors}"));
            continue;
        }
        let expected = parse_yaml_stream(&out.stdout);
        let ours: Vec<Value> = ours
            .unwrap_or_else(|e| panic!("{entry}: {e}"))
            .objects
            .into_iter()
            .map(|m| m.object)
            .collect();
        assert_same_objects(&ours, &expected, &entry);
        identical.push(format!("{entry}: {} objects", ours.len()));
    }
    eprintln!("identical:\n  {}", identical.join("\n  "));
    eprintln!("refused:\n  {}", refused.join("\n  "));
    assert_eq!((identical.len(), refused.len()), (37, 0));
}

#[test]
fn one_render_names_every_refused_feature_of_the_build() {
    assert_render_errors(
        &[
            (
                "kustomization.yaml",
                "resources: [base]\nopenapi:\n  path: schema.json\n",
            ),
            (
                "base/kustomization.yaml",
                "resources: [cm.yaml]\nhelmChartInflationGenerator:\n- chartName: x\nconfigurations: [conf.yaml]\n",
            ),
            ("base/conf.yaml", "templateLabels:\n- path: spec/t\n"),
            (
                "base/cm.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n",
            ),
        ],
        &[
            "kustomization.yaml: line 2: field `openapi` is not supported (not supported yet)",
            "base/kustomization.yaml: line 2: field `helmChartInflationGenerator` is not supported (deprecated by kustomize; use helmCharts)",
            "base/conf.yaml: line 1: field `templateLabels` is not supported (not supported yet)",
        ],
    );
}

/// A project layout kept under `tests/fixtures` (written for these tests
/// after the project's own scaffold; see each fixture's README.md).
fn project(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The object of `kind` named `name` in `objects`.
fn object<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

// Issue #30, finding 1: kubebuilder's `config/default`, whose
// `replacements` write field paths with a leading dot (`.metadata.name`).
#[test]
fn kubebuilder_v4_config_default_matches_live_kubectl_kustomize() {
    let dir = project("kubebuilder-v4");
    let ours = assert_matches_live_kubectl(&dir, "config/default");
    let inject = "shipyard-system/shipyard-serving-cert";
    for (kind, name) in [
        (
            "ValidatingWebhookConfiguration",
            "shipyard-validating-webhook-configuration",
        ),
        (
            "MutatingWebhookConfiguration",
            "shipyard-mutating-webhook-configuration",
        ),
        ("CustomResourceDefinition", "firstmates.fleet.example.org"),
    ] {
        let o = object(&ours, kind, name);
        assert_eq!(
            o["metadata"]["annotations"]["cert-manager.io/inject-ca-from"], inject,
            "{kind}"
        );
    }
    let webhook = object(
        &ours,
        "ValidatingWebhookConfiguration",
        "shipyard-validating-webhook-configuration",
    );
    assert_eq!(
        webhook["webhooks"][1]["clientConfig"]["service"],
        json!({"name": "shipyard-webhook-service", "namespace": "shipyard-system",
               "path": "/validate-fleet-example-org-v2-firstmate"})
    );
    let certificate = object(&ours, "Certificate", "shipyard-serving-cert");
    assert_eq!(
        certificate["spec"]["dnsNames"],
        json!([
            "shipyard-webhook-service.shipyard-system.svc",
            "shipyard-webhook-service.shipyard-system.svc.cluster.local"
        ])
    );
    let crd = object(
        &ours,
        "CustomResourceDefinition",
        "firstmates.fleet.example.org",
    );
    assert_eq!(
        crd["spec"]["conversion"]["webhook"]["clientConfig"]["service"],
        json!({"name": "shipyard-webhook-service", "namespace": "shipyard-system", "path": "/convert"})
    );
}

// Issue #30, finding 5: kubebuilder's `config/samples` with a v1 and a v2
// sample of one resource. kubectl builds both; they are one object of the
// API server, so a render (and a sync) refuses them, saying so.
#[test]
fn one_object_in_two_versions_is_refused_naming_both_versions() {
    let dir = project("kubebuilder-v4");
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir.join("config/samples"))
        .output()
        .expect("kubectl must be installed (scripts/setup installs it)");
    assert!(out.status.success());
    // Read without Plumbline's render, which refuses exactly this.
    let kubectl: Vec<Value> = serde_yaml::Deserializer::from_slice(&out.stdout)
        .map(|document| serde::Deserialize::deserialize(document).unwrap())
        .collect();
    let versions: Vec<&Value> = kubectl
        .iter()
        .filter(|o| o["kind"] == "FirstMate")
        .map(|o| &o["apiVersion"])
        .collect();
    assert_eq!(versions, ["fleet.example.org/v1", "fleet.example.org/v2"]);

    let tree = source::read_local_dir(&dir, &Limits::default()).unwrap();
    let errors = render::render(&tree, &options("config/samples")).unwrap_err();
    assert_eq!(
        errors.to_string(),
        "1 render error(s):\n  same object in two versions: FirstMate.fleet.example.org firstmate-sample \
         is fleet.example.org/v1 in config/samples/fleet_v1_firstmate.yaml: document 1 (line 1) \
         and fleet.example.org/v2 in config/samples/fleet_v2_firstmate.yaml: document 1 (line 1) \
         (the API server stores one object; keep one version)"
    );
    assert_eq!(errors.0[0].reason(), "ObjectInTwoVersions");
}

// Issue #30, finding 2: MetalLB's webhook `configurations` teach kustomize
// where the webhook's service name and namespace live.
#[test]
fn metallb_webhook_configurations_match_live_kubectl_kustomize() {
    let dir = project("metallb");
    let ours = assert_matches_live_kubectl(&dir, "config/native");
    let webhook = object(
        &ours,
        "ValidatingWebhookConfiguration",
        "metallb-webhook-configuration",
    );
    let services: Vec<&Value> = webhook["webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| &w["clientConfig"]["service"]["namespace"])
        .collect();
    // The last webhook's service is not in the build: only the
    // configured namespace field spec (with `create`) gives it one.
    assert_eq!(services, ["metallb-system"; 4]);
}

// Issue #30, finding 3: a component's strategic merge patch that adds env
// entries; merged lists come out in kustomize's order (the patch's items
// first), which `$(VAR)` references depend on.
#[test]
fn a_component_adding_env_entries_orders_them_like_live_kubectl_kustomize() {
    let deployment = "\
apiVersion: apps/v1
kind: Deployment
metadata: {name: api}
spec:
  selector:
    matchLabels: {app: api}
  template:
    metadata:
      labels: {app: api}
    spec:
      containers:
      - name: api
        image: example.com/api:1.4.2
        args: [--listen=:$(PORT)]
        env:
        - {name: LOG_LEVEL, value: info}
        - {name: PORT, value: '8080'}
        - {name: DISABLE_PROFILER, value: 'true'}
        ports:
        - {name: http, containerPort: 8080}
      - name: proxy
        image: example.com/proxy:2
";
    let profiling = "\
apiVersion: kustomize.config.k8s.io/v1alpha1
kind: Component
patches:
- path: profiling.yaml
";
    let profiling_patch = "\
apiVersion: apps/v1
kind: Deployment
metadata: {name: api}
spec:
  template:
    spec:
      containers:
      - name: api
        env:
        - {name: ENABLE_PROFILER, value: 'true'}
        - {name: DISABLE_PROFILER, value: 'false'}
        - {name: PROFILER_PORT, value: '6060'}
        ports:
        - {name: pprof, containerPort: 6060}
";
    let sidecar = "\
apiVersion: kustomize.config.k8s.io/v1alpha1
kind: Component
patches:
- target: {kind: Deployment}
  patch: |-
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: any, finalizers: [example.com/drain]}
    spec:
      template:
        spec:
          containers:
          - name: metrics
            image: example.com/metrics:3
          - name: api
            env:
            - {name: METRICS_ADDR, value: ':9090'}
            - {name: LOG_LEVEL, value: debug}
";
    let dir = fixture(&[
        ("base/kustomization.yaml", "resources: [api.yaml]\n"),
        ("base/api.yaml", deployment),
        ("components/profiling/kustomization.yaml", profiling),
        ("components/profiling/profiling.yaml", profiling_patch),
        ("components/sidecar/kustomization.yaml", sidecar),
        (
            "overlay/kustomization.yaml",
            "resources: [../base]\ncomponents: [../components/profiling, ../components/sidecar]\n",
        ),
    ]);
    let ours = assert_matches_live_kubectl(dir.path(), "overlay");
    let api = object(&ours, "Deployment", "api");
    let containers = &api["spec"]["template"]["spec"]["containers"];
    let env: Vec<&Value> = containers[1]["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["name"])
        .collect();
    assert_eq!(
        env,
        [
            "METRICS_ADDR",
            "LOG_LEVEL",
            "ENABLE_PROFILER",
            "DISABLE_PROFILER",
            "PROFILER_PORT",
            "PORT"
        ]
    );
    assert_eq!(containers[0]["name"], "metrics");
}
