//! `cert-manager-health`: a health policy for cert-manager's
//! `Certificate`, `CertificateRequest`, `Issuer` and `ClusterIssuer`.
//!
//! kstatus reads a Certificate without a status as current (nothing issued
//! yet) and `Ready=False` as in progress even when issuance failed and
//! cert-manager only retries after a back-off of an hour or more. This
//! policy reads what cert-manager writes:
//!
//! - a Certificate whose issuance failed (`Issuing=False` after a
//!   `status.lastFailureTime`, or `Ready=False` with reason `Failed`) is
//!   **failed**, with cert-manager's message;
//! - one being issued (`Issuing=True`), not yet looked at (no `Ready`), or
//!   whose `Ready` was written for an older generation is **in progress**;
//! - `Ready=True` is **current**;
//! - a CertificateRequest `Denied` or `InvalidRequest`, or `Ready=False`
//!   with reason `Failed` or `Denied`, is failed; `Pending` is in progress;
//! - an Issuer or ClusterIssuer is current when `Ready=True`, failed when
//!   `Ready=False` (its configuration is wrong: a missing CA secret, an
//!   ACME account that cannot register), in progress before `Ready`.

use plumbline_sdk::{
    Assessment, Condition, Context, GroupKind, Health, Metadata, Object, PolicyInfo,
};

/// The policy.
struct CertManagerHealth;

/// cert-manager's API group.
const GROUP: &str = "cert-manager.io";

impl Metadata for CertManagerHealth {
    fn info() -> PolicyInfo {
        PolicyInfo::new(
            "cert-manager-health",
            env!("CARGO_PKG_VERSION"),
            "Health of cert-manager Certificates, CertificateRequests, Issuers and \
             ClusterIssuers: a failed issuance is failed, not in progress.",
        )
    }
}

impl Health for CertManagerHealth {
    fn kinds() -> Vec<GroupKind> {
        [
            "Certificate",
            "CertificateRequest",
            "Issuer",
            "ClusterIssuer",
        ]
        .into_iter()
        .map(|kind| GroupKind::new(GROUP, kind))
        .collect()
    }

    fn assess(live: &Object, _desired: Option<&Object>, _ctx: &Context) -> Assessment {
        match live.kind() {
            "Certificate" => certificate(live),
            "CertificateRequest" => certificate_request(live),
            _ => issuer(live),
        }
    }
}

/// `Ready`, unless it is missing or was written for an older generation:
/// then the verdict is in progress, saying why.
fn ready<'a>(live: &'a Object, waiting: &str) -> Result<Condition<'a>, Assessment> {
    let Some(ready) = live.condition("Ready") else {
        return Err(Assessment::in_progress(waiting));
    };
    match (ready.observed_generation(), live.generation()) {
        (Some(observed), Some(generation)) if observed < generation => {
            Err(Assessment::in_progress(format!(
                "cert-manager has observed generation {observed}, not yet generation {generation}"
            )))
        }
        _ => Ok(ready),
    }
}

fn certificate(live: &Object) -> Assessment {
    let ready = match ready(live, "waiting for cert-manager to issue the certificate") {
        Ok(ready) => ready,
        Err(verdict) => return verdict,
    };
    if let Some(issuing) = live.condition("Issuing") {
        if issuing.is_true() {
            return Assessment::in_progress(issuing.describe());
        }
        let failed_before = live.get("status.lastFailureTime").is_some();
        if issuing.status() == "False" && (failed_before || issuing.reason() == "Failed") {
            return Assessment::failed(issuing.describe());
        }
    }
    match ready.status() {
        "True" => Assessment::current(ready.describe()),
        "False" if ready.reason() == "Failed" => Assessment::failed(ready.describe()),
        _ => Assessment::in_progress(ready.describe()),
    }
}

fn certificate_request(live: &Object) -> Assessment {
    for failure in ["Denied", "InvalidRequest"] {
        if let Some(condition) = live.condition(failure).filter(|c| c.is_true()) {
            return Assessment::failed(condition.describe());
        }
    }
    let ready = match ready(live, "waiting for the issuer to sign the request") {
        Ok(ready) => ready,
        Err(verdict) => return verdict,
    };
    match (ready.status(), ready.reason()) {
        ("True", _) => Assessment::current(ready.describe()),
        ("False", "Failed" | "Denied") => Assessment::failed(ready.describe()),
        _ => Assessment::in_progress(ready.describe()),
    }
}

fn issuer(live: &Object) -> Assessment {
    let ready = match ready(live, "waiting for cert-manager to check the issuer") {
        Ok(ready) => ready,
        Err(verdict) => return verdict,
    };
    match ready.status() {
        "True" => Assessment::current(ready.describe()),
        "False" => Assessment::failed(ready.describe()),
        _ => Assessment::in_progress(ready.describe()),
    }
}

plumbline_sdk::export_policy!(CertManagerHealth, health);
