//! What a real API server does to an object on every write before storing it: resource
//! quantities canonicalised (`1000m` -> `1`, `1024Mi` -> `1Gi`, `0.5` -> `500m`) and per-kind
//! defaults (Deployment strategy, Service clusterIP, container pull policy, ...). Pure functions
//! over JSON; the store decides when to call them.

use serde_json::{json, Value};

/// Quantity formats, as in apimachinery's `resource.Quantity`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Format {
    BinarySi,
    DecimalSi,
    DecimalExponent,
}

const NANO: i128 = 1_000_000_000;

/// Parses a quantity into nano-units (rounded up, like the real server) and its format.
fn parse_quantity(s: &str) -> Option<(i128, Format)> {
    let s = s.trim();
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let num_end = body
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(body.len());
    let (num, suffix) = body.split_at(num_end);
    if num.is_empty() || num == "." || num.matches('.').count() > 1 {
        return None;
    }
    let (int_part, frac_part) = num.split_once('.').unwrap_or((num, ""));
    let digits = format!("{int_part}{frac_part}");
    if digits.len() > 30 {
        return None;
    }
    let mantissa: i128 = digits.parse().ok()?;
    let frac = frac_part.len() as i32;
    let (pow10, pow1024, format) = match suffix {
        "" => (0, 0, Format::DecimalSi),
        "n" => (-9, 0, Format::DecimalSi),
        "u" => (-6, 0, Format::DecimalSi),
        "m" => (-3, 0, Format::DecimalSi),
        "k" => (3, 0, Format::DecimalSi),
        "M" => (6, 0, Format::DecimalSi),
        "G" => (9, 0, Format::DecimalSi),
        "T" => (12, 0, Format::DecimalSi),
        "P" => (15, 0, Format::DecimalSi),
        "E" => (18, 0, Format::DecimalSi),
        "Ki" => (0, 1, Format::BinarySi),
        "Mi" => (0, 2, Format::BinarySi),
        "Gi" => (0, 3, Format::BinarySi),
        "Ti" => (0, 4, Format::BinarySi),
        "Pi" => (0, 5, Format::BinarySi),
        "Ei" => (0, 6, Format::BinarySi),
        e if e.starts_with(['e', 'E']) => (
            e[1..].parse::<i32>().ok().filter(|x| x.abs() <= 18)?,
            0,
            Format::DecimalExponent,
        ),
        _ => return None,
    };
    let mut v = mantissa.checked_mul(1024i128.checked_pow(pow1024)?)?;
    let exp = pow10 + 9 - frac;
    if exp >= 0 {
        v = v.checked_mul(10i128.checked_pow(exp as u32)?)?;
    } else {
        let d = 10i128.checked_pow((-exp) as u32)?;
        v = (v + d - 1) / d;
    }
    Some((if neg { -v } else { v }, format))
}

/// Formats nano-units in canonical form for `format`.
fn format_quantity(nano: i128, format: Format) -> String {
    if nano == 0 {
        return "0".into();
    }
    let sign = if nano < 0 { "-" } else { "" };
    let abs = nano.abs();
    if format == Format::BinarySi && abs >= 1024 * NANO && abs % NANO == 0 {
        let bytes = abs / NANO;
        let suffixes = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
        let k = (0..suffixes.len())
            .rev()
            .find(|k| bytes % 1024i128.pow(*k as u32) == 0)
            .unwrap_or(0);
        return format!("{sign}{}{}", bytes / 1024i128.pow(k as u32), suffixes[k]);
    }
    let exps: [(i32, &str); 10] = [
        (18, "E"),
        (15, "P"),
        (12, "T"),
        (9, "G"),
        (6, "M"),
        (3, "k"),
        (0, ""),
        (-3, "m"),
        (-6, "u"),
        (-9, "n"),
    ];
    for (e, suffix) in exps {
        let unit = 10i128.pow((e + 9) as u32);
        if abs % unit == 0 {
            let suffix = match (format, e) {
                (Format::DecimalExponent, 0) => String::new(),
                (Format::DecimalExponent, e) => format!("e{e}"),
                _ => suffix.to_string(),
            };
            return format!("{sign}{}{suffix}", abs / unit);
        }
    }
    format!("{sign}{abs}n")
}

/// The canonical form of a quantity string, or `None` if it does not parse.
pub fn canonical_quantity(s: &str) -> Option<String> {
    parse_quantity(s).map(|(v, f)| format_quantity(v, f))
}

