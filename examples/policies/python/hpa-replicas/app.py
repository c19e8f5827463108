"""hpa-replicas, in Python: a remediator. When the only drift of a workload
scaled by a HorizontalPodAutoscaler is ``spec.replicas``, the live replica
count is the autoscaler's doing: decide ``ignore``. On anything else the
policy abstains (``None``), leaving the decision to the next remediator of
the sync or to the sync's default.

The workload must be marked as autoscaled: by the annotation named in
``annotation`` (default ``plumbline.dev/hpa-managed``) set to ``"true"`` on
the desired or the live object, or by an entry in ``workloads``
(``{kind, namespace, name}``). Only kinds in ``kinds`` (default Deployment
and StatefulSet) are considered. On a deleted object the policy abstains.

A port of policies/hpa-replicas (Rust); the same suite
(policies/hpa-replicas/tests/suite.yaml) passes against both.
"""

from plumbline_policy import IGNORE, Remediator, Settings, SettingsError, export, log, names, report

DEFAULT_ANNOTATION = "plumbline.dev/hpa-managed"
REPLICAS = "spec.replicas"


class Config:
    """The settings, checked."""

    def __init__(self, value):
        s = Settings(value, ["annotation", "kinds", "workloads"])
        self.annotation = s.string("annotation", DEFAULT_ANNOTATION)
        reason = names.check_qualified_name(self.annotation)
        if reason:
            raise s.invalid("annotation", reason)
        kinds = s.string_list("kinds")
        if kinds is not None and not kinds:
            raise s.invalid("kinds", "must name at least one kind")
        self.kinds = kinds if kinds is not None else ["Deployment", "StatefulSet"]
        self.workloads = []
        for i, entry in enumerate(s.list("workloads") or []):
            w = Settings(entry, ["kind", "namespace", "name"], at=s.item_name("workloads", i))

            def required(key):
                text = w.string(key)
                if not text:
                    raise SettingsError("%s is required" % w.name(key))
                return text

            self.workloads.append((required("kind"), w.string("namespace"), required("name")))

    def is_autoscaled(self, drift) -> bool:
        """Whether the drifted workload is marked as autoscaled."""
        t = drift.target
        if (t.kind, t.namespace, t.name) in self.workloads:
            return True
        return any(o is not None and o.annotation(self.annotation) == "true"
                   for o in (drift.desired(), drift.live()))


class HpaReplicas(Remediator):
    name = "hpa-replicas"
    version = "0.1.0"
    description = ("Ignores drift of spec.replicas on workloads marked as scaled by a "
                   "HorizontalPodAutoscaler; abstains on every other drift.")
    settings_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "annotation": {"type": "string", "default": DEFAULT_ANNOTATION,
                           "description": "Annotation that, set to \"true\" on the desired or live object, marks it as autoscaled."},
            "kinds": {"type": "array", "items": {"type": "string"}, "minItems": 1,
                      "default": ["Deployment", "StatefulSet"],
                      "description": "Kinds whose replica drift may be ignored."},
            "workloads": {"type": "array", "description": "Workloads known to be autoscaled.",
                          "items": {"type": "object", "additionalProperties": False,
                                    "required": ["kind", "name"],
                                    "properties": {"kind": {"type": "string"},
                                                   "namespace": {"type": "string"},
                                                   "name": {"type": "string"}}}},
        },
    }

    def check_settings(self, settings):
        Config(settings)

    def remediate(self, drift, ctx):
        try:
            config = Config(ctx.settings)
        except SettingsError as e:
            return report("hpa-replicas settings: %s" % e)
        only_replicas = bool(drift.changes) and all(c.path == REPLICAS for c in drift.changes)
        if (drift.is_deleted() or drift.target.kind not in config.kinds
                or not only_replicas or not config.is_autoscaled(drift)):
            return None
        log.info("%s: replica drift left to the HorizontalPodAutoscaler" % drift.target)
        return IGNORE


export(HpaReplicas, globals())
