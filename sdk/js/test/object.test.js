// Unit tests of the object helpers (node --test). No host needed.

import { test } from "node:test";
import assert from "node:assert/strict";

import {
  annotation,
  childPath,
  containers,
  describe,
  ensureMap,
  get,
  label,
  namespace,
  name,
  objectRef,
  parsePath,
  podSpecPath,
  setLabel,
  templatePaths,
} from "../src/object.js";

const deployment = () => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name: "web", namespace: "shop", labels: { "app.kubernetes.io/name": "web" }, annotations: { a: "1" } },
  spec: {
    template: {
      spec: {
        initContainers: [{ name: "init", image: "busybox" }],
        containers: [{ name: "a", image: "nginx" }, { name: "b" }],
        ephemeralContainers: [{ name: "debug", image: "alpine" }],
      },
    },
  },
});

test("paths split into keys and indices, with quoted keys", () => {
  assert.deepEqual(parsePath("spec.containers[0].image"), ["spec", "containers", 0, "image"]);
  assert.deepEqual(parsePath('metadata.labels["app.kubernetes.io/name"]'), ["metadata", "labels", "app.kubernetes.io/name"]);
  assert.equal(get(deployment(), "spec.template.spec.containers[1].name"), "b");
  assert.equal(get(deployment(), 'metadata.labels["app.kubernetes.io/name"]'), "web");
  assert.equal(get(deployment(), "spec.template.spec.containers[5].name"), undefined);
  assert.equal(get(deployment(), "metadata.name.length"), undefined);
  assert.equal(childPath("metadata.labels", "team"), "metadata.labels.team");
  assert.equal(childPath("metadata.labels", "a.b/c"), 'metadata.labels["a.b/c"]');
  assert.equal(childPath("", "spec"), "spec");
});

test("accessors tolerate missing and mistyped metadata", () => {
  assert.equal(name({}), "");
  assert.equal(namespace({ metadata: { namespace: 5 } }), null);
  assert.equal(label({ metadata: { labels: null } }, "x"), undefined);
  assert.equal(label({ metadata: { labels: { x: 5 } } }, "x"), undefined);
  assert.equal(annotation(deployment(), "a"), "1");
  const ref = objectRef(deployment());
  assert.deepEqual(ref, { apiVersion: "apps/v1", kind: "Deployment", namespace: "shop", name: "web" });
  assert.equal(describe(ref), "apps/v1/Deployment shop/web");
  assert.equal(describe({ ...ref, namespace: null }), "apps/v1/Deployment web");
});

test("setters create and replace maps", () => {
  const object = { metadata: { labels: "text" } };
  setLabel(object, "team", "a");
  assert.deepEqual(object, { metadata: { labels: { team: "a" } } });
  const bare = {};
  ensureMap(ensureMap(bare, "metadata"), "annotations").x = "y";
  assert.deepEqual(bare, { metadata: { annotations: { x: "y" } } });
});

test("every container of every workload kind, with its path", () => {
  const found = containers(deployment()).map((c) => [c.path, c.name, c.image]);
  assert.deepEqual(found, [
    ["spec.template.spec.initContainers[0]", "init", "busybox"],
    ["spec.template.spec.containers[0]", "a", "nginx"],
    ["spec.template.spec.containers[1]", "b", undefined],
    ["spec.template.spec.ephemeralContainers[0]", "debug", "alpine"],
  ]);
  const cronJob = { kind: "CronJob", spec: { jobTemplate: { spec: { template: { spec: { containers: [{ name: "c" }] } } } } } };
  assert.deepEqual(containers(cronJob).map((c) => c.path), ["spec.jobTemplate.spec.template.spec.containers[0]"]);
  const pod = { kind: "Pod", spec: { containers: [{ name: "p" }] } };
  containers(pod)[0].container.image = "changed";
  assert.equal(pod.spec.containers[0].image, "changed");
  assert.deepEqual(containers({ kind: "ConfigMap", data: {} }), []);
  assert.deepEqual(containers({ kind: "Deployment" }), []);
  assert.equal(podSpecPath("PodTemplate"), "template.spec");
  assert.equal(podSpecPath("Service"), null);
  assert.deepEqual(templatePaths("CronJob"), ["spec.jobTemplate", "spec.jobTemplate.spec.template"]);
});
