//! Kubernetes names: checks of names written in settings (label and
//! annotation keys, label values, namespace names), each returning
//! `Err(reason)` with a sentence fragment that follows the setting's name;
//! and [`describe`], how messages name an object. No IO.

/// How a message names an object: `Deployment shop/web`, `ClusterRole
/// admin` without a namespace, `ConfigMap <unnamed>` without a name.
pub fn describe(kind: &str, namespace: Option<&str>, name: &str) -> String {
    let name = if name.is_empty() { "<unnamed>" } else { name };
    match namespace.filter(|ns| !ns.is_empty()) {
        Some(namespace) => format!("{kind} {namespace}/{name}"),
        None => format!("{kind} {name}"),
    }
}

/// A label or annotation key: an optional DNS subdomain prefix and `/`,
/// then a name of at most 63 characters (alphanumerics, `-`, `_`, `.`,
/// starting and ending with an alphanumeric).
pub fn check_qualified_name(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        if !is_dns_subdomain(prefix) {
            return Err(format!(
                "key `{key}` has an invalid prefix `{prefix}` (it must be a lower-case DNS \
                 subdomain of at most 253 characters)"
            ));
        }
    }
    if name.is_empty() || name.len() > 63 || !is_name_body(name) {
        return Err(format!(
            "key `{key}` is not a valid name (at most 63 characters: alphanumerics, `-`, `_` \
             and `.`, starting and ending with an alphanumeric)"
        ));
    }
    Ok(())
}

/// A label value: empty, or at most 63 characters (alphanumerics, `-`,
/// `_`, `.`, starting and ending with an alphanumeric).
pub fn check_label_value(value: &str) -> Result<(), String> {
    if value.is_empty() || (value.len() <= 63 && is_name_body(value)) {
        Ok(())
    } else {
        Err(format!(
            "value `{value}` is not a valid label value (at most 63 characters: alphanumerics, \
             `-`, `_` and `.`, starting and ending with an alphanumeric)"
        ))
    }
}

/// A namespace name: an RFC 1123 label (at most 63 lower-case
/// alphanumerics or `-`, starting and ending with an alphanumeric).
pub fn check_namespace(name: &str) -> Result<(), String> {
    if is_dns_label(name) {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a valid namespace name (at most 63 lower-case alphanumerics or `-`, \
             starting and ending with an alphanumeric)"
        ))
    }
}

fn is_name_body(s: &str) -> bool {
    let bytes = s.as_bytes();
    bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns_label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_objects_with_and_without_namespace_and_name() {
        assert_eq!(
            describe("Deployment", Some("shop"), "web"),
            "Deployment shop/web"
        );
        assert_eq!(describe("ClusterRole", None, "admin"), "ClusterRole admin");
        assert_eq!(describe("ConfigMap", Some(""), ""), "ConfigMap <unnamed>");
    }

    #[test]
    fn checks_keys_values_and_namespaces() {
        assert!(check_qualified_name("team").is_ok());
        assert!(check_qualified_name("app.kubernetes.io/name").is_ok());
        assert!(check_qualified_name("Example.com/x").is_err());
        assert!(check_qualified_name("a/").is_err());
        assert!(check_qualified_name("-x").is_err());
        assert!(check_label_value("").is_ok());
        assert!(check_label_value("v1.2_beta-3").is_ok());
        assert!(check_label_value("has space").is_err());
        assert!(check_label_value(&"x".repeat(64)).is_err());
        assert!(check_namespace("shop-1").is_ok());
        assert!(check_namespace("Shop").is_err());
        assert!(check_namespace("").is_err());
    }
}
