"""plumbline_policy: write Plumbline policies in Python.

A thin layer over the componentize-py bindings of Plumbline's WIT contract
(``wit/policy.wit``): role base classes (:class:`Validator`,
:class:`Transformer`, :class:`Remediator`, :class:`Health`), :class:`Object` with helpers for
metadata and the containers of every workload kind, violation and
remediation builders, strict settings parsing (:class:`Settings`), logging
through the host (:mod:`plumbline_policy.log`), and :func:`export`.

A policy module (``app.py``)::

    from plumbline_policy import Validator, export

    class NoLatest(Validator):
        name = "no-latest"
        description = "Images must not use the latest tag."

        def validate(self, objects, ctx):
            return [o.violation(c.field_path("image"), "image uses :latest")
                    for o in objects for c in o.containers()
                    if (c.image or "").endswith(":latest")]

    export(NoLatest, globals())
"""

from . import log, names, paths
from .export import export
from .health import (
    CURRENT, FAILED, IN_PROGRESS, UNKNOWN, Assessment, Condition, GroupKind, current, failed,
    in_progress, unknown,
)
from .object import CONTAINER_LISTS, Container, Object, pod_spec_path
from .roles import Health, Policy, PolicyError, Remediator, Transformer, Validator
from .settings import Settings, SettingsError, json_type
from .types import (
    ERROR, IGNORE, INFO, REAPPLY, RECREATE, WARNING, Context, Drift, FieldChange, ObjectRef,
    Remediation, SourceInfo, Violation, defer, report,
)

__all__ = [
    "log", "names", "paths", "export",
    "CONTAINER_LISTS", "Container", "Object", "pod_spec_path",
    "Policy", "PolicyError", "Remediator", "Transformer", "Validator", "Health",
    "CURRENT", "IN_PROGRESS", "FAILED", "UNKNOWN", "Assessment", "Condition", "GroupKind",
    "current", "in_progress", "failed", "unknown",
    "Settings", "SettingsError", "json_type",
    "ERROR", "WARNING", "INFO", "REAPPLY", "IGNORE", "RECREATE", "defer", "report",
    "Context", "Drift", "FieldChange", "ObjectRef", "Remediation", "SourceInfo", "Violation",
]

log.route_std_streams()
