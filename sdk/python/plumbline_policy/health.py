"""The health role's data types (``interface health`` of ``wit/policy.wit``)
as plain Python: the four statuses, :class:`Assessment` and its builders
(:func:`current`, :func:`in_progress`, :func:`failed`, :func:`unknown`),
:class:`GroupKind`, and :class:`Condition`, one entry of an object's
``status.conditions`` (see :meth:`plumbline_policy.Object.condition`).
No IO."""

from dataclasses import dataclass
from typing import Any, Dict, Optional

__all__ = [
    "CURRENT", "IN_PROGRESS", "FAILED", "UNKNOWN", "STATUSES",
    "Assessment", "GroupKind", "Condition",
    "current", "in_progress", "failed", "unknown",
]

#: Fully reconciled and ready.
CURRENT = "current"
#: Still being reconciled; may become ready on its own.
IN_PROGRESS = "in-progress"
#: Failed, and will not recover on its own.
FAILED = "failed"
#: The policy cannot tell.
UNKNOWN = "unknown"
STATUSES = (CURRENT, IN_PROGRESS, FAILED, UNKNOWN)


@dataclass(frozen=True)
class Assessment:
    """The verdict on one object: a status of :data:`STATUSES` and a
    message for a person."""

    status: str
    message: str = ""

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError("unknown health status %r (expected one of %s)" % (self.status, ", ".join(STATUSES)))


def current(message: str = "") -> Assessment:
    """Fully reconciled and ready."""
    return Assessment(CURRENT, message)


def in_progress(message: str) -> Assessment:
    """Still being reconciled."""
    return Assessment(IN_PROGRESS, message)


def failed(message: str) -> Assessment:
    """Failed, and will not recover on its own."""
    return Assessment(FAILED, message)


def unknown(message: str) -> Assessment:
    """The policy cannot tell."""
    return Assessment(UNKNOWN, message)


@dataclass(frozen=True)
class GroupKind:
    """A kind a health policy assesses: API group (``""`` for the core
    group) and kind (``"*"`` for every kind of the group)."""

    group: str
    kind: str


class Condition:
    """One entry of ``status.conditions``; missing fields read as ``""``."""

    def __init__(self, fields: Dict[str, Any]):
        self.fields = fields

    def _text(self, name: str) -> str:
        value = self.fields.get(name)
        return value if isinstance(value, str) else ""

    @property
    def type(self) -> str:
        return self._text("type")

    @property
    def status(self) -> str:
        """``"True"``, ``"False"`` or ``"Unknown"``."""
        return self._text("status")

    @property
    def is_true(self) -> bool:
        return self.status == "True"

    @property
    def reason(self) -> str:
        return self._text("reason")

    @property
    def message(self) -> str:
        return self._text("message")

    @property
    def observed_generation(self) -> Optional[int]:
        value = self.fields.get("observedGeneration")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def describe(self) -> str:
        """``reason: message``, whichever of them is set, or
        ``<type> is <status>`` when neither is (as the Rust SDK's)."""
        if self.reason and self.message:
            return "%s: %s" % (self.reason, self.message)
        if self.reason or self.message:
            return self.reason or self.message
        return "%s is %s" % (self.type, self.status)
