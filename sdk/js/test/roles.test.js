// Unit tests of the role wrappers (node --test): JSON text in, the
// contract's shapes out. No host needed.

import { test } from "node:test";
import assert from "node:assert/strict";

import { defineMetadata, defineRemediator, defineTransformer, defineValidator, remediation } from "../src/roles.js";
import { aboutSet, violation } from "../src/violation.js";

const ctx = { source: { url: "u", revision: "r", path: "" }, target: "t", settingsJson: '{"k": 1}' };

test("metadata describes the policy and turns thrown errors into the settings error", () => {
  const metadata = defineMetadata({
    name: "p",
    version: "1.0.0",
    description: "d",
    settingsSchema: { type: "object" },
    checkSettings(settings) {
      if (settings.bad) throw new Error("settings.bad is bad");
    },
  });
  assert.deepEqual(metadata.info(), { name: "p", version: "1.0.0", description: "d", settingsSchema: '{"type":"object"}' });
  assert.equal(metadata.checkSettings("{}"), undefined);
  assert.throws(() => metadata.checkSettings('{"bad": true}'), (e) => e === "settings.bad is bad");
  assert.throws(() => metadata.checkSettings("{"), (e) => typeof e === "string" && e.startsWith("cannot parse the settings as JSON"));
  assert.throws(() => defineMetadata({ name: "p", version: "1" }), /description/);
});

test("a validator gets parsed objects and settings and returns contract violations", () => {
  const validator = defineValidator((objects, c) => {
    assert.deepEqual(c.settings, { k: 1 });
    return [violation(objects[0], "metadata.labels.team", "missing"), aboutSet("whole set", "warning")];
  });
  const out = validator.validate(['{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}}'], ctx);
  assert.deepEqual(out, [
    { target: { apiVersion: "v1", kind: "ConfigMap", namespace: null, name: "c" }, path: "metadata.labels.team", message: "missing", severity: "error" },
    { target: null, path: "", message: "whole set", severity: "warning" },
  ]);
  assert.throws(() => defineValidator(() => undefined).validate([], ctx), /list of violations/);
  assert.throws(() => violation({}, "", "m", "fatal"), /severity/);
});

test("a transformer returns JSON text, and a throw rejects with its message", () => {
  const transformer = defineTransformer((objects) => objects.map((o) => ({ ...o, added: true })));
  assert.deepEqual(transformer.transform(['{"a":1}'], ctx), ['{"a":1,"added":true}']);
  const refusing = defineTransformer(() => {
    throw new Error("no thanks");
  });
  assert.throws(() => refusing.transform([], ctx), (e) => e === "no thanks");
});

test("a remediator sees the parsed drift and answers a decision or null", () => {
  let seen;
  const remediator = defineRemediator((drift) => {
    seen = drift;
    return drift.deleted ? null : remediation.defer(30);
  });
  const drift = {
    target: { apiVersion: "v1", kind: "ConfigMap", namespace: null, name: "c" },
    desired: '{"data":{"a":"1"}}',
    live: '{"data":{"a":"2"}}',
    changes: [{ path: "data.a", desiredJson: '"1"', liveJson: null }],
  };
  assert.deepEqual(remediator.remediate(drift, ctx), { tag: "defer", val: 30 });
  assert.deepEqual(seen.changes, [{ path: "data.a", desired: "1", live: undefined }]);
  assert.equal(seen.deleted, false);
  assert.equal(remediator.remediate({ ...drift, live: "{}" }, ctx), null);
  assert.deepEqual(defineRemediator(() => "ignore").remediate(drift, ctx), { tag: "ignore" });
  assert.deepEqual(remediation.report("why"), { tag: "report", val: "why" });
  assert.throws(() => defineRemediator(() => 5).remediate(drift, ctx), /decision/);
  assert.throws(() => remediation.defer(-1), RangeError);
});
