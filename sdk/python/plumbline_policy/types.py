"""The contract's data types (``wit/policy.wit``) as plain Python classes,
independent of the generated bindings so that policies can be unit-tested
with a plain Python interpreter. :mod:`plumbline_policy.export` converts
them at the component boundary. No IO."""

import json
from dataclasses import dataclass, field
from typing import Any, List, Optional

__all__ = [
    "ERROR", "WARNING", "INFO", "SEVERITIES",
    "ObjectRef", "Violation", "SourceInfo", "Context", "FieldChange", "Drift",
    "Remediation", "REAPPLY", "IGNORE", "RECREATE", "report", "defer",
]

#: Violation severities (``types.severity`` of the contract).
ERROR = "error"
WARNING = "warning"
INFO = "info"
SEVERITIES = (ERROR, WARNING, INFO)


@dataclass(frozen=True)
class ObjectRef:
    """Identifies one object: ``apiVersion``, ``kind``, namespace (``None``
    for cluster-scoped objects) and name."""

    api_version: str
    kind: str
    namespace: Optional[str]
    name: str

    def __str__(self) -> str:
        if self.namespace:
            return "%s %s/%s" % (self.kind, self.namespace, self.name)
        return "%s %s" % (self.kind, self.name)


@dataclass
class Violation:
    """One rule broken by the desired state. ``target`` is ``None`` for a
    rule about the whole set; ``path`` is the dotted path of the offending
    field (``""`` for the whole object)."""

    message: str
    severity: str = ERROR
    target: Optional[ObjectRef] = None
    path: str = ""

    def __post_init__(self):
        if self.severity not in SEVERITIES:
            raise ValueError("unknown severity %r (expected one of %s)" % (self.severity, ", ".join(SEVERITIES)))

    @classmethod
    def about_set(cls, message: str, severity: str = ERROR) -> "Violation":
        """A violation about the desired set as a whole (no target)."""
        return cls(message=message, severity=severity)


@dataclass(frozen=True)
class SourceInfo:
    """Where the desired state came from: Git URL, commit, path."""

    url: str
    revision: str
    path: str


@dataclass
class Context:
    """What every role call knows: the source, the target being reconciled
    and the operator's settings (JSON text; :attr:`settings` parses it)."""

    source: SourceInfo
    target: str
    settings_json: str = "{}"
    _settings: Any = field(default=None, repr=False, compare=False)

    @property
    def settings(self) -> Any:
        """The settings, parsed (already accepted by ``check_settings``)."""
        if self._settings is None:
            self._settings = json.loads(self.settings_json or "{}")
        return self._settings


@dataclass(frozen=True)
class FieldChange:
    """One drifted field: its dotted path and the desired and live values
    as JSON text (``None``: Plumbline did not set it / it is gone)."""

    path: str
    desired_json: Optional[str]
    live_json: Optional[str]

    @property
    def desired(self) -> Any:
        """The desired value, parsed (``None`` when absent)."""
        return None if self.desired_json is None else json.loads(self.desired_json)

    @property
    def live(self) -> Any:
        """The live value, parsed (``None`` when absent)."""
        return None if self.live_json is None else json.loads(self.live_json)


@dataclass
class Drift:
    """A live object that no longer matches what Plumbline applied."""

    target: ObjectRef
    desired_json: str
    live_json: str
    changes: List[FieldChange]

    def desired(self):
        """The desired object as an :class:`~plumbline_policy.Object`, or
        ``None`` when its JSON is not an object."""
        from .object import Object
        return Object.parse_or_none(self.desired_json)

    def live(self):
        """The live object as an :class:`~plumbline_policy.Object`, or
        ``None`` when its JSON is not an object."""
        from .object import Object
        return Object.parse_or_none(self.live_json)

    def is_deleted(self) -> bool:
        """Whether the live object is gone (its JSON is ``{}``)."""
        try:
            return json.loads(self.live_json) == {}
        except ValueError:
            return False


@dataclass(frozen=True)
class Remediation:
    """What to do about a drifted object: one of :data:`REAPPLY`,
    :data:`IGNORE`, :data:`RECREATE`, :func:`report` or :func:`defer`."""

    decision: str
    message: str = ""
    seconds: int = 0


#: Apply the desired state again.
REAPPLY = Remediation("reapply")
#: Accept the live state until Git changes these fields.
IGNORE = Remediation("ignore")
#: Delete the object and create it again.
RECREATE = Remediation("recreate")


def report(message: str) -> Remediation:
    """Leave the object alone and report the drift with ``message``."""
    return Remediation("report", message=message)


def defer(seconds: int) -> Remediation:
    """Decide again after ``seconds`` (0 to 2**32-1)."""
    if not 0 <= seconds < 2 ** 32:
        raise ValueError("defer seconds must fit in 32 bits, got %d" % seconds)
    return Remediation("defer", seconds=seconds)
