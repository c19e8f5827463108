//! Registry credentials from a docker `config.json` (`docker login`,
//! `oras login`, `helm registry login` write it), the format a
//! `kubernetes.io/dockerconfigjson` Secret holds too. No IO but
//! [`from_user_config`], which reads the user's file.

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::Engine as _;
use serde::Deserialize;

use super::Auth;

/// The part of a docker `config.json` Plumbline reads.
#[derive(Debug, Default, Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, Entry>,
}

/// One registry's entry.
#[derive(Debug, Default, Deserialize)]
struct Entry {
    /// base64 of `user:password`.
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    /// A bearer token for the registry.
    #[serde(default)]
    registrytoken: Option<String>,
}

/// The credentials a docker config (`config.json`, or a
/// `.dockerconfigjson`) gives for `registry` (`host[:port]`); anonymous when
/// it has no entry for it. `Err` says what is malformed, never a secret.
pub fn from_docker_config(json: &[u8], registry: &str) -> Result<Auth, String> {
    let config: DockerConfig =
        serde_json::from_slice(json).map_err(|e| format!("not a docker config.json: {e}"))?;
    let Some(entry) = config
        .auths
        .iter()
        .find(|(key, _)| host_of(key) == registry)
        .map(|(_, entry)| entry)
    else {
        return Ok(Auth::Anonymous);
    };
    if let Some(token) = &entry.registrytoken {
        return Ok(Auth::Bearer(token.clone()));
    }
    if let (Some(username), Some(password)) = (&entry.username, &entry.password) {
        return Ok(Auth::Basic {
            username: username.clone(),
            password: password.clone(),
        });
    }
    if let Some(encoded) = &entry.auth {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| format!("the auth of {registry} is not base64"))?;
        let text = String::from_utf8(decoded)
            .map_err(|_| format!("the auth of {registry} is not UTF-8"))?;
        let (username, password) = text
            .split_once(':')
            .ok_or_else(|| format!("the auth of {registry} is not user:password"))?;
        return Ok(Auth::Basic {
            username: username.to_owned(),
            password: password.to_owned(),
        });
    }
    Ok(Auth::Anonymous)
}

/// The host of a `config.json` key: keys are `host`, `https://host` or
/// `https://host/v1/`.
fn host_of(key: &str) -> &str {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    key.split('/').next().unwrap_or(key)
}

/// The user's docker config: `$DOCKER_CONFIG/config.json`, else
/// `~/.docker/config.json`.
pub fn user_config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".docker/config.json"))
}

/// The credentials the user's docker config gives for `registry`;
/// anonymous when there is no file or no entry.
pub fn from_user_config(registry: &str) -> Result<Auth, String> {
    let Some(path) = user_config_path() else {
        return Ok(Auth::Anonymous);
    };
    match std::fs::read(&path) {
        Ok(json) => {
            from_docker_config(&json, registry).map_err(|e| format!("{}: {e}", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Auth::Anonymous),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_give_basic_or_bearer_credentials_by_host() {
        let config = br#"{"auths": {
            "https://ghcr.io": {"auth": "Y2k6czNjcmV0"},
            "127.0.0.1:5000": {"username": "u", "password": "p"},
            "https://index.docker.io/v1/": {"registrytoken": "tok"}
        }}"#;
        let basic = |u: &str, p: &str| Auth::Basic {
            username: u.into(),
            password: p.into(),
        };
        assert_eq!(
            from_docker_config(config, "ghcr.io"),
            Ok(basic("ci", "s3cret"))
        );
        assert_eq!(
            from_docker_config(config, "127.0.0.1:5000"),
            Ok(basic("u", "p"))
        );
        assert_eq!(
            from_docker_config(config, "index.docker.io"),
            Ok(Auth::Bearer("tok".into()))
        );
        assert_eq!(from_docker_config(config, "quay.io"), Ok(Auth::Anonymous));
    }

    #[test]
    fn malformed_configs_are_refused_without_showing_secrets() {
        let error =
            from_docker_config(br#"{"auths": {"r.io": {"auth": "!!"}}}"#, "r.io").unwrap_err();
        assert!(
            error.contains("r.io") && error.contains("base64"),
            "{error}"
        );
        assert!(from_docker_config(b"{\"auths\": 1}", "r.io").is_err());
    }

    #[test]
    fn credentials_never_show_in_debug_output() {
        let auth = Auth::Basic {
            username: "ci".into(),
            password: "s3cret".into(),
        };
        assert!(!format!("{auth:?}").contains("s3cret"));
        assert!(!format!("{:?}", Auth::Bearer("tok".into())).contains("tok"));
    }
}
