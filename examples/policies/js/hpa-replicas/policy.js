// hpa-replicas: a remediator, the JavaScript port of policies/hpa-replicas
// (same settings, same decisions, same suite).
//
// When the only drift of a workload scaled by a HorizontalPodAutoscaler is
// `spec.replicas`, the live replica count is the autoscaler's doing: decide
// `ignore`. On anything else the policy abstains (returns null). The
// workload must be marked as autoscaled: by the annotation named in
// `annotation` (default `plumbline.dev/hpa-managed`) set to "true" on the
// desired or the live object, or by an entry in `workloads`. Only kinds in
// `kinds` (default Deployment and StatefulSet) are considered. On a deleted
// object the policy always abstains.

import {
  annotation,
  checkQualifiedName,
  defineMetadata,
  defineRemediator,
  describe,
  info,
  remediation,
  Settings,
  SettingsError,
} from "plumbline-policy";

/** The annotation that marks a workload as autoscaled, by default. */
const DEFAULT_ANNOTATION = "plumbline.dev/hpa-managed";

/** The only field an autoscaler changes. */
const REPLICAS = "spec.replicas";

/** The settings, checked: `{annotation, kinds, workloads: [{kind, namespace, name}]}`. */
function parseSettings(value) {
  const s = new Settings(value, ["annotation", "kinds", "workloads"]);
  const marker = s.string("annotation") ?? DEFAULT_ANNOTATION;
  const reason = checkQualifiedName(marker);
  if (reason !== null) throw s.invalid("annotation", reason);
  const kinds = s.stringList("kinds") ?? ["Deployment", "StatefulSet"];
  if (kinds.length === 0) throw s.invalid("kinds", "must name at least one kind");
  const workloads = (s.list("workloads") ?? []).map((entry, i) => {
    const w = Settings.nested(s.itemName("workloads", i), entry, ["kind", "namespace", "name"]);
    const required = (key) => {
      const text = w.string(key);
      if (text === undefined || text === "") throw new SettingsError(`${w.name(key)} is required`);
      return text;
    };
    return { kind: required("kind"), namespace: w.string("namespace") ?? null, name: required("name") };
  });
  return { annotation: marker, kinds, workloads };
}

/** Whether the drifted workload is marked as autoscaled. */
function isAutoscaled(config, drift) {
  const { target } = drift;
  const listed = config.workloads.some(
    (w) => w.kind === target.kind && w.name === target.name && w.namespace === (target.namespace ?? null),
  );
  const marked = (object) => annotation(object, config.annotation) === "true";
  return listed || marked(drift.desired) || marked(drift.live);
}

export const metadata = defineMetadata({
  name: "hpa-replicas",
  version: "0.1.0",
  description:
    "Ignores drift of spec.replicas on workloads marked as scaled by a " +
    "HorizontalPodAutoscaler; abstains on every other drift.",
  settingsSchema: {
    type: "object",
    additionalProperties: false,
    properties: {
      annotation: {
        type: "string",
        default: DEFAULT_ANNOTATION,
        description: 'Annotation that, set to "true" on the desired or live object, marks it as autoscaled.',
      },
      kinds: {
        type: "array",
        items: { type: "string" },
        minItems: 1,
        default: ["Deployment", "StatefulSet"],
        description: "Kinds whose replica drift may be ignored.",
      },
      workloads: {
        type: "array",
        description: "Workloads known to be autoscaled.",
        items: {
          type: "object",
          additionalProperties: false,
          required: ["kind", "name"],
          properties: { kind: { type: "string" }, namespace: { type: "string" }, name: { type: "string" } },
        },
      },
    },
  },
  checkSettings: parseSettings,
});

export const remediator = defineRemediator((drift, ctx) => {
  let config;
  try {
    config = parseSettings(ctx.settings);
  } catch (e) {
    return remediation.report(`hpa-replicas settings: ${e.message}`);
  }
  const onlyReplicas = drift.changes.length > 0 && drift.changes.every((c) => c.path === REPLICAS);
  if (drift.deleted || !config.kinds.includes(drift.target.kind) || !onlyReplicas || !isAutoscaled(config, drift)) {
    return null;
  }
  info(`${describe(drift.target)}: replica drift left to the HorizontalPodAutoscaler`);
  return remediation.ignore();
});
