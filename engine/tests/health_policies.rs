//! Health policies on the real control plane (etcd + kube-apiserver
//! v1.36): a sync with a standard health policy judges a custom resource by
//! what its controller writes, where the built-in kstatus rules get it
//! wrong — a cert-manager Certificate, a Crossplane managed resource, a
//! Strimzi Kafka cluster. None of those controllers runs here: the tests
//! write the status through the status subresource, as the controllers do.

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
    health_of(world, extra_spec, LINE).await
}

/// The health a sync reports for the object of report line `object`.
async fn health_of(world: &World, extra_spec: &str, object: &str) -> Health {
    let unit = world.unit(extra_spec);
    let report = world.reconcile(&unit).await;
    assert!(report.errors.is_empty(), "{report:#?}");
    line(&report, object)
        .health
        .clone()
        .unwrap_or_else(|| panic!("no health for {object}: {report:#?}"))
}

/// The `policies` of a sync that uses the standard policy at `module`.
fn using(module: &str) -> String {
    format!("  policies:\n    - module: {module}\n")
}

/// Write `status` through the status subresource of `name`, as the
/// object's controller would; the object as the API server returned it.
async fn write_status(api: &Api<DynamicObject>, name: &str, status: Value) -> Value {
    let written = api
        .patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(&json!({"status": status})),
        )
        .await
        .expect("status subresource");
    serde_json::to_value(&written).expect("JSON")
}

