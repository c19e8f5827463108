"""Unit tests of the plumbline_policy helpers, in plain Python (no component,
no generated bindings): ``python3 -m unittest discover -s sdk/python/tests``.
engine/tests/policy_python.rs runs them too."""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from plumbline_policy import (  # noqa: E402
    FAILED, IGNORE, IN_PROGRESS, WARNING, Assessment, Drift, FieldChange, Object, ObjectRef,
    Settings, SettingsError, Violation, current, defer, failed, in_progress, names, paths, report,
)


class Paths(unittest.TestCase):
    def test_child_quotes_keys_with_dots_like_the_engine(self):
        self.assertEqual(paths.child("metadata.labels", "team"), "metadata.labels.team")
        self.assertEqual(paths.child("metadata.labels", "app.kubernetes.io/name"),
                         'metadata.labels["app.kubernetes.io/name"]')
        self.assertEqual(paths.child("", "spec"), "spec")

    def test_parse_reads_keys_indices_and_quoted_keys(self):
        self.assertEqual(paths.parse('a.b[0]["c.d]"].e'), ["a", "b", 0, "c.d]", "e"])
        with self.assertRaises(ValueError):
            paths.parse("a[0")

    def test_is_at_or_below_matches_whole_segments(self):
        self.assertTrue(paths.is_at_or_below("spec.selector.matchLabels", "spec.selector"))
        self.assertTrue(paths.is_at_or_below('data["a.b"]', "data"))
        self.assertFalse(paths.is_at_or_below("spec.selectorX", "spec.selector"))


DEPLOYMENT = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "shop", "labels": {"team": "a", "n": 5}},
    "spec": {"template": {"spec": {
        "initContainers": [{"name": "init", "image": "busybox"}],
        "containers": [{"name": "app", "image": "nginx"}, "not a map", {"name": "side"}],
        "ephemeralContainers": [{"name": "debug", "image": "alpine"}],
    }}},
}


class Objects(unittest.TestCase):
    def test_accessors_tolerate_missing_and_mistyped_fields(self):
        o = Object.parse(json.dumps(DEPLOYMENT))
        self.assertEqual((o.kind, o.name, o.namespace), ("Deployment", "web", "shop"))
        self.assertEqual(o.label("team"), "a")
        self.assertIsNone(o.label("n"))
        self.assertEqual(o.get("spec.template.spec.containers[0].image"), "nginx")
        self.assertIsNone(o.get("spec.template.spec.containers[9].image"))
        bare = Object({"kind": "ConfigMap", "metadata": 5})
        self.assertEqual((bare.name, bare.namespace, bare.labels), ("", None, None))
        self.assertEqual(bare.ref(), ObjectRef("", "ConfigMap", None, ""))
        with self.assertRaises(ValueError):
            Object.parse("[1]")

    def test_containers_of_every_list_with_paths(self):
        o = Object(json.loads(json.dumps(DEPLOYMENT)))
        found = [(c.path, c.name, c.image) for c in o.containers()]
        self.assertEqual(found, [
            ("spec.template.spec.containers[0]", "app", "nginx"),
            ("spec.template.spec.containers[2]", "side", None),
            ("spec.template.spec.initContainers[0]", "init", "busybox"),
            ("spec.template.spec.ephemeralContainers[0]", "debug", "alpine"),
        ])
        self.assertEqual(o.containers()[0].field_path("image"), "spec.template.spec.containers[0].image")
        cron = Object({"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": {"spec": {
            "containers": [{"name": "c"}]}}}}}})
        self.assertEqual(cron.containers()[0].path, "spec.jobTemplate.spec.template.spec.containers[0]")
        self.assertEqual(Object({"kind": "Service"}).containers(), [])

    def test_setting_a_label_creates_or_replaces_the_map(self):
        o = Object({"kind": "ConfigMap", "metadata": {"labels": None}})
        o.set_label("team", "a")
        o.set_annotation("x", "y")
        self.assertEqual(o.fields["metadata"], {"labels": {"team": "a"}, "annotations": {"x": "y"}})

    def test_violations_name_their_object(self):
        v = Object(DEPLOYMENT).violation("metadata.labels.x", "missing", WARNING)
        self.assertEqual(v.target, ObjectRef("apps/v1", "Deployment", "shop", "web"))
        self.assertEqual((v.path, v.severity), ("metadata.labels.x", WARNING))
        self.assertIsNone(Violation.about_set("bad").target)
        with self.assertRaises(ValueError):
            Violation("m", severity="fatal")