fn canonicalize_map(map: Option<&mut Value>) {
    if let Some(Value::Object(m)) = map {
        for v in m.values_mut() {
            let canon = match v {
                Value::String(s) => canonical_quantity(s),
                Value::Number(n) => canonical_quantity(&n.to_string()),
                _ => None,
            };
            if let Some(c) = canon {
                *v = Value::String(c);
            }
        }
    }
}

/// The JSON pointer of the pod spec inside an object of `kind`, if it has one.
fn pod_spec_pointer(kind: &str) -> Option<&'static str> {
    match kind {
        "Pod" => Some("/spec"),
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" => {
            Some("/spec/template/spec")
        }
        "CronJob" => Some("/spec/jobTemplate/spec/template/spec"),
        _ => None,
    }
}

/// Canonicalises resource quantities in container resources (and PVC requests) in place.
pub fn canonicalize_quantities(kind: &str, obj: &mut Value) {
    if let Some(spec) = pod_spec_pointer(kind).and_then(|p| obj.pointer_mut(p)) {
        for list in ["containers", "initContainers", "ephemeralContainers"] {
            if let Some(Value::Array(cs)) = spec.get_mut(list) {
                for c in cs {
                    canonicalize_map(c.pointer_mut("/resources/limits"));
                    canonicalize_map(c.pointer_mut("/resources/requests"));
                }
            }
        }
        canonicalize_map(spec.get_mut("overhead"));
    }
    if kind == "PersistentVolumeClaim" {
        canonicalize_map(obj.pointer_mut("/spec/resources/requests"));
        canonicalize_map(obj.pointer_mut("/spec/resources/limits"));
    }
    if kind == "StatefulSet" {
        if let Some(Value::Array(ts)) = obj.pointer_mut("/spec/volumeClaimTemplates") {
            for t in ts {
                canonicalize_map(t.pointer_mut("/spec/resources/requests"));
            }
        }
    }
}

/// Sets `key` to `value` in `obj` when it is an object and the key is absent or null.
fn default(obj: &mut Value, key: &str, value: Value) {
    if let Value::Object(m) = obj {
        match m.get(key) {
            None | Some(Value::Null) => {
                m.insert(key.to_string(), value);
            }
            _ => {}
        }
    }
}

/// Returns the object at `key`, creating an empty one if absent.
fn child<'a>(obj: &'a mut Value, key: &str) -> &'a mut Value {
    default(obj, key, json!({}));
    obj.get_mut(key)
        .unwrap_or_else(|| unreachable!("just inserted"))
}

fn pull_policy(image: &str) -> &'static str {
    let without_digest = image.split('@').next().unwrap_or(image);
    if image.contains('@') {
        return "IfNotPresent";
    }
    let last = without_digest.rsplit('/').next().unwrap_or(without_digest);
    match last.split_once(':') {
        Some((_, "latest")) | None => "Always",
        Some(_) => "IfNotPresent",
    }
}

fn default_probe(probe: &mut Value) {
    if !probe.is_object() {
        return;
    }
    default(probe, "timeoutSeconds", json!(1));
    default(probe, "periodSeconds", json!(10));
    default(probe, "successThreshold", json!(1));
    default(probe, "failureThreshold", json!(3));
    if let Some(h) = probe.get_mut("httpGet") {
        default(h, "scheme", json!("HTTP"));
        default(h, "path", json!("/"));
    }
}

fn default_pod_spec(spec: &mut Value, restart_policy: bool) {
    if restart_policy {
        default(spec, "restartPolicy", json!("Always"));
    }
    default(spec, "dnsPolicy", json!("ClusterFirst"));
    default(spec, "schedulerName", json!("default-scheduler"));
    default(spec, "securityContext", json!({}));
    default(spec, "terminationGracePeriodSeconds", json!(30));
    for list in ["containers", "initContainers"] {
        if let Some(Value::Array(cs)) = spec.get_mut(list) {
            for c in cs {
                let image = c
                    .get("image")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                default(c, "imagePullPolicy", json!(pull_policy(&image)));
                default(c, "terminationMessagePath", json!("/dev/termination-log"));
                default(c, "terminationMessagePolicy", json!("File"));
                if let Some(Value::Array(ports)) = c.get_mut("ports") {
                    for p in ports {
                        default(p, "protocol", json!("TCP"));
                    }
                }
                for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
                    if let Some(p) = c.get_mut(probe) {
                        default_probe(p);
                    }
                }
            }
        }
    }
    if let Some(Value::Array(vols)) = spec.get_mut("volumes") {
        for v in vols {
            for src in ["configMap", "secret"] {
                if let Some(s) = v.get_mut(src) {
                    default(s, "defaultMode", json!(420));
                }
            }
        }
    }
}

