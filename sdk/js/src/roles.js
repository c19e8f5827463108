// The three roles and `metadata`, as the exports of a policy module:
//
//     export const metadata = defineMetadata({ name, version, description, checkSettings });
//     export const validator = defineValidator((objects, ctx) => [...violations]);
//
// Each `define*` wraps a plain function into the object the contract
// expects: JSON text in, parsed objects to the policy, its answer checked
// and converted back. No IO.

import { objectRef } from "./object.js";
import { toWit } from "./violation.js";

/** The text of a thrown value: an error's message, a string as is. */
export function messageOf(thrown) {
  if (thrown instanceof Error) return thrown.message;
  if (typeof thrown === "string") return thrown;
  return String(thrown);
}

/** Parse JSON text, or throw an error that says what was being read. */
function parse(text, what) {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`cannot parse ${what} as JSON: ${messageOf(e)}`);
  }
}

/**
 * The context of one call, for the policy:
 * `{source: {url, revision, path}, target, settingsJson, settings}`, with
 * `settings` parsed (`null` when the text is not JSON, which the host never
 * sends).
 */
export function context(ctx) {
  let settings = null;
  try {
    settings = JSON.parse(ctx.settingsJson);
  } catch {
    settings = null;
  }
  return { source: ctx.source, target: ctx.target, settingsJson: ctx.settingsJson, settings };
}

/**
 * The `metadata` export.
 * @param {object} spec
 * @param {string} spec.name short, stable name, e.g. `required-labels`
 * @param {string} spec.version the policy's version
 * @param {string} spec.description one or two sentences
 * @param {object} [spec.settingsSchema] a JSON Schema of the settings
 * @param {(settings: unknown) => void} [spec.checkSettings] throws (an Error
 *   or a string) to refuse the settings; its message is shown to the operator.
 *   Without it, every settings object is accepted.
 */
export function defineMetadata(spec) {
  for (const field of ["name", "version", "description"]) {
    if (typeof spec?.[field] !== "string" || spec[field] === "") {
      throw new TypeError(`defineMetadata: \`${field}\` must be a non-empty string`);
    }
  }
  const info = Object.freeze({
    name: spec.name,
    version: spec.version,
    description: spec.description,
    settingsSchema: spec.settingsSchema === undefined ? null : JSON.stringify(spec.settingsSchema),
  });
  return Object.freeze({
    info() {
      return info;
    },
    checkSettings(settingsJson) {
      try {
        const settings = parse(settingsJson, "the settings");
        spec.checkSettings?.(settings);
      } catch (e) {
        throw messageOf(e);
      }
    },
  });
}

/**
 * The `validator` export.
 * @param {(objects: object[], ctx: object) => object[]} validate receives the
 *   parsed desired set and the {@link context}; returns violations (see
 *   `violation()` and `aboutSet()`), `[]` when the set is acceptable. An
 *   exception is a fault of the policy (the sync fails closed unless the
 *   policy is configured fail-open).
 */
export function defineValidator(validate) {
  return Object.freeze({
    validate(objectsJson, ctx) {
      const objects = objectsJson.map((text, i) => parse(text, `object ${i}`));
      const found = validate(objects, context(ctx));
      if (!Array.isArray(found)) {
        throw new TypeError(`validate must return a list of violations, found ${String(found)}`);
      }
      return found.map(toWit);
    },
  });
}

/**
 * The `transformer` export.
 * @param {(objects: object[], ctx: object) => object[]} transform receives the
 *   parsed desired set (change it in place or build a new one) and returns the
 *   new set. Throwing rejects the desired state with the error's message.
 */
export function defineTransformer(transform) {
  return Object.freeze({
    transform(objectsJson, ctx) {
      try {
        const objects = objectsJson.map((text, i) => parse(text, `object ${i}`));
        const out = transform(objects, context(ctx));
        if (!Array.isArray(out)) {
          throw new TypeError(`transform must return the list of objects, found ${String(out)}`);
        }
        return out.map((object) => JSON.stringify(object));
      } catch (e) {
        throw messageOf(e);
      }
    },
  });
}

/**
 * The decisions a remediator can make. Return one of these, or `null` to
 * abstain (the next remediator, or the sync's default, decides).
 */
export const remediation = Object.freeze({
  /** Apply the desired state again (self-heal). */
  reapply: () => ({ tag: "reapply" }),
  /** Accept the live state until Git changes these fields. */
  ignore: () => ({ tag: "ignore" }),
  /** Leave the object alone and report the drift with this message. */
  report: (message) => ({ tag: "report", val: String(message) }),
  /** Delete the object and create it again (for immutable fields). */
  recreate: () => ({ tag: "recreate" }),
  /** Decide again after this many seconds. */
  defer: (seconds) => {
    if (!Number.isInteger(seconds) || seconds < 0 || seconds > 0xffffffff) {
      throw new RangeError(`defer takes whole seconds between 0 and 4294967295, not ${seconds}`);
    }
    return { tag: "defer", val: seconds };
  },
});

const DECISIONS = ["reapply", "ignore", "report", "recreate", "defer"];

/** A remediator's answer in the contract's shape (`null` to abstain). */
function decisionToWit(decision) {
  if (decision === null || decision === undefined) return null;
  if (decision === "reapply" || decision === "ignore" || decision === "recreate") return { tag: decision };
  if (typeof decision === "object" && DECISIONS.includes(decision.tag)) return decision;
  throw new TypeError(
    `remediate must return a decision (see remediation.*) or null to abstain, found ${JSON.stringify(decision)}`,
  );
}

/** Parse optional JSON text (`null` stays `undefined`). */
function parseOptional(text, what) {
  return text === null || text === undefined ? undefined : parse(text, what);
}

/**
 * The drift of one object, for the policy: `{target, desired, live, deleted,
 * changes: [{path, desired, live}]}` with objects and values parsed
 * (`undefined` where the contract says none).
 */
export function drift(d) {
  const live = parse(d.live, "the live object");
  return {
    target: d.target,
    desired: parse(d.desired, "the desired object"),
    live,
    deleted: live !== null && typeof live === "object" && !Array.isArray(live) && Object.keys(live).length === 0,
    changes: d.changes.map((c) => ({
      path: c.path,
      desired: parseOptional(c.desiredJson, `the desired value of ${c.path}`),
      live: parseOptional(c.liveJson, `the live value of ${c.path}`),
    })),
  };
}

/**
 * The `remediator` export.
 * @param {(drift: object, ctx: object) => object|null} remediate receives the
 *   {@link drift} and the {@link context}; returns a decision
 *   (`remediation.ignore()`, ...) or `null` to abstain. An exception is a
 *   fault of the policy.
 */
export function defineRemediator(remediate) {
  return Object.freeze({
    remediate(d, ctx) {
      return decisionToWit(remediate(drift(d), context(ctx)));
    },
  });
}

export { objectRef };
