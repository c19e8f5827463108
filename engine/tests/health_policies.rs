//! Health policies on the real control plane (etcd + kube-apiserver
//! v1.36): a sync with the standard `cert-manager-health` policy judges its
//! Certificate by what cert-manager writes, where the built-in kstatus rules
//! get it wrong. There is no cert-manager here: the test writes the
//! Certificate's status through the status subresource, as cert-manager's
//! issuing controller does (`UpdateStatus`).

mod reconcile_support;
mod server_support;

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use plumbline::health::{self, Health};
use reconcile_support::{line, namespace, World};
use serde_json::{json, Value};
use server_support::Server;

/// cert-manager's Certificate CRD, reduced to what the API server needs:
/// the group, names, the `v1` version and the status subresource.
const CERTIFICATE_CRD: &str = "\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: certificates.cert-manager.io
spec:
  group: cert-manager.io
  scope: Namespaced
  names: {kind: Certificate, plural: certificates, singular: certificate, listKind: CertificateList, shortNames: [cert, certs]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
";

const CERTIFICATE: &str = "\
apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: web-tls
  namespace: shop
spec:
  secretName: web-tls
  dnsNames: [shop.example.com]
  issuerRef: {name: letsencrypt, kind: ClusterIssuer}
";

const LINE: &str = "Certificate.cert-manager.io shop/web-tls";

fn certificates(world: &World) -> Api<DynamicObject> {
    let resource = kube::api::ApiResource::from_gvk(&kube::api::GroupVersionKind::gvk(
        "cert-manager.io",
        "v1",
        "Certificate",
    ));
    Api::namespaced_with(world.client(), "shop", &resource)
}

/// The health a sync reports for the Certificate.
async fn reported_health(world: &World, extra_spec: &str) -> Health {
    let unit = world.unit(extra_spec);
    let report = world.reconcile(&unit).await;
    assert!(report.errors.is_empty(), "{report:#?}");
    line(&report, LINE)
        .health
        .clone()
        .unwrap_or_else(|| panic!("no health for the Certificate: {report:#?}"))
}

async fn a_failed_certificate_is_failed_by_the_standard_policy_and_not_by_kstatus(server: Server) {
    let world = World::on(server);
    world
        .repo
        .write("crd.yaml", CERTIFICATE_CRD)
        .write("shop.yaml", &namespace("shop"))
        .write("certificate.yaml", CERTIFICATE)
        .commit("a certificate");
    let with_policy = format!(
        "  policies:\n    - module: {}\n",
        policy_artifacts::CERT_MANAGER_HEALTH
    );

    // Just created, cert-manager has written nothing: kstatus calls that
    // current, the policy waits for cert-manager.
    let created = reported_health(&world, &with_policy).await;
    assert!(
        matches!(&created, Health::InProgress(m) if m.contains("waiting for cert-manager")),
        "{created:?}"
    );
    assert_eq!(reported_health(&world, "").await, Health::Current);

    // cert-manager's issuing controller gives up on this request: Ready is
    // False with reason Failed, written through the status subresource.
    let message = "The certificate request has failed to complete and will be retried: \
                   403 urn:ietf:params:acme:error:unauthorized";
    let status = json!({"status": {
        "lastFailureTime": "2026-12-07T10:00:00Z",
        "failedIssuanceAttempts": 1,
        "conditions": [{
            "type": "Ready", "status": "False", "reason": "Failed", "message": message,
            "observedGeneration": 1, "lastTransitionTime": "2026-12-07T10:00:00Z",
        }],
    }});
    let written = certificates(&world)
        .patch_status("web-tls", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .expect("status subresource");
    let live: Value = serde_json::to_value(&written).expect("JSON");
    assert_eq!(live["status"]["conditions"][0]["reason"], "Failed");
    assert_eq!(live["metadata"]["generation"], 1);

    let failed = reported_health(&world, &with_policy).await;
    assert_eq!(failed, Health::Failed(format!("Failed: {message}")));
    // kstatus: a false Ready is work in progress, not a failure.
    let by_kstatus = health::assess(&live);
    assert!(
        matches!(&by_kstatus, Health::InProgress(m) if m.contains("403")),
        "{by_kstatus:?}"
    );
    assert_eq!(reported_health(&world, "").await, by_kstatus);
    // The policy judges Certificates only: the Namespace keeps kstatus.
    let unit = world.unit(&with_policy);
    let report = world.reconcile(&unit).await;
    assert_eq!(
        line(&report, "Namespace shop").health,
        Some(Health::Current)
    );
}

on_real_server!(a_failed_certificate_is_failed_by_the_standard_policy_and_not_by_kstatus);
