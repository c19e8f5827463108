"""required-labels, in Python: a validator. Every object of the desired set
(or of the kinds in ``kinds``) must carry each label in ``labels``; where
``valuePattern`` gives a regular expression for a label, the label's value
must match it as a whole. A pattern for a label that is not required is
checked only when the label is present.

A port of policies/required-labels (Rust); the same suite
(policies/required-labels/tests/suite.yaml) passes against both. Patterns
are Python ``re`` expressions matched with ``re.fullmatch`` where Rust uses
regex-lite anchored with ``^(?:...)$``; see README.md for the differences.
"""

import json
import re

from plumbline_policy import ERROR, Settings, SettingsError, Validator, Violation, export, names, paths


class Config:
    """The settings, checked."""

    def __init__(self, value):
        s = Settings(value, ["labels", "valuePattern", "kinds"])
        self.labels = s.string_list("labels") or []
        for label in self.labels:
            reason = names.check_qualified_name(label)
            if reason:
                raise s.invalid("labels", reason)
        self.patterns = []
        for label, pattern in (s.string_map("valuePattern") or {}).items():
            try:
                regex = re.compile(pattern)
            except re.error as e:
                raise SettingsError(
                    "%s is not a valid regular expression: %s"
                    % (paths.child(s.name("valuePattern"), label), e)
                )
            self.patterns.append((label, pattern, regex))
        if not self.labels and not self.patterns:
            raise s.invalid("labels", "must name at least one label (or give settings.valuePattern)")
        self.kinds = s.string_list("kinds")
        if self.kinds is not None and not self.kinds:
            raise s.invalid("kinds", "must name at least one kind (leave it out to check every kind)")

    def applies_to(self, obj) -> bool:
        return self.kinds is None or obj.kind in self.kinds

    def check(self, obj, violations) -> None:
        labels = obj.labels or {}
        for label in self.labels:
            if label not in labels:
                violations.append(obj.violation(
                    paths.child("metadata.labels", label), "missing required label `%s`" % label, ERROR))
        for label, pattern, regex in self.patterns:
            if label not in labels:
                continue
            value = labels[label]
            if isinstance(value, str):
                if regex.fullmatch(value):
                    continue
                message = "label `%s` has value `%s`, which does not match `%s`" % (label, value, pattern)
            else:
                message = "label `%s` must be a string, found %s" % (
                    label, json.dumps(value, separators=(",", ":")))
            violations.append(obj.violation(paths.child("metadata.labels", label), message, ERROR))


class RequiredLabels(Validator):
    name = "required-labels"
    version = "0.1.0"
    description = ("Every object (optionally only of some kinds) must carry the required labels, "
                   "with values matching the given regular expressions.")
    settings_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "labels": {"type": "array", "items": {"type": "string"},
                       "description": "Label keys every checked object must carry."},
            "valuePattern": {"type": "object", "additionalProperties": {"type": "string"},
                             "description": "Label key -> regular expression the whole value must match."},
            "kinds": {"type": "array", "items": {"type": "string"},
                      "description": "Only check objects of these kinds (default: all)."},
        },
    }

    def check_settings(self, settings):
        Config(settings)

    def validate(self, objects, ctx):
        try:
            config = Config(ctx.settings)
        except SettingsError as e:
            return [Violation.about_set(str(e), ERROR)]
        violations = []
        for obj in objects:
            if config.applies_to(obj):
                config.check(obj, violations)
        return violations


export(RequiredLabels, globals())