/// An `Api` of the custom resource `group/version kind`, in `namespace`
/// or cluster-scoped.
fn custom(
    world: &World,
    (group, version, kind): (&str, &str, &str),
    namespace: Option<&str>,
) -> Api<DynamicObject> {
    let gvk = kube::api::GroupVersionKind::gvk(group, version, kind);
    let resource = kube::api::ApiResource::from_gvk(&gvk);
    match namespace {
        Some(namespace) => Api::namespaced_with(world.client(), namespace, &resource),
        None => Api::all_with(world.client(), &resource),
    }
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

/// Crossplane's Upbound S3 `Bucket` CRD, reduced to what the API server
/// needs: cluster-scoped, `v1beta1`, with the status subresource.
const BUCKET_CRD: &str = "\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: buckets.s3.aws.upbound.io
spec:
  group: s3.aws.upbound.io
  scope: Cluster
  names: {kind: Bucket, plural: buckets, singular: bucket, listKind: BucketList, categories: [crossplane, managed, aws]}
  versions:
  - name: v1beta1
    served: true
    storage: true
    subresources: {status: {}}
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
";

const BUCKET: &str = "\
apiVersion: s3.aws.upbound.io/v1beta1
kind: Bucket
metadata:
  name: platform-artifacts
spec:
  forProvider: {region: eu-west-1, tags: {team: platform}}
  providerConfigRef: {name: default}
";

async fn a_crossplane_resource_whose_updates_fail_is_failed_by_the_standard_policy_and_not_by_kstatus(
    server: Server,
) {
    let world = World::on(server);
    world
        .repo
        .write("crd.yaml", BUCKET_CRD)
        .write("bucket.yaml", BUCKET)
        .commit("a bucket");
    let with_policy = using(policy_artifacts::CROSSPLANE_HEALTH);
    let bucket_line = "Bucket.s3.aws.upbound.io platform-artifacts";

    // Not observed by a provider yet: the policy waits, kstatus does not.
    let unobserved = health_of(&world, &with_policy, bucket_line).await;
    assert_eq!(
        unobserved,
        Health::InProgress("waiting for the provider to observe the Bucket".into())
    );
    assert_eq!(health_of(&world, "", bucket_line).await, Health::Current);

    // The provider created it and keeps it in sync.
    let buckets = custom(&world, ("s3.aws.upbound.io", "v1beta1", "Bucket"), None);
    let ready = json!({"type": "Ready", "status": "True", "reason": "Available",
                       "lastTransitionTime": "2026-12-07T10:02:11Z", "observedGeneration": 1});
    let synced = json!({"type": "Synced", "status": "True", "reason": "ReconcileSuccess",
                        "lastTransitionTime": "2026-12-07T10:01:40Z", "observedGeneration": 1});
    write_status(
        &buckets,
        "platform-artifacts",
        json!({"conditions": [ready, synced]}),
    )
    .await;
    assert_eq!(
        health_of(&world, &with_policy, bucket_line).await,
        Health::Current
    );

    // Then every update of it fails: Ready stays True, Synced turns False.
    let message = "update failed: async update failed: failed to update the resource: [{0 \
                   updating S3 Bucket (platform-artifacts) tags: api error AccessDenied: Access \
                   Denied  []}]";
    let failing = json!({"type": "Synced", "status": "False", "reason": "ReconcileError",
                         "message": message, "lastTransitionTime": "2026-12-07T11:00:00Z",
                         "observedGeneration": 1});
    let live = write_status(
        &buckets,
        "platform-artifacts",
        json!({"conditions": [ready, failing]}),
    )
    .await;
    assert_eq!(live["status"]["conditions"][1]["reason"], "ReconcileError");
    assert_eq!(
        health_of(&world, &with_policy, bucket_line).await,
        Health::Failed(format!("ReconcileError: {message}"))
    );
    // kstatus reads Ready alone.
    assert_eq!(health::assess(&live), Health::Current);
    assert_eq!(health_of(&world, "", bucket_line).await, Health::Current);
}

/// Strimzi's `Kafka` CRD, reduced to what the API server needs.
const KAFKA_CRD: &str = "\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: kafkas.kafka.strimzi.io
spec:
  group: kafka.strimzi.io
  scope: Namespaced
  names: {kind: Kafka, plural: kafkas, singular: kafka, listKind: KafkaList, shortNames: [k], categories: [strimzi]}
  versions:
  - name: v1beta2
    served: true
    storage: true
    subresources: {status: {}}
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
";

const KAFKA: &str = "\
apiVersion: kafka.strimzi.io/v1beta2
kind: Kafka
metadata:
  name: events
  namespace: kafka
spec:
  kafka:
    version: 4.1.0
    listeners: [{name: tls, port: 9093, type: internal, tls: true}]
    config: {default.replication.factor: 5}
  entityOperator: {topicOperator: {}, userOperator: {}}
";

async fn a_kafka_cluster_strimzi_could_not_reconcile_is_failed_by_the_standard_policy_and_not_by_kstatus(
    server: Server,
) {
    let world = World::on(server);
    world
        .repo
        .write("crd.yaml", KAFKA_CRD)
        .write("kafka.yaml", &namespace("kafka"))
        .write("events.yaml", KAFKA)
        .commit("a kafka cluster");
    let with_policy = using(policy_artifacts::STRIMZI_HEALTH);
    let kafka_line = "Kafka.kafka.strimzi.io kafka/events";
    let kafkas = custom(
        &world,
        ("kafka.strimzi.io", "v1beta2", "Kafka"),
        Some("kafka"),
    );

    // Strimzi's first status: the cluster is being deployed. kstatus knows
    // no NotReady, and calls it current.
    let creating = json!({"conditions": [{
        "type": "NotReady", "status": "True", "reason": "Creating",
        "message": "Kafka cluster is being deployed",
        "lastTransitionTime": "2026-12-07T10:00:03.221Z"}]});
    // The sync applies the Kafka first, so its status can be written.
    assert_eq!(
        health_of(&world, &with_policy, kafka_line).await,
        Health::InProgress("waiting for the Strimzi operator to reconcile the Kafka".into())
    );
    let live = write_status(&kafkas, "events", creating).await;
    assert_eq!(
        health_of(&world, &with_policy, kafka_line).await,
        Health::InProgress("Creating: Kafka cluster is being deployed".into())
    );
    assert_eq!(health::assess(&live), Health::Current);

    // The reconciliation fails on the spec: NotReady with the exception.
    let message = "Kafka configuration option 'default.replication.factor' should be set to 3 or \
                   less because this cluster has only 3 Kafka broker(s).";
    let invalid = json!({"observedGeneration": 1, "conditions": [{
        "type": "NotReady", "status": "True", "reason": "InvalidResourceException",
        "message": message, "lastTransitionTime": "2026-12-07T10:05:00.000Z"}]});
    let live = write_status(&kafkas, "events", invalid).await;
    assert_eq!(live["metadata"]["generation"], 1);
    assert_eq!(
        health_of(&world, &with_policy, kafka_line).await,
        Health::Failed(format!("InvalidResourceException: {message}"))
    );
    assert_eq!(health::assess(&live), Health::Current);
    assert_eq!(health_of(&world, "", kafka_line).await, Health::Current);

    // Fixed and reconciled: Ready.
    let ready = json!({"observedGeneration": 1, "conditions": [{
        "type": "Ready", "status": "True", "lastTransitionTime": "2026-12-07T10:09:00.000Z"}]});
    write_status(&kafkas, "events", ready).await;
    assert_eq!(
        health_of(&world, &with_policy, kafka_line).await,
        Health::Current
    );
}

on_real_server!(
    a_failed_certificate_is_failed_by_the_standard_policy_and_not_by_kstatus,
    a_crossplane_resource_whose_updates_fail_is_failed_by_the_standard_policy_and_not_by_kstatus,
    a_kafka_cluster_strimzi_could_not_reconcile_is_failed_by_the_standard_policy_and_not_by_kstatus,
);
