//! Containers of workload objects: where each workload kind keeps its pod
//! spec, and a walk over every container in it (regular, init and
//! ephemeral) with the JSON path of each. No IO.

use serde_json::{Map, Value};

use crate::object::Object;

/// Which list of the pod spec a container is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerKind {
    /// `containers`.
    Container,
    /// `initContainers`.
    Init,
    /// `ephemeralContainers`.
    Ephemeral,
}

impl ContainerKind {
    /// The three lists, in the order they are walked.
    const ALL: [ContainerKind; 3] = [
        ContainerKind::Container,
        ContainerKind::Init,
        ContainerKind::Ephemeral,
    ];

    /// The pod spec field holding this list.
    pub fn field(self) -> &'static str {
        match self {
            ContainerKind::Container => "containers",
            ContainerKind::Init => "initContainers",
            ContainerKind::Ephemeral => "ephemeralContainers",
        }
    }
}

/// One container of a workload, with where it sits in the object.
#[derive(Debug, Clone, Copy)]
pub struct Container<'a> {
    kind: ContainerKind,
    index: usize,
    pod_spec_path: &'static str,
    fields: &'a Map<String, Value>,
}

impl<'a> Container<'a> {
    /// Which list the container is in.
    pub fn kind(&self) -> ContainerKind {
        self.kind
    }

    /// Position in its list.
    pub fn index(&self) -> usize {
        self.index
    }

    /// `name` (empty if missing).
    pub fn name(&self) -> &'a str {
        self.fields
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// `image`, if set.
    pub fn image(&self) -> Option<&'a str> {
        self.fields.get("image").and_then(Value::as_str)
    }

    /// All fields of the container.
    pub fn fields(&self) -> &'a Map<String, Value> {
        self.fields
    }

    /// The container's path in the object, e.g.
    /// `spec.template.spec.containers[0]`.
    pub fn path(&self) -> String {
        format!(
            "{}.{}[{}]",
            self.pod_spec_path,
            self.kind.field(),
            self.index
        )
    }

    /// The path of one of the container's fields, e.g.
    /// `spec.template.spec.containers[0].image` for `"image"`.
    pub fn field_path(&self, field: &str) -> String {
        format!("{}.{field}", self.path())
    }
}

/// Where the pod spec of a workload kind lives, as a dotted path, or `None`
/// for kinds that run no pods.
pub(crate) fn pod_spec_path(kind: &str) -> Option<&'static str> {
    match kind {
        "Pod" => Some("spec"),
        "PodTemplate" => Some("template.spec"),
        "Deployment"
        | "StatefulSet"
        | "DaemonSet"
        | "ReplicaSet"
        | "ReplicationController"
        | "Job" => Some("spec.template.spec"),
        "CronJob" => Some("spec.jobTemplate.spec.template.spec"),
        _ => None,
    }
}

