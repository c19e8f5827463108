""":class:`Object`: one Kubernetes-style object, parsed from the JSON text
that crosses the component boundary, with accessors for the fields every
policy reads; and :class:`Container`, the containers of every workload kind
with their JSON paths. No IO."""

import json
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from . import paths
from .types import ERROR, ObjectRef, Violation

__all__ = ["Object", "Container", "pod_spec_path", "CONTAINER_LISTS"]

#: The container lists of a pod spec, in the order they are walked.
CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")

_POD_SPEC_PATHS = {
    "Pod": "spec",
    "PodTemplate": "template.spec",
    "Deployment": "spec.template.spec",
    "StatefulSet": "spec.template.spec",
    "DaemonSet": "spec.template.spec",
    "ReplicaSet": "spec.template.spec",
    "ReplicationController": "spec.template.spec",
    "Job": "spec.template.spec",
    "CronJob": "spec.jobTemplate.spec.template.spec",
}


def pod_spec_path(kind: str) -> Optional[str]:
    """Where a workload kind keeps its pod spec (``spec`` for a Pod,
    ``template.spec`` for a PodTemplate, ``spec.template.spec`` for
    Deployments, StatefulSets, DaemonSets, ReplicaSets,
    ReplicationControllers and Jobs, ``spec.jobTemplate.spec.template.spec``
    for CronJobs), or ``None`` for kinds that run no pods."""
    return _POD_SPEC_PATHS.get(kind)


