"""The role base classes a policy derives from: :class:`Validator`,
:class:`Transformer`, :class:`Remediator` and :class:`Health` (a policy may
derive from several), all on :class:`Policy`, which carries the metadata and settings
check every policy has; and :class:`PolicyError`, which a transformer raises
to fail the sync with a message. No IO."""

import json
from typing import Any, List, Optional

from .object import Object
from .health import Assessment, GroupKind
from .types import Context, Drift, Remediation, Violation

__all__ = ["Policy", "Validator", "Transformer", "Remediator", "Health", "PolicyError"]


class PolicyError(Exception):
    """Raised by :meth:`Transformer.transform` to refuse the set: the sync
    fails with this message (the contract's ``err``)."""


class Policy:
    """What every policy has. Set the class attributes :attr:`name`,
    :attr:`version`, :attr:`description` and, if the policy has settings,
    :attr:`settings_schema` (a JSON Schema as a ``dict``); override
    :meth:`check_settings`."""

    #: A short, stable name, e.g. ``required-labels``.
    name: str = ""
    #: The policy's own version.
    version: str = "0.1.0"
    #: One or two sentences on what the policy does.
    description: str = ""
    #: A JSON Schema of the settings, or ``None``.
    settings_schema: Optional[dict] = None

    def check_settings(self, settings: Any) -> None:
        """Check the operator's settings (parsed JSON; ``{}`` when none were
        given) once, when the policy is loaded. Raise
        :class:`~plumbline_policy.SettingsError` to refuse them; its message
        is shown as is. Accepts everything by default."""

    def settings_schema_json(self) -> Optional[str]:
        """:attr:`settings_schema` as JSON text."""
        if self.settings_schema is None:
            return None
        return json.dumps(self.settings_schema, separators=(",", ":"))


class Validator(Policy):
    """The validator role: inspect the desired state."""

    def validate(self, objects: List[Object], ctx: Context) -> List[Violation]:
        """Check the whole desired set and return every violation (an empty
        list accepts it)."""
        raise NotImplementedError("%s.validate" % type(self).__name__)


class Transformer(Policy):
    """The transformer role: rewrite manifests before they are applied."""

    def transform(self, objects: List[Object], ctx: Context) -> List[Object]:
        """Return the new desired set (:class:`Object` or plain ``dict``
        items; changing the given objects in place and returning them is
        fine). Raise :class:`PolicyError` to fail the sync."""
        raise NotImplementedError("%s.transform" % type(self).__name__)


class Remediator(Policy):
    """The remediator role: decide what happens when the cluster drifts."""

    def remediate(self, drift: Drift, ctx: Context) -> Optional[Remediation]:
        """Decide about one drifted object, or return ``None`` to abstain."""
        raise NotImplementedError("%s.remediate" % type(self).__name__)


class Health(Policy):
    """The health role: judge whether a live object of the kinds the policy
    declares is ready. The host asks it about objects of :meth:`kinds`
    only, and judges every other kind by its built-in (kstatus) rules."""

    def kinds(self) -> List[GroupKind]:
        """The kinds this policy assesses, asked once when it is loaded."""
        raise NotImplementedError("%s.kinds" % type(self).__name__)

    def assess(self, live: Object, desired: Optional[Object], ctx: Context) -> Assessment:
        """Assess one live object (status included); ``desired`` is the
        object as Plumbline applies it, or ``None``. Return
        :func:`~plumbline_policy.current`, :func:`~plumbline_policy.in_progress`,
        :func:`~plumbline_policy.failed` or :func:`~plumbline_policy.unknown`."""
        raise NotImplementedError("%s.assess" % type(self).__name__)