impl Object {
    /// Path of this object's pod spec, by kind: `spec` for a Pod,
    /// `template.spec` for a PodTemplate, `spec.template.spec` for
    /// Deployments, StatefulSets, DaemonSets, ReplicaSets,
    /// ReplicationControllers and Jobs, `spec.jobTemplate.spec.template.spec`
    /// for CronJobs; `None` for kinds that run no pods.
    pub fn pod_spec_path(&self) -> Option<&'static str> {
        pod_spec_path(self.kind())
    }

    /// The pod spec of a workload, if this is one and it has a pod spec.
    pub fn pod_spec(&self) -> Option<&Map<String, Value>> {
        self.get(self.pod_spec_path()?)?.as_object()
    }

    /// Every container of a workload (`containers`, then `initContainers`,
    /// then `ephemeralContainers`); empty for other kinds. Entries that are
    /// not objects are skipped.
    pub fn containers(&self) -> Vec<Container<'_>> {
        let (Some(pod_spec_path), Some(pod_spec)) = (self.pod_spec_path(), self.pod_spec()) else {
            return Vec::new();
        };
        let mut containers = Vec::new();
        for kind in ContainerKind::ALL {
            let Some(list) = pod_spec.get(kind.field()).and_then(Value::as_array) else {
                continue;
            };
            for (index, item) in list.iter().enumerate() {
                if let Some(fields) = item.as_object() {
                    containers.push(Container {
                        kind,
                        index,
                        pod_spec_path,
                        fields,
                    });
                }
            }
        }
        containers
    }

    /// Call `f` with every container of a workload, mutably, in the order of
    /// [`Object::containers`]: `f` gets the container's kind, its path (as
    /// [`Container::path`]) and its fields.
    pub fn for_each_container_mut(
        &mut self,
        mut f: impl FnMut(ContainerKind, &str, &mut Map<String, Value>),
    ) {
        let Some(pod_spec_path) = self.pod_spec_path() else {
            return;
        };
        let mut current = self.fields_mut();
        for key in pod_spec_path.split('.') {
            match current.get_mut(key).and_then(Value::as_object_mut) {
                Some(next) => current = next,
                None => return,
            }
        }
        for kind in ContainerKind::ALL {
            let Some(list) = current.get_mut(kind.field()).and_then(Value::as_array_mut) else {
                continue;
            };
            for (index, item) in list.iter_mut().enumerate() {
                if let Some(fields) = item.as_object_mut() {
                    let path = format!("{pod_spec_path}.{}[{index}]", kind.field());
                    f(kind, &path, fields);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Object {
        Object::parse(json).expect("valid object")
    }

    #[test]
    fn walks_all_container_lists_of_a_deployment_with_paths() {
        let object = parse(
            r#"{"kind":"Deployment","spec":{"template":{"spec":{
                "initContainers":[{"name":"init","image":"busybox"}],
                "containers":[{"name":"a","image":"nginx"},{"name":"b"}],
                "ephemeralContainers":[{"name":"debug","image":"alpine"}]}}}}"#,
        );
        let found: Vec<(String, &str, Option<&str>)> = object
            .containers()
            .iter()
            .map(|c| (c.path(), c.name(), c.image()))
            .collect();
        assert_eq!(
            found,
            vec![
                (
                    "spec.template.spec.containers[0]".into(),
                    "a",
                    Some("nginx")
                ),
                ("spec.template.spec.containers[1]".into(), "b", None),
                (
                    "spec.template.spec.initContainers[0]".into(),
                    "init",
                    Some("busybox")
                ),
                (
                    "spec.template.spec.ephemeralContainers[0]".into(),
                    "debug",
                    Some("alpine")
                ),
            ]
        );
    }

    #[test]
    fn finds_the_pod_spec_of_every_workload_kind() {
        let cases = [
            (
                r#"{"kind":"Pod","spec":{"containers":[{"name":"x"}]}}"#,
                "spec.containers[0].image",
            ),
            (
                r#"{"kind":"CronJob","spec":{"jobTemplate":{"spec":{"template":{"spec":{"containers":[{"name":"x"}]}}}}}}"#,
                "spec.jobTemplate.spec.template.spec.containers[0].image",
            ),
            (
                r#"{"kind":"StatefulSet","spec":{"template":{"spec":{"containers":[{"name":"x"}]}}}}"#,
                "spec.template.spec.containers[0].image",
            ),
        ];
        for (json, expected) in cases {
            let object = parse(json);
            let containers = object.containers();
            assert_eq!(containers.len(), 1, "{json}");
            assert_eq!(containers[0].field_path("image"), expected);
        }
    }

    #[test]
    fn other_kinds_and_malformed_specs_have_no_containers() {
        assert!(parse(r#"{"kind":"ConfigMap","data":{}}"#)
            .containers()
            .is_empty());
        assert!(parse(r#"{"kind":"Deployment","spec":{"template":7}}"#)
            .containers()
            .is_empty());
        assert_eq!(
            parse(r#"{"kind":"Pod","spec":{"containers":[3,{"name":"real"}]}}"#)
                .containers()
                .iter()
                .map(|c| (c.index(), c.name()))
                .collect::<Vec<_>>(),
            vec![(1, "real")]
        );
    }

    #[test]
    fn mutates_every_container() {
        let mut object = parse(
            r#"{"kind":"Job","spec":{"template":{"spec":{
                "containers":[{"name":"a"}],"initContainers":[{"name":"b"}]}}}}"#,
        );
        let mut paths = Vec::new();
        object.for_each_container_mut(|kind, path, fields| {
            paths.push((kind, path.to_owned()));
            fields.insert("imagePullPolicy".into(), Value::from("Always"));
        });
        assert_eq!(
            paths,
            vec![
                (
                    ContainerKind::Container,
                    "spec.template.spec.containers[0]".to_owned()
                ),
                (
                    ContainerKind::Init,
                    "spec.template.spec.initContainers[0]".to_owned()
                ),
            ]
        );
        assert!(object
            .containers()
            .iter()
            .all(|c| c.fields().get("imagePullPolicy") == Some(&Value::from("Always"))));
    }
}