class Object:
    """One object: :attr:`fields` is the parsed JSON object (a ``dict``),
    which a transformer may change in place."""

    __slots__ = ("fields",)

    def __init__(self, fields: Dict[str, Any]):
        if not isinstance(fields, dict):
            raise TypeError("an object must be a JSON object, found %s" % type(fields).__name__)
        self.fields = fields

    @classmethod
    def parse(cls, text: str) -> "Object":
        """Parse JSON text; raises ``ValueError`` if it is not a JSON object."""
        value = json.loads(text)
        if not isinstance(value, dict):
            raise ValueError("an object must be a JSON object")
        return cls(value)

    @classmethod
    def parse_or_none(cls, text: str) -> Optional["Object"]:
        """:meth:`parse`, or ``None`` if the text is not a JSON object."""
        try:
            return cls.parse(text)
        except ValueError:
            return None

    def to_json(self) -> str:
        """Compact JSON text of the object."""
        return json.dumps(self.fields, ensure_ascii=False, separators=(",", ":"))

    def get(self, path: str, default=None):
        """The value at a dotted path with indices
        (``spec.template.spec.containers[0].image``), or ``default``."""
        current: Any = self.fields
        for step in paths.parse(path):
            if isinstance(step, int):
                if not isinstance(current, list) or not 0 <= step < len(current):
                    return default
            elif not isinstance(current, dict) or step not in current:
                return default
            current = current[step]
        return current

    def condition(self, condition_type: str):
        """The :class:`~plumbline_policy.health.Condition` of this type in
        ``status.conditions``, or ``None``."""
        from .health import Condition
        for entry in self.get("status.conditions") or []:
            if isinstance(entry, dict) and entry.get("type") == condition_type:
                return Condition(entry)
        return None

    @property
    def generation(self) -> Optional[int]:
        """``metadata.generation``, if it is a number."""
        value = self.get("metadata.generation")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def _str(self, value) -> str:
        return value if isinstance(value, str) else ""

    @property
    def api_version(self) -> str:
        """``apiVersion`` (``""`` if missing)."""
        return self._str(self.fields.get("apiVersion"))

    @property
    def kind(self) -> str:
        """``kind`` (``""`` if missing)."""
        return self._str(self.fields.get("kind"))

    @property
    def metadata(self) -> Optional[Dict[str, Any]]:
        """``metadata``, if it is a map."""
        metadata = self.fields.get("metadata")
        return metadata if isinstance(metadata, dict) else None

    @property
    def name(self) -> str:
        """``metadata.name`` (``""`` if missing)."""
        return self._str((self.metadata or {}).get("name"))

    @property
    def namespace(self) -> Optional[str]:
        """``metadata.namespace``, if set."""
        namespace = (self.metadata or {}).get("namespace")
        return namespace if isinstance(namespace, str) else None

    @property
    def labels(self) -> Optional[Dict[str, Any]]:
        """``metadata.labels``, if it is a map."""
        labels = (self.metadata or {}).get("labels")
        return labels if isinstance(labels, dict) else None

    def label(self, key: str) -> Optional[str]:
        """The value of one label, if it is a string."""
        value = (self.labels or {}).get(key)
        return value if isinstance(value, str) else None

    @property
    def annotations(self) -> Optional[Dict[str, Any]]:
        """``metadata.annotations``, if it is a map."""
        annotations = (self.metadata or {}).get("annotations")
        return annotations if isinstance(annotations, dict) else None

    def annotation(self, key: str) -> Optional[str]:
        """The value of one annotation, if it is a string."""
        value = (self.annotations or {}).get(key)
        return value if isinstance(value, str) else None

    def metadata_map(self, field: str) -> Dict[str, Any]:
        """``metadata.<field>`` as a map, creating ``metadata`` and the map
        (or replacing a value that is not a map) if needed."""
        metadata = self.fields.get("metadata")
        if not isinstance(metadata, dict):
            metadata = self.fields["metadata"] = {}
        value = metadata.get(field)
        if not isinstance(value, dict):
            value = metadata[field] = {}
        return value

    def set_label(self, key: str, value: str) -> None:
        """Set a label, creating ``metadata.labels`` if needed."""
        self.metadata_map("labels")[key] = value

    def set_annotation(self, key: str, value: str) -> None:
        """Set an annotation, creating ``metadata.annotations`` if needed."""
        self.metadata_map("annotations")[key] = value

    def ref(self) -> ObjectRef:
        """The reference the host uses to name this object."""
        return ObjectRef(self.api_version, self.kind, self.namespace, self.name)

    def violation(self, path: str, message: str, severity: str = ERROR) -> Violation:
        """A violation about this object at ``path`` (``""`` for the whole
        object)."""
        return Violation(message=message, severity=severity, target=self.ref(), path=path)

    @property
    def pod_spec_path(self) -> Optional[str]:
        """Where this object's kind keeps its pod spec (see
        :func:`pod_spec_path`)."""
        return pod_spec_path(self.kind)

    def pod_spec(self) -> Optional[Dict[str, Any]]:
        """The pod spec of a workload, if this is one and it has one."""
        path = self.pod_spec_path
        spec = self.get(path) if path else None
        return spec if isinstance(spec, dict) else None

    def containers(self) -> List["Container"]:
        """Every container of a workload (``containers``, then
        ``initContainers``, then ``ephemeralContainers``); empty for other
        kinds. Entries that are not maps are skipped. The containers' fields
        are the object's own: changing them changes the object."""
        spec = self.pod_spec()
        if spec is None:
            return []
        found = []
        for field in CONTAINER_LISTS:
            items = spec.get(field)
            if not isinstance(items, list):
                continue
            for i, item in enumerate(items):
                if isinstance(item, dict):
                    found.append(Container(field, i, self.pod_spec_path, item))
        return found

    def __repr__(self) -> str:
        return "Object(%s)" % self.ref()

    def __eq__(self, other) -> bool:
        return isinstance(other, Object) and self.fields == other.fields


@dataclass
class Container:
    """One container of a workload, with where it sits in the object."""

    #: Which list it is in: ``containers``, ``initContainers`` or ``ephemeralContainers``.
    in_list: str
    #: Position in its list.
    index: int
    #: The pod spec's path, e.g. ``spec.template.spec``.
    pod_spec_path: str
    #: The container's fields (the object's own map).
    fields: Dict[str, Any]

    @property
    def name(self) -> str:
        """``name`` (``""`` if missing)."""
        name = self.fields.get("name")
        return name if isinstance(name, str) else ""

    @property
    def image(self) -> Optional[str]:
        """``image``, if set."""
        image = self.fields.get("image")
        return image if isinstance(image, str) else None

    @property
    def path(self) -> str:
        """The container's path, e.g. ``spec.template.spec.containers[0]``."""
        return "%s.%s[%d]" % (self.pod_spec_path, self.in_list, self.index)

    def field_path(self, field: str) -> str:
        """The path of one of its fields, e.g. ``...containers[0].image``."""
        return paths.child(self.path, field)