class HealthHelpers(unittest.TestCase):
    def test_conditions_are_found_by_type_and_described_as_in_the_rust_sdk(self):
        o = Object({"kind": "Certificate", "metadata": {"name": "c", "generation": 2},
                    "status": {"conditions": [
                        {"type": "Issuing", "status": "False"},
                        {"type": "Ready", "status": "False", "reason": "Failed",
                         "message": "no issuer", "observedGeneration": 2}]}})
        ready = o.condition("Ready")
        self.assertFalse(ready.is_true)
        self.assertEqual(ready.describe(), "Failed: no issuer")
        self.assertEqual(ready.observed_generation, o.generation)
        self.assertEqual(o.condition("Issuing").describe(), "Issuing is False")
        self.assertIsNone(o.condition("Stalled"))
        self.assertIsNone(Object({"kind": "ConfigMap"}).condition("Ready"))

    def test_verdicts_carry_one_of_the_four_statuses(self):
        self.assertEqual(failed("x"), Assessment(FAILED, "x"))
        self.assertEqual(in_progress("y").status, IN_PROGRESS)
        self.assertEqual(current().message, "")
        with self.assertRaises(ValueError):
            Assessment("healthy")


class Drifts(unittest.TestCase):
    def test_deleted_objects_and_parsed_values(self):
        target = ObjectRef("apps/v1", "Deployment", "shop", "web")
        drift = Drift(target, json.dumps(DEPLOYMENT), "{}", [FieldChange("spec.replicas", "2", None)])
        self.assertTrue(drift.is_deleted())
        self.assertEqual(drift.desired().name, "web")
        self.assertEqual((drift.changes[0].desired, drift.changes[0].live), (2, None))
        self.assertEqual(str(target), "Deployment shop/web")
        self.assertEqual(report("x").message, "x")
        self.assertEqual(defer(30).seconds, 30)
        self.assertEqual(IGNORE.decision, "ignore")
        with self.assertRaises(ValueError):
            defer(-1)


class SettingsReading(unittest.TestCase):
    def message(self, call):
        with self.assertRaises(SettingsError) as caught:
            call()
        return str(caught.exception)

    def test_messages_match_the_standard_policies(self):
        self.assertEqual(self.message(lambda: Settings([1], ["a"])),
                         "settings must be an object, found a list")
        self.assertEqual(self.message(lambda: Settings({"lables": 1}, ["labels", "kinds"])),
                         "unknown setting `lables` in settings (known: labels, kinds)")
        s = Settings({"labels": ["a", 5], "m": {"a.b": 1}, "b": "yes"}, ["labels", "m", "b"])
        self.assertEqual(self.message(lambda: s.string_list("labels")),
                         "settings.labels[1] must be a string, found a number")
        self.assertEqual(self.message(lambda: s.string_map("m")),
                         'settings.m["a.b"] must be a string, found a number')
        self.assertEqual(self.message(lambda: s.bool("b")), "settings.b must be true or false, found a string")
        self.assertEqual(self.message(lambda: s.require("x")), "settings.x is required")
        self.assertEqual(str(s.invalid("m", "is wrong")), "settings.m is wrong")
        nested = self.message(lambda: Settings("x", ["k"], at=s.item_name("w", 0)))
        self.assertEqual(nested, "settings.w[0] must be an object, found a string")

    def test_null_settings_read_as_empty(self):
        s = Settings(None, ["x"])
        self.assertFalse(s.bool("x"))
        self.assertIsNone(s.string_list("x"))


class Names(unittest.TestCase):
    def test_keys_values_and_namespaces(self):
        self.assertIsNone(names.check_qualified_name("app.kubernetes.io/name"))
        self.assertIn("is not a valid name", names.check_qualified_name("Team Name"))
        self.assertIn("invalid prefix", names.check_qualified_name("Example.com/x"))
        self.assertIn("is not a valid name", names.check_qualified_name("example.com/"))
        self.assertIsNone(names.check_label_value(""))
        self.assertIn("not a valid label value", names.check_label_value("x" * 64))
        self.assertIsNone(names.check_namespace("shop-1"))
        self.assertIsNotNone(names.check_namespace("Shop"))
        self.assertEqual(names.describe("ConfigMap", "", ""), "ConfigMap <unnamed>")


if __name__ == "__main__":
    unittest.main()
