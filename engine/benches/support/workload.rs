//! The mixed workload of the reconcile and fleet benchmarks: what a
//! platform team's apps look like to the API server. Included with
//! `#[path]` by the benchmarks that use it.

/// `count` objects named `<prefix>-<i>` in `namespace`, as one YAML
/// stream: in turn a Deployment (with quantities the server normalises,
/// `1000m`/`1024Mi`), the Service in front of it, and a ConfigMap.
pub fn mixed_objects(prefix: &str, namespace: &str, count: usize) -> String {
    let mut text = String::new();
    for i in 0..count {
        let name = format!("{prefix}-{i}");
        let app = format!("{prefix}-{}", i - i % 3);
        match i % 3 {
            0 => text.push_str(&format!(
                "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: {namespace}\n\
                 spec:\n  replicas: 2\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    \
                 metadata:\n      labels: {{app: {name}}}\n    spec:\n      containers:\n      - name: main\n        \
                 image: registry.example/app:1.{i}\n        ports:\n        - containerPort: 8080\n        \
                 resources:\n          requests: {{cpu: 1000m, memory: 1024Mi}}\n"
            )),
            1 => text.push_str(&format!(
                "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: {namespace}\n\
                 spec:\n  selector: {{app: {app}}}\n  ports:\n  - name: http\n    port: 80\n    targetPort: 8080\n"
            )),
            _ => text.push_str(&format!(
                "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {namespace}\n\
                 data:\n  mode: fast\n  replicas: \"{i}\"\n"
            )),
        }
    }
    text
}
