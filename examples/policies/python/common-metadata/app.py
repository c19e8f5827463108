"""common-metadata, in Python: a transformer. Adds the ``labels`` and
``annotations`` from its settings to every object's metadata. A key the
object already has keeps its value unless ``overwrite: true``. With
``includeTemplates: true`` they are also added to pod templates
(``spec.template.metadata`` of Deployments, StatefulSets, DaemonSets,
ReplicaSets, ReplicationControllers and Jobs; ``spec.jobTemplate.metadata``
and ``spec.jobTemplate.spec.template.metadata`` of CronJobs;
``template.metadata`` of PodTemplates). Selectors are never touched.

A port of policies/common-metadata (Rust); the same suite
(policies/common-metadata/tests/suite.yaml) passes against both.
"""

from plumbline_policy import PolicyError, Settings, SettingsError, Transformer, export, names

# Where the pod templates (or job templates) of a kind keep their metadata's
# parent, as paths of keys.
TEMPLATE_PARENTS = {
    "Deployment": [["spec", "template"]],
    "StatefulSet": [["spec", "template"]],
    "DaemonSet": [["spec", "template"]],
    "ReplicaSet": [["spec", "template"]],
    "ReplicationController": [["spec", "template"]],
    "Job": [["spec", "template"]],
    "CronJob": [["spec", "jobTemplate"], ["spec", "jobTemplate", "spec", "template"]],
    "PodTemplate": [["template"]],
}


class Config:
    """The settings, checked."""

    def __init__(self, value):
        s = Settings(value, ["labels", "annotations", "overwrite", "includeTemplates"])
        self.labels = s.string_map("labels") or {}
        for key, label_value in self.labels.items():
            reason = names.check_qualified_name(key) or names.check_label_value(label_value)
            if reason:
                raise s.invalid("labels", reason)
        self.annotations = s.string_map("annotations") or {}
        for key in self.annotations:
            reason = names.check_qualified_name(key)
            if reason:
                raise s.invalid("annotations", reason)
        if not self.labels and not self.annotations:
            raise s.invalid("labels", "and settings.annotations are both empty: there is nothing to add")
        self.overwrite = s.bool("overwrite", False)
        self.include_templates = s.bool("includeTemplates", False)

    def apply(self, metadata: dict) -> None:
        """Add the labels and annotations to one ``metadata`` map."""
        for field, entries in (("labels", self.labels), ("annotations", self.annotations)):
            if not entries:
                continue
            target = object_entry(metadata, field)
            for key, value in entries.items():
                if self.overwrite or key not in target:
                    target[key] = value


def object_entry(parent: dict, key: str) -> dict:
    """``parent[key]`` as a map, created (or replacing a value that is not a
    map) if needed."""
    value = parent.get(key)
    if not isinstance(value, dict):
        value = parent[key] = {}
    return value


def existing_map(parent: dict, keys):
    """The map at a path of keys, if every step exists and is a map."""
    for key in keys:
        parent = parent.get(key)
        if not isinstance(parent, dict):
            return None
    return parent


class CommonMetadata(Transformer):
    name = "common-metadata"
    version = "0.1.0"
    description = "Adds labels and annotations to every object (and, optionally, to pod templates)."
    settings_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "labels": {"type": "object", "additionalProperties": {"type": "string"},
                       "description": "Labels to add."},
            "annotations": {"type": "object", "additionalProperties": {"type": "string"},
                            "description": "Annotations to add."},
            "overwrite": {"type": "boolean", "default": False,
                          "description": "Replace values the object already has."},
            "includeTemplates": {"type": "boolean", "default": False,
                                 "description": "Also add them to pod templates and job templates."},
        },
    }

    def check_settings(self, settings):
        Config(settings)

    def transform(self, objects, ctx):
        try:
            config = Config(ctx.settings)
        except SettingsError as e:
            raise PolicyError(str(e))
        for obj in objects:
            config.apply(object_entry(obj.fields, "metadata"))
            if config.include_templates:
                for parent in TEMPLATE_PARENTS.get(obj.kind, []):
                    template = existing_map(obj.fields, parent)
                    if template is not None:
                        config.apply(object_entry(template, "metadata"))
        return objects


export(CommonMetadata, globals())
