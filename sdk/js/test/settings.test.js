// Unit tests of the settings helpers (node --test): the messages match the
// Rust standard policies'. No host needed.

import { test } from "node:test";
import assert from "node:assert/strict";

import { Settings, SettingsError, checkLabelValue, checkNamespace, checkQualifiedName, jsonType } from "../src/settings.js";

const message = (run) => {
  try {
    run();
  } catch (e) {
    assert.ok(e instanceof SettingsError, String(e));
    return e.message;
  }
  assert.fail("no error");
};

test("unknown keys are refused, naming the known ones (sorted order decides which)", () => {
  assert.equal(
    message(() => new Settings({ zeta: 1, lables: ["a"] }, ["labels", "kinds"])),
    "unknown setting `lables` in settings (known: labels, kinds)",
  );
  assert.equal(message(() => new Settings([1], ["x"])), "settings must be an object, found a list");
  assert.equal(new Settings(null, ["x"]).bool("x", true), true);
});

test("typed getters name the offending setting and item", () => {
  const s = new Settings({ labels: ["a", 5], m: { "a.b": 1 }, flag: "yes", n: null }, ["labels", "m", "flag", "n"]);
  assert.equal(message(() => s.stringList("labels")), "settings.labels[1] must be a string, found a number");
  assert.equal(message(() => s.stringMap("m")), 'settings.m["a.b"] must be a string, found a number');
  assert.equal(message(() => s.bool("flag", false)), "settings.flag must be true or false, found a string");
  assert.equal(message(() => s.require("n")), "settings.n is required");
  assert.equal(s.string("n"), undefined);
  assert.equal(s.invalid("labels", "is wrong").message, "settings.labels is wrong");
  const nested = Settings.nested(s.itemName("workloads", 2), { kind: 1 }, ["kind"]);
  assert.equal(message(() => nested.string("kind")), "settings.workloads[2].kind must be a string, found a number");
  assert.deepEqual(new Settings({ m: { b: "2", a: "1" } }, ["m"]).stringMap("m"), [["a", "1"], ["b", "2"]]);
});

test("kubernetes names are checked like the API server does", () => {
  assert.equal(checkQualifiedName("team"), null);
  assert.equal(checkQualifiedName("app.kubernetes.io/name"), null);
  assert.match(checkQualifiedName("Example.com/x"), /invalid prefix/);
  assert.match(checkQualifiedName("a/"), /is not a valid name/);
  assert.match(checkQualifiedName("-x"), /is not a valid name/);
  assert.equal(checkLabelValue(""), null);
  assert.equal(checkLabelValue("v1.2_beta-3"), null);
  assert.match(checkLabelValue("has space"), /not a valid label value/);
  assert.match(checkLabelValue("x".repeat(64)), /not a valid label value/);
  assert.equal(checkNamespace("shop-1"), null);
  assert.match(checkNamespace("Shop"), /not a valid namespace name/);
  assert.deepEqual([null, true, 1, "s", [], {}].map(jsonType), ["null", "a boolean", "a number", "a string", "a list", "an object"]);
});
