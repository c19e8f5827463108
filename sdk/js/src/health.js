// The health role: `defineHealth` makes the `health` export, `health.*`
// build its verdicts, `condition` and `describeCondition` read the status
// conditions most health rules look at. No IO.
//
//     export const health = defineHealth({
//       kinds: [{ group: "cert-manager.io", kind: "Certificate" }],
//       assess(live, desired, ctx) { return health.current("issued"); },
//     });

import { context } from "./roles.js";
import { get } from "./object.js";

const STATUSES = ["current", "in-progress", "failed", "unknown"];

/** The verdicts a health policy returns. */
export const health = Object.freeze({
  /** Fully reconciled and ready. */
  current: (message = "") => ({ status: "current", message: String(message) }),
  /** Still being reconciled; may become ready on its own. */
  inProgress: (message) => ({ status: "in-progress", message: String(message) }),
  /** Failed, and will not recover on its own. */
  failed: (message) => ({ status: "failed", message: String(message) }),
  /** The policy cannot tell. */
  unknown: (message) => ({ status: "unknown", message: String(message) }),
});

/** The condition of this type in `status.conditions`, or `undefined`. */
export function condition(object, type) {
  const conditions = get(object, "status.conditions");
  if (!Array.isArray(conditions)) return undefined;
  return conditions.find((c) => c !== null && typeof c === "object" && c.type === type);
}

/**
 * A condition for a person: `reason: message`, whichever of them is set,
 * or `<type> is <status>` when neither is (as the Rust and Python SDKs).
 */
export function describeCondition(c) {
  const text = (field) => (typeof c?.[field] === "string" ? c[field] : "");
  const [reason, message] = [text("reason"), text("message")];
  if (reason && message) return `${reason}: ${message}`;
  if (reason || message) return reason || message;
  return `${text("type")} is ${text("status")}`;
}

/** `metadata.generation`, if it is a number. */
export function generation(object) {
  const value = get(object, "metadata.generation");
  return Number.isInteger(value) ? value : undefined;
}

/** Parse JSON text to an object, or `undefined` when it is not one. */
function parseObject(text) {
  try {
    const value = JSON.parse(text);
    return value !== null && typeof value === "object" && !Array.isArray(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The `health` export.
 * @param {object} spec
 * @param {{group: string, kind: string}[]} spec.kinds the kinds the policy
 *   assesses (`group` `""` for the core group, `kind` `"*"` for every kind
 *   of the group); the host judges every other kind by its built-in rules.
 * @param {(live: object, desired: object|undefined, ctx: object) => object}
 *   spec.assess receives the live object (status included), the desired one
 *   (or `undefined`) and the context; returns a verdict (`health.*`).
 */
export function defineHealth(spec) {
  const kinds = spec?.kinds;
  if (!Array.isArray(kinds) || kinds.some((k) => typeof k?.group !== "string" || typeof k?.kind !== "string")) {
    throw new TypeError("defineHealth: `kinds` must be a list of {group, kind} strings");
  }
  if (typeof spec.assess !== "function") {
    throw new TypeError("defineHealth: `assess` must be a function");
  }
  const declared = kinds.map((k) => ({ group: k.group, kind: k.kind }));
  return Object.freeze({
    kinds() {
      return declared;
    },
    assess(liveJson, desiredJson, ctx) {
      const live = parseObject(liveJson);
      if (live === undefined) {
        return health.unknown("the live object cannot be read: not a JSON object");
      }
      const desired = desiredJson === null || desiredJson === undefined ? undefined : parseObject(desiredJson);
      const verdict = spec.assess(live, desired, context(ctx));
      if (!STATUSES.includes(verdict?.status) || typeof verdict.message !== "string") {
        throw new TypeError(`assess must return a verdict (see health.*), found ${JSON.stringify(verdict)}`);
      }
      return { status: verdict.status, message: verdict.message };
    },
  });
}
