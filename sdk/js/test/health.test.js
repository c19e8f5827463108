// Unit tests of the health role wrapper (node --test): JSON text in, the
// contract's shapes out. No host needed.

import { test } from "node:test";
import assert from "node:assert/strict";

import { condition, defineHealth, describeCondition, generation, health } from "../src/health.js";

const ctx = { source: { url: "u", revision: "r", path: "" }, target: "t", settingsJson: "{}" };

const policy = defineHealth({
  kinds: [{ group: "example.com", kind: "Widget" }],
  assess(live, desired) {
    const ready = condition(live, "Ready");
    if (desired !== undefined) return health.current(`${desired.metadata.name} as desired`);
    if (ready === undefined) return health.inProgress("no Ready yet");
    return ready.status === "False" ? health.failed(describeCondition(ready)) : health.current();
  },
});

test("kinds are returned as declared, and bad declarations are refused", () => {
  assert.deepEqual(policy.kinds(), [{ group: "example.com", kind: "Widget" }]);
  assert.throws(() => defineHealth({ kinds: [{ group: "g" }], assess() {} }), /kinds/);
  assert.throws(() => defineHealth({ kinds: [] }), /assess/);
});

test("assess parses both objects and returns the contract's assessment", () => {
  const failing = JSON.stringify({
    kind: "Widget",
    metadata: { name: "w", generation: 2 },
    status: { conditions: [{ type: "Ready", status: "False", reason: "Broken", message: "gear jammed" }] },
  });
  assert.deepEqual(policy.assess(failing, null, ctx), { status: "failed", message: "Broken: gear jammed" });
  assert.deepEqual(policy.assess('{"kind":"Widget"}', null, ctx), { status: "in-progress", message: "no Ready yet" });
  assert.deepEqual(policy.assess(failing, '{"metadata":{"name":"w"}}', ctx), { status: "current", message: "w as desired" });
  assert.deepEqual(policy.assess("[]", null, ctx).status, "unknown");
  assert.equal(generation(JSON.parse(failing)), 2);
  assert.equal(describeCondition({ type: "Ready", status: "Unknown" }), "Ready is Unknown");
});

test("a verdict that is not one of health.* is a fault", () => {
  const bad = defineHealth({ kinds: [], assess: () => ({ status: "healthy", message: "" }) });
  assert.throws(() => bad.assess("{}", null, ctx), /health\.\*/);
});
