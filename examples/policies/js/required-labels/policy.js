// required-labels: a validator, the JavaScript port of
// policies/required-labels (same settings, same messages, same suite).
//
// Every object of the desired set (or of the kinds in `kinds`) must carry
// each label in `labels`; where `valuePattern` gives a regular expression
// for a label, the label's value must match it as a whole. A pattern for a
// label that is not required is checked only when the label is present.
// One error per missing or mismatching label, at the label's path.

import {
  aboutSet,
  checkQualifiedName,
  childPath,
  defineMetadata,
  defineValidator,
  kind,
  labels,
  Settings,
  SettingsError,
  violation,
} from "plumbline-policy";

/** The settings, checked: `{labels, patterns: [[label, pattern, RegExp]], kinds}`. */
function parseSettings(value) {
  const s = new Settings(value, ["labels", "valuePattern", "kinds"]);
  const required = s.stringList("labels") ?? [];
  for (const label of required) {
    const reason = checkQualifiedName(label);
    if (reason !== null) throw s.invalid("labels", reason);
  }
  const patterns = [];
  for (const [label, pattern] of s.stringMap("valuePattern") ?? []) {
    let regex;
    try {
      regex = new RegExp(`^(?:${pattern})$`, "u");
    } catch (e) {
      throw new SettingsError(
        `${childPath(s.name("valuePattern"), label)} is not a valid regular expression: ${e.message}`,
      );
    }
    patterns.push([label, pattern, regex]);
  }
  if (required.length === 0 && patterns.length === 0) {
    throw s.invalid("labels", "must name at least one label (or give settings.valuePattern)");
  }
  const kinds = s.stringList("kinds");
  if (kinds !== undefined && kinds.length === 0) {
    throw s.invalid("kinds", "must name at least one kind (leave it out to check every kind)");
  }
  return { labels: required, patterns, kinds };
}

/** Every violation of one object. */
function check(config, object, found) {
  const present = labels(object);
  const has = (label) => present !== undefined && Object.hasOwn(present, label);
  for (const label of config.labels) {
    if (!has(label)) {
      found.push(violation(object, childPath("metadata.labels", label), `missing required label \`${label}\``));
    }
  }
  for (const [label, pattern, regex] of config.patterns) {
    if (!has(label)) continue;
    const value = present[label];
    let message;
    if (typeof value !== "string") {
      message = `label \`${label}\` must be a string, found ${JSON.stringify(value)}`;
    } else if (regex.test(value)) {
      continue;
    } else {
      message = `label \`${label}\` has value \`${value}\`, which does not match \`${pattern}\``;
    }
    found.push(violation(object, childPath("metadata.labels", label), message));
  }
}

export const metadata = defineMetadata({
  name: "required-labels",
  version: "0.1.0",
  description:
    "Every object (optionally only of some kinds) must carry the required labels, " +
    "with values matching the given regular expressions.",
  settingsSchema: {
    type: "object",
    additionalProperties: false,
    properties: {
      labels: { type: "array", items: { type: "string" }, description: "Label keys every checked object must carry." },
      valuePattern: {
        type: "object",
        additionalProperties: { type: "string" },
        description: "Label key -> regular expression the whole value must match.",
      },
      kinds: { type: "array", items: { type: "string" }, description: "Only check objects of these kinds (default: all)." },
    },
  },
  checkSettings: parseSettings,
});

export const validator = defineValidator((objects, ctx) => {
  let config;
  try {
    config = parseSettings(ctx.settings);
  } catch (e) {
    return [aboutSet(e.message)];
  }
  const found = [];
  for (const object of objects) {
    if (config.kinds === undefined || config.kinds.includes(kind(object))) check(config, object, found);
  }
  return found;
});
