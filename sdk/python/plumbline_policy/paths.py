"""Dotted field paths as the engine writes them in violations and drift
records: ``spec.template.spec.containers[0].image``, with a map key that
contains ``.``, ``[`` or ``]`` quoted in brackets:
``metadata.labels["app.kubernetes.io/name"]``. No IO."""

import json

__all__ = ["child", "index", "is_at_or_below", "parse"]


def child(parent: str, key: str) -> str:
    """The path of ``key`` inside the map at ``parent`` (``""`` for the
    object's root)."""
    if any(c in key for c in ".[]"):
        return "%s[%s]" % (parent, json.dumps(key, ensure_ascii=False))
    if not parent:
        return key
    return "%s.%s" % (parent, key)


def index(parent: str, i: int) -> str:
    """The path of item ``i`` of the list at ``parent``."""
    return "%s[%d]" % (parent, i)


def is_at_or_below(path: str, prefix: str) -> bool:
    """Whether ``path`` is ``prefix`` itself or a field below it
    (``spec.selector.matchLabels.app`` is below ``spec.selector``;
    ``spec.selectorX`` is not)."""
    if not path.startswith(prefix):
        return False
    rest = path[len(prefix):]
    return rest == "" or rest[0] in ".["


def parse(path: str) -> list:
    """Split a dotted path into keys (``str``) and list indices (``int``):
    ``a.b[0]["c.d"]`` -> ``["a", "b", 0, "c.d"]``. Raises ``ValueError`` on
    an unterminated bracket."""
    steps = []
    i, n = 0, len(path)
    key = ""
    while i < n:
        c = path[i]
        if c == ".":
            if key:
                steps.append(key)
            key = ""
            i += 1
        elif c == "[":
            if key:
                steps.append(key)
            key = ""
            end = _bracket_end(path, i)
            inner = path[i + 1:end]
            if inner.startswith('"'):
                steps.append(json.loads(inner))
            else:
                steps.append(int(inner))
            i = end + 1
        else:
            key += c
            i += 1
    if key:
        steps.append(key)
    return steps


def _bracket_end(path: str, start: int) -> int:
    """Index of the ``]`` closing the bracket at ``start`` (skipping a quoted
    key, which may itself contain ``]``)."""
    i = start + 1
    if i < len(path) and path[i] == '"':
        i += 1
        while i < len(path) and path[i] != '"':
            i += 2 if path[i] == "\\" else 1
        i += 1
    end = path.find("]", i)
    if end < 0:
        raise ValueError("unterminated `[` in path %r" % path)
    return end