/// Base64 (standard alphabet, padded), for Secret `stringData`.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Allocators the defaults need: a fresh cluster IP and a fresh node port.
pub trait Allocator {
    /// The next free cluster IP.
    fn cluster_ip(&mut self) -> String;
    /// The next free node port.
    fn node_port(&mut self) -> i64;
}

/// Applies a real server's defaults for `kind` to `obj` in place. `old` is the stored object on
/// update (allocated values such as `clusterIP` are carried over).
pub fn apply_defaults(kind: &str, obj: &mut Value, old: Option<&Value>, alloc: &mut dyn Allocator) {
    canonicalize_quantities(kind, obj);
    let spec_ptr = pod_spec_pointer(kind);
    let jobish = matches!(kind, "Job" | "CronJob");
    if let Some(spec) = spec_ptr.and_then(|p| obj.pointer_mut(p)) {
        default_pod_spec(spec, !jobish);
    }
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    match kind {
        "Deployment" => {
            let spec = child(obj, "spec");
            default(spec, "replicas", json!(1));
            default(spec, "revisionHistoryLimit", json!(10));
            default(spec, "progressDeadlineSeconds", json!(600));
            let strategy = child(spec, "strategy");
            default(strategy, "type", json!("RollingUpdate"));
            if strategy.get("type") == Some(&json!("RollingUpdate")) {
                let ru = child(strategy, "rollingUpdate");
                default(ru, "maxSurge", json!("25%"));
                default(ru, "maxUnavailable", json!("25%"));
            }
        }
        "StatefulSet" => {
            let spec = child(obj, "spec");
            default(spec, "replicas", json!(1));
            default(spec, "revisionHistoryLimit", json!(10));
            default(spec, "podManagementPolicy", json!("OrderedReady"));
            default(
                spec,
                "persistentVolumeClaimRetentionPolicy",
                json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
            );
            let strategy = child(spec, "updateStrategy");
            default(strategy, "type", json!("RollingUpdate"));
            if strategy.get("type") == Some(&json!("RollingUpdate")) {
                default(child(strategy, "rollingUpdate"), "partition", json!(0));
            }
            if let Some(Value::Array(ts)) = spec.get_mut("volumeClaimTemplates") {
                for t in ts {
                    default(t, "apiVersion", json!("v1"));
                    default(t, "kind", json!("PersistentVolumeClaim"));
                    default(child(t, "spec"), "volumeMode", json!("Filesystem"));
                    default(child(t, "status"), "phase", json!("Pending"));
                }
            }
        }
        "DaemonSet" => {
            let spec = child(obj, "spec");
            default(spec, "revisionHistoryLimit", json!(10));
            let strategy = child(spec, "updateStrategy");
            default(strategy, "type", json!("RollingUpdate"));
            if strategy.get("type") == Some(&json!("RollingUpdate")) {
                let ru = child(strategy, "rollingUpdate");
                default(ru, "maxUnavailable", json!(1));
                default(ru, "maxSurge", json!(0));
            }
        }
        "Job" => {
            let spec = child(obj, "spec");
            default(spec, "backoffLimit", json!(6));
            default(spec, "completions", json!(1));
            default(spec, "parallelism", json!(1));
            default(spec, "completionMode", json!("NonIndexed"));
            default(spec, "suspend", json!(false));
        }
        "CronJob" => {
            let spec = child(obj, "spec");
            default(spec, "concurrencyPolicy", json!("Allow"));
            default(spec, "suspend", json!(false));
            default(spec, "successfulJobsHistoryLimit", json!(3));
            default(spec, "failedJobsHistoryLimit", json!(1));
        }
        "Service" => default_service(obj, old, alloc),
        "Namespace" => {
            default(child(obj, "spec"), "finalizers", json!(["kubernetes"]));
            default(child(obj, "status"), "phase", json!("Active"));
            let labels = child(child(obj, "metadata"), "labels");
            if let Value::Object(l) = labels {
                l.insert("kubernetes.io/metadata.name".into(), json!(name));
            }
        }
        "Secret" => {
            default(obj, "type", json!("Opaque"));
            if let Some(Value::Object(sd)) =
                obj.as_object_mut().and_then(|m| m.remove("stringData"))
            {
                let data = child(obj, "data");
                if let Value::Object(d) = data {
                    for (k, v) in sd {
                        d.insert(k, json!(base64(v.as_str().unwrap_or("").as_bytes())));
                    }
                }
            }
        }
        "PersistentVolumeClaim" => {
            default(child(obj, "spec"), "volumeMode", json!("Filesystem"));
            default(child(obj, "status"), "phase", json!("Pending"));
        }
        "NetworkPolicy" => {
            let spec = child(obj, "spec");
            let has_egress = spec.get("egress").is_some();
            default(
                spec,
                "policyTypes",
                if has_egress {
                    json!(["Ingress", "Egress"])
                } else {
                    json!(["Ingress"])
                },
            );
        }
        "CustomResourceDefinition" => {
            let spec = child(obj, "spec");
            default(spec, "conversion", json!({"strategy": "None"}));
            let names = child(spec, "names");
            let kind_name = names
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            default(names, "singular", json!(kind_name.to_lowercase()));
            default(names, "listKind", json!(format!("{kind_name}List")));
        }
        _ => {}
    }
}

