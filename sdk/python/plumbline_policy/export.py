"""Exporting a policy from a component: :func:`export` defines, in the
policy's module, the classes componentize-py calls for each exported
interface (``Metadata``, ``Validator``, ``Transformer``, ``Remediator``,
``Health``),
converting between the generated bindings (``wit_world``) and this SDK's
plain types. An exception a policy does not handle is logged with its
traceback through the host log and then traps the call (a fault, as a Rust
panic is). Imports the generated bindings only when it is called."""

import json
import sys

from . import log
from .object import Object
from .health import Assessment, unknown
from .roles import Health, PolicyError, Remediator, Transformer, Validator
from .settings import SettingsError
from .types import Context, Drift, FieldChange, ObjectRef, SourceInfo

__all__ = ["export"]


def export(policy, namespace: dict) -> None:
    """Export ``policy`` (a :class:`~plumbline_policy.Policy` subclass or
    instance) from the module whose globals are ``namespace``: call it at
    the end of ``app.py`` as ``export(MyPolicy, globals())``. Defines
    ``Metadata`` and one class per role the policy derives from; the roles
    must match the ``roles`` declared in ``pyproject.toml``."""
    from componentize_py_types import Err
    from wit_world.imports import types as wit

    instance = policy() if isinstance(policy, type) else policy

    def guarded(what, call):
        """Run ``call``; log an unexpected exception's traceback, then let
        it trap."""
        try:
            return call()
        except Err:
            raise
        except Exception:
            log.error("%s %s failed:\n%s" % (instance.name, what, _traceback()))
            raise

    class Metadata:
        def info(self):
            return wit.PolicyInfo(
                name=instance.name,
                version=instance.version,
                description=instance.description,
                settings_schema=instance.settings_schema_json(),
            )

        def check_settings(self, settings_json):
            def check():
                try:
                    settings = json.loads(settings_json)
                except ValueError as e:
                    raise Err("settings are not valid JSON: %s" % e)
                try:
                    instance.check_settings(settings)
                except SettingsError as e:
                    raise Err(str(e))
            guarded("check-settings", check)

    namespace["Metadata"] = Metadata

    if isinstance(instance, Validator):
        class ValidatorExport:
            def validate(self, objects, ctx):
                def run():
                    found = instance.validate([Object.parse(o) for o in objects], _context(ctx))
                    return [_violation(wit, v) for v in found]
                return guarded("validate", run)
        namespace["Validator"] = ValidatorExport

    if isinstance(instance, Transformer):
        class TransformerExport:
            def transform(self, objects, ctx):
                def run():
                    try:
                        out = instance.transform([Object.parse(o) for o in objects], _context(ctx))
                    except PolicyError as e:
                        raise Err(str(e))
                    return [_object_json(o) for o in out]
                return guarded("transform", run)
        namespace["Transformer"] = TransformerExport

    if isinstance(instance, Remediator):
        class RemediatorExport:
            def remediate(self, drift, ctx):
                def run():
                    decision = instance.remediate(_drift(drift), _context(ctx))
                    return None if decision is None else _remediation(wit, decision)
                return guarded("remediate", run)
        namespace["Remediator"] = RemediatorExport

    if isinstance(instance, Health):
        from wit_world.exports import health as wit_health

        class HealthExport:
            def kinds(self):
                def run():
                    return [wit_health.GroupKind(group=k.group, kind=k.kind) for k in instance.kinds()]
                return guarded("kinds", run)

            def assess(self, live, desired, ctx):
                def run():
                    parsed = Object.parse_or_none(live)
                    if parsed is None:
                        verdict = unknown("the live object cannot be read: not a JSON object")
                    else:
                        wanted = None if desired is None else Object.parse_or_none(desired)
                        verdict = instance.assess(parsed, wanted, _context(ctx))
                    return _assessment(wit_health, verdict)
                return guarded("assess", run)
        namespace["Health"] = HealthExport


def _traceback() -> str:
    """The current exception's traceback, without source lines: reading
    them opens files, which traps in a ``--stub-wasi`` build."""
    kind, error, tb = sys.exc_info()
    lines = ["Traceback (most recent call last):"]
    while tb is not None:
        code = tb.tb_frame.f_code
        lines.append('  File "%s", line %d, in %s' % (code.co_filename, tb.tb_lineno, code.co_name))
        tb = tb.tb_next
    lines.append("%s: %s" % (kind.__name__, error))
    return "\n".join(lines)


def _context(ctx) -> Context:
    source = SourceInfo(ctx.source.url, ctx.source.revision, ctx.source.path)
    return Context(source=source, target=ctx.target, settings_json=ctx.settings_json)


def _ref(ref) -> ObjectRef:
    return ObjectRef(ref.api_version, ref.kind, ref.namespace, ref.name)


def _drift(drift) -> Drift:
    changes = [FieldChange(c.path, c.desired_json, c.live_json) for c in drift.changes]
    return Drift(_ref(drift.target), drift.desired, drift.live, changes)


def _violation(wit, v):
    target = None
    if v.target is not None:
        t = v.target
        target = wit.ObjectRef(api_version=t.api_version, kind=t.kind, namespace=t.namespace, name=t.name)
    severity = {"error": wit.Severity.ERROR, "warning": wit.Severity.WARNING, "info": wit.Severity.INFO}[v.severity]
    return wit.Violation(target=target, path=v.path, message=v.message, severity=severity)


def _object_json(o) -> str:
    if isinstance(o, Object):
        return o.to_json()
    if isinstance(o, dict):
        return json.dumps(o, ensure_ascii=False, separators=(",", ":"))
    raise TypeError("a transformer must return Object or dict items, got %s" % type(o).__name__)


def _assessment(wit_health, a):
    if not isinstance(a, Assessment):
        raise TypeError("assess must return an Assessment (current(), in_progress(), failed(), unknown()), got %s" % type(a).__name__)
    status = {
        "current": wit_health.Status.CURRENT,
        "in-progress": wit_health.Status.IN_PROGRESS,
        "failed": wit_health.Status.FAILED,
        "unknown": wit_health.Status.UNKNOWN,
    }[a.status]
    return wit_health.Assessment(status=status, message=a.message)


def _remediation(wit, r):
    if r.decision == "reapply":
        return wit.Remediation_Reapply()
    if r.decision == "ignore":
        return wit.Remediation_Ignore()
    if r.decision == "recreate":
        return wit.Remediation_Recreate()
    if r.decision == "report":
        return wit.Remediation_Report(r.message)
    if r.decision == "defer":
        return wit.Remediation_Defer(r.seconds)
    raise ValueError("unknown remediation %r" % (r.decision,))
