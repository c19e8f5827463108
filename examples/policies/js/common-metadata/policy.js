// common-metadata: a transformer, the JavaScript port of
// policies/common-metadata (same settings, same messages, same suite).
//
// Adds the `labels` and `annotations` from its settings to every object's
// metadata. A key the object already has keeps its value unless
// `overwrite: true`. With `includeTemplates: true` they are also added to
// pod templates (and a CronJob's job template). Selectors are never touched.

import {
  checkLabelValue,
  checkQualifiedName,
  defineMetadata,
  defineTransformer,
  ensureMap,
  get,
  kind,
  Settings,
  templatePaths,
} from "plumbline-policy";

/** The settings, checked: `{labels, annotations, overwrite, includeTemplates}`. */
function parseSettings(value) {
  const s = new Settings(value, ["labels", "annotations", "overwrite", "includeTemplates"]);
  const labels = s.stringMap("labels") ?? [];
  for (const [key, text] of labels) {
    const reason = checkQualifiedName(key) ?? checkLabelValue(text);
    if (reason !== null) throw s.invalid("labels", reason);
  }
  const annotations = s.stringMap("annotations") ?? [];
  for (const [key] of annotations) {
    const reason = checkQualifiedName(key);
    if (reason !== null) throw s.invalid("annotations", reason);
  }
  if (labels.length === 0 && annotations.length === 0) {
    throw s.invalid("labels", "and settings.annotations are both empty: there is nothing to add");
  }
  return {
    labels,
    annotations,
    overwrite: s.bool("overwrite", false),
    includeTemplates: s.bool("includeTemplates", false),
  };
}

/** Add the labels and annotations to one `metadata` map. */
function apply(config, metadata) {
  for (const [field, entries] of [
    ["labels", config.labels],
    ["annotations", config.annotations],
  ]) {
    if (entries.length === 0) continue;
    const map = ensureMap(metadata, field);
    for (const [key, value] of entries) {
      if (config.overwrite || !Object.hasOwn(map, key)) map[key] = value;
    }
  }
}

/** Whether a value is a JSON object (not null, not a list). */
const isMap = (value) => value !== null && typeof value === "object" && !Array.isArray(value);

export const metadata = defineMetadata({
  name: "common-metadata",
  version: "0.1.0",
  description: "Adds labels and annotations to every object (and, optionally, to pod templates).",
  settingsSchema: {
    type: "object",
    additionalProperties: false,
    properties: {
      labels: { type: "object", additionalProperties: { type: "string" }, description: "Labels to add." },
      annotations: { type: "object", additionalProperties: { type: "string" }, description: "Annotations to add." },
      overwrite: { type: "boolean", default: false, description: "Replace values the object already has." },
      includeTemplates: {
        type: "boolean",
        default: false,
        description: "Also add them to pod templates and job templates.",
      },
    },
  },
  checkSettings: parseSettings,
});

export const transformer = defineTransformer((objects, ctx) => {
  const config = parseSettings(ctx.settings);
  for (const object of objects) {
    apply(config, ensureMap(object, "metadata"));
    if (!config.includeTemplates) continue;
    for (const path of templatePaths(kind(object))) {
      const template = get(object, path);
      if (isMap(template)) apply(config, ensureMap(template, "metadata"));
    }
  }
  return objects;
});