fn default_service(obj: &mut Value, old: Option<&Value>, alloc: &mut dyn Allocator) {
    let old_spec = old
        .and_then(|o| o.get("spec"))
        .cloned()
        .unwrap_or(Value::Null);
    let spec = child(obj, "spec");
    default(spec, "type", json!("ClusterIP"));
    let svc_type = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
        .to_string();
    default(spec, "sessionAffinity", json!("None"));
    if svc_type != "ExternalName" {
        for k in ["clusterIP", "clusterIPs"] {
            if let Some(v) = old_spec.get(k) {
                default(spec, k, v.clone());
            }
        }
        if spec
            .get("clusterIP")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            let ip = alloc.cluster_ip();
            spec["clusterIP"] = json!(ip);
        }
        let ip = spec["clusterIP"].clone();
        default(spec, "clusterIPs", json!([ip]));
        default(spec, "ipFamilies", json!(["IPv4"]));
        default(spec, "ipFamilyPolicy", json!("SingleStack"));
        default(spec, "internalTrafficPolicy", json!("Cluster"));
    }
    let node_ports = matches!(svc_type.as_str(), "NodePort" | "LoadBalancer");
    if node_ports {
        default(spec, "externalTrafficPolicy", json!("Cluster"));
    }
    let old_ports: Vec<Value> = old_spec
        .get("ports")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if let Some(Value::Array(ports)) = spec.get_mut("ports") {
        for p in ports {
            default(p, "protocol", json!("TCP"));
            if let Some(port) = p.get("port").cloned() {
                default(p, "targetPort", port);
            }
            if node_ports {
                let same = old_ports.iter().find(|o| {
                    o.get("port") == p.get("port")
                        && o.get("protocol").unwrap_or(&json!("TCP")) == &p["protocol"]
                });
                match same.and_then(|o| o.get("nodePort")) {
                    Some(np) => default(p, "nodePort", np.clone()),
                    None => default(p, "nodePort", json!(alloc.node_port())),
                }
            }
        }
    }
    if let Value::Object(m) = obj {
        m.entry("status")
            .or_insert_with(|| json!({"loadBalancer": {}}));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_are_canonical() {
        let cases = [
            ("1000m", "1"),
            ("1024Mi", "1Gi"),
            ("0.5", "500m"),
            ("100m", "100m"),
            ("1.5Gi", "1536Mi"),
            ("2000", "2k"),
            ("128974848", "128974848"),
            ("129e6", "129e6"),
            ("1e3", "1e3"),
            ("0.1", "100m"),
            ("512Mi", "512Mi"),
            ("0.5Gi", "512Mi"),
            ("1Ki", "1Ki"),
            ("500", "500"),
            ("0", "0"),
            ("1.5", "1500m"),
        ];
        for (input, want) in cases {
            assert_eq!(canonical_quantity(input).as_deref(), Some(want), "{input}");
        }
        assert_eq!(canonical_quantity("abc"), None);
    }

    #[test]
    fn base64_matches_reference() {
        assert_eq!(base64(b"hello"), "aGVsbG8=");
        assert_eq!(base64(b"hi!"), "aGkh");
        assert_eq!(base64(b"a"), "YQ==");
    }
}
