"""Kubernetes names: checks of names written in settings (label and
annotation keys, label values, namespace names). Each returns ``None`` when
the name is valid and otherwise a reason, a sentence fragment that follows
the setting's name (``settings.labels key `X` is not a valid name ...``).
Also :func:`describe`, how messages name an object. No IO."""

import re

__all__ = ["describe", "check_qualified_name", "check_label_value", "check_namespace"]

_NAME_BODY = re.compile(r"[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?")
_DNS_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?")


def describe(kind: str, namespace, name: str) -> str:
    """``Deployment shop/web``, ``ClusterRole admin``, ``ConfigMap <unnamed>``."""
    name = name or "<unnamed>"
    if namespace:
        return "%s %s/%s" % (kind, namespace, name)
    return "%s %s" % (kind, name)


def check_qualified_name(key: str):
    """A label or annotation key: an optional DNS subdomain prefix and
    ``/``, then a name of at most 63 characters (alphanumerics, ``-``,
    ``_``, ``.``, starting and ending with an alphanumeric)."""
    prefix, slash, name = key.rpartition("/")
    if slash and not _is_dns_subdomain(prefix):
        return (
            "key `%s` has an invalid prefix `%s` (it must be a lower-case DNS subdomain of at "
            "most 253 characters)" % (key, prefix)
        )
    if not name or len(name.encode()) > 63 or not _is_name_body(name):
        return (
            "key `%s` is not a valid name (at most 63 characters: alphanumerics, `-`, `_` and "
            "`.`, starting and ending with an alphanumeric)" % key
        )
    return None


def check_label_value(value: str):
    """A label value: empty, or at most 63 characters (alphanumerics, ``-``,
    ``_``, ``.``, starting and ending with an alphanumeric)."""
    if value == "" or (len(value.encode()) <= 63 and _is_name_body(value)):
        return None
    return (
        "value `%s` is not a valid label value (at most 63 characters: alphanumerics, `-`, `_` "
        "and `.`, starting and ending with an alphanumeric)" % value
    )


def check_namespace(name: str):
    """A namespace name: an RFC 1123 label."""
    if _is_dns_label(name):
        return None
    return (
        "`%s` is not a valid namespace name (at most 63 lower-case alphanumerics or `-`, "
        "starting and ending with an alphanumeric)" % name
    )


def _is_name_body(s: str) -> bool:
    return s.isascii() and _NAME_BODY.fullmatch(s) is not None


def _is_dns_label(s: str) -> bool:
    return len(s) <= 63 and s.isascii() and _DNS_LABEL.fullmatch(s) is not None


def _is_dns_subdomain(s: str) -> bool:
    return 0 < len(s) <= 253 and all(_is_dns_label(part) for part in s.split("."))
