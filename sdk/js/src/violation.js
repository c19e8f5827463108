// Building the violations a validator returns. No IO.

import { objectRef } from "./object.js";

/** The contract's severities. `error` blocks the sync; the others are reported. */
export const Severity = Object.freeze({ ERROR: "error", WARNING: "warning", INFO: "info" });

function checkSeverity(severity) {
  if (!Object.values(Severity).includes(severity)) {
    throw new TypeError(`severity must be "error", "warning" or "info", not ${String(severity)}`);
  }
  return severity;
}

/**
 * A violation about one object.
 * @param {object} object the offending object (as parsed)
 * @param {string} path dotted path of the offending field, `""` for the whole object
 * @param {string} message what is wrong, for a person to act on
 * @param {"error"|"warning"|"info"} [severity="error"]
 */
export function violation(object, path, message, severity = Severity.ERROR) {
  return { target: objectRef(object), path, message: String(message), severity: checkSeverity(severity) };
}

/**
 * A violation of a rule about the desired set as a whole.
 * @param {string} message
 * @param {"error"|"warning"|"info"} [severity="error"]
 */
export function aboutSet(message, severity = Severity.ERROR) {
  return { target: null, path: "", message: String(message), severity: checkSeverity(severity) };
}

/** The violation in the exact shape of the contract's `violation` record. */
export function toWit(v) {
  if (v === null || typeof v !== "object") {
    throw new TypeError(`a validator must return violations (see violation()), found ${String(v)}`);
  }
  const target = v.target
    ? {
        apiVersion: String(v.target.apiVersion ?? ""),
        kind: String(v.target.kind ?? ""),
        namespace: v.target.namespace ?? null,
        name: String(v.target.name ?? ""),
      }
    : null;
  return {
    target,
    path: String(v.path ?? ""),
    message: String(v.message ?? ""),
    severity: checkSeverity(v.severity ?? Severity.ERROR),
  };
}
