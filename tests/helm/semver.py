"""Masterminds/semver v3 versions and constraints, as Helm checks a chart's
`kubeVersion` (`chartutil.IsCompatibleRange`).

Only what `helm template` needs: parse a version (lenient, like
`semver.NewVersion`), parse a constraint (`||` of `,`/space-separated
comparisons with `=`, `!=`, `>`, `<`, `>=`, `<=`, `~`, `~>`, `^`, `x`/`*`
wildcards and `a - b` ranges) and check a version against it, with
Masterminds' rule that a pre-release version only matches a comparison whose
own version has a pre-release.
"""

from __future__ import annotations

import re

_VERSION = re.compile(
    r"^v?(0|[1-9]\d*)(?:\.(0|[1-9]\d*))?(?:\.(0|[1-9]\d*))?"
    r"(?:-([0-9A-Za-z\-]+(?:\.[0-9A-Za-z\-]+)*))?"
    r"(?:\+([0-9A-Za-z\-]+(?:\.[0-9A-Za-z\-]+)*))?$"
)
_WILDCARDS = ("x", "X", "*")


class SemverError(ValueError):
    """A version or constraint that does not parse."""


class Version:
    """A semantic version: major.minor.patch with an optional pre-release."""

    def __init__(self, major: int, minor: int, patch: int, pre: str = "") -> None:
        self.major, self.minor, self.patch, self.pre = major, minor, patch, pre

    @classmethod
    def parse(cls, text: str) -> "Version":
        match = _VERSION.match(text.strip())
        if not match:
            raise SemverError(f"Invalid Semantic Version: {text}")
        major, minor, patch, pre, _build = match.groups()
        return cls(int(major), int(minor or 0), int(patch or 0), pre or "")

    def compare(self, other: "Version") -> int:
        """-1, 0 or 1, by semver precedence (build metadata ignored)."""
        left = (self.major, self.minor, self.patch)
        right = (other.major, other.minor, other.patch)
        if left != right:
            return -1 if left < right else 1
        return _compare_prerelease(self.pre, other.pre)


def _compare_prerelease(left: str, right: str) -> int:
    if left == right:
        return 0
    if not left:
        return 1
    if not right:
        return -1
    for a, b in zip(left.split("."), right.split(".")):
        if a == b:
            continue
        if a.isdigit() and b.isdigit():
            return -1 if int(a) < int(b) else 1
        if a.isdigit() != b.isdigit():
            return -1 if a.isdigit() else 1
        return -1 if a < b else 1
    return (len(left.split(".")) > len(right.split("."))) * 2 - 1


_COMPARISON = re.compile(r"^\s*(!=|>=|=>|<=|=<|~>|>|<|=|~|\^)?\s*v?([0-9xX*][0-9A-Za-z.\-+*]*)\s*$")


class _Comparison:
    """One comparison; a wildcard part makes the version "dirty"."""

    def __init__(self, text: str) -> None:
        match = _COMPARISON.match(text)
        if not match:
            raise SemverError(f"improper constraint: {text}")
        self.operator = match.group(1) or "="
        body = match.group(2)
        core, _, pre = body.partition("-")
        core = core.split("+")[0]
        parts = core.split(".")
        if len(parts) > 3:
            raise SemverError(f"improper constraint: {text}")
        parts += [""] * (3 - len(parts))
        self.minor_dirty = parts[1] in _WILDCARDS or parts[1] == ""
        self.patch_dirty = self.minor_dirty or parts[2] in _WILDCARDS or parts[2] == ""
        self.dirty = parts[0] in _WILDCARDS or self.minor_dirty or self.patch_dirty
        numbers = [0 if p in _WILDCARDS or p == "" else int(p) for p in parts]
        if not all(p in _WILDCARDS or p == "" or p.isdigit() for p in parts):
            raise SemverError(f"improper constraint: {text}")
        self.any_major = parts[0] in _WILDCARDS
        self.version = Version(numbers[0], numbers[1], numbers[2], pre)

    def check(self, version: Version) -> bool:
        if version.pre and not self.version.pre:
            return False
        con = self.version
        op = self.operator
        if self.any_major:
            return op in ("=", ">=", "=>", "<=", "=<", "~", "~>", "^")
        if op == "=":
            return self._in_wildcard(version) if self.dirty else version.compare(con) == 0
        if op == "!=":
            return not self._in_wildcard(version) if self.dirty else version.compare(con) != 0
        if op == ">":
            if not self.dirty:
                return version.compare(con) > 0
            if version.major != con.major:
                return version.major > con.major
            if self.minor_dirty:
                return False
            return version.minor > con.minor
        if op in (">=", "=>"):
            return version.compare(con) >= 0
        if op == "<":
            return version.compare(con) < 0
        if op in ("<=", "=<"):
            if not self.dirty:
                return version.compare(con) <= 0
            if version.major != con.major:
                return version.major < con.major
            return self.minor_dirty or version.minor <= con.minor
        if op in ("~", "~>"):
            if version.compare(con) < 0:
                return False
            if version.major != con.major:
                return False
            return self.minor_dirty or version.minor == con.minor
        # "^": the left-most non-zero part stays the same.
        if version.compare(con) < 0:
            return False
        if con.major > 0 or self.minor_dirty:
            return version.major == con.major
        if con.minor > 0 or self.patch_dirty:
            return version.major == 0 and version.minor == con.minor
        return version.major == 0 and version.minor == 0 and version.patch == con.patch

    def _in_wildcard(self, version: Version) -> bool:
        con = self.version
        if version.major != con.major:
            return False
        if self.minor_dirty:
            return True
        if version.minor != con.minor:
            return False
        return self.patch_dirty or version.patch == con.patch


_HYPHEN = re.compile(r"\s*(\S+)\s+-\s+(\S+)\s*")


def constraint_matches(constraint: str, version: str) -> bool:
    """Whether `version` satisfies the Masterminds constraint `constraint`."""
    parsed = Version.parse(version)
    for alternative in constraint.split("||"):
        alternative = _HYPHEN.sub(lambda m: f" >={m.group(1)} <={m.group(2)} ", alternative)
        comparisons = [c for c in re.split(r"[,\s]+", _join_operators(alternative)) if c]
        if not comparisons:
            raise SemverError(f"improper constraint: {constraint}")
        if all(_Comparison(c).check(parsed) for c in comparisons):
            return True
    return False


def _join_operators(text: str) -> str:
    """`>= 1.2` is one comparison: drop the blanks after an operator."""
    return re.sub(r"(!=|>=|=>|<=|=<|~>|>|<|=|~|\^)\s+", r"\1", text)
