// Logging through the host: the only capability a policy imports.
//
// Each call writes one line to the policy log of the current evaluation
// (`plumbline:policy/host.log`); the host bounds the total output of one
// evaluation and counts the lines it drops. Importing this module also
// points `console.log`/`info`/`warn`/`error`/`debug` at the host log, so
// code written for other JavaScript runtimes logs the same way.

import { log as hostLog } from "plumbline:policy/host@0.1.0";

/** The levels of the contract's `host.level` enum. */
export const LEVELS = Object.freeze(["trace", "debug", "info", "warn", "error"]);

/**
 * Write one line to the policy log.
 * @param {"trace"|"debug"|"info"|"warn"|"error"} level
 * @param {...unknown} parts joined with spaces; non-strings are shown as JSON
 */
export function log(level, ...parts) {
  if (!LEVELS.includes(level)) {
    throw new TypeError(`log level must be one of ${LEVELS.join(", ")}, not ${String(level)}`);
  }
  hostLog(level, parts.map(show).join(" "));
}

/** `log("trace", ...)`. */
export const trace = (...parts) => log("trace", ...parts);
/** `log("debug", ...)`. */
export const debug = (...parts) => log("debug", ...parts);
/** `log("info", ...)`. */
export const info = (...parts) => log("info", ...parts);
/** `log("warn", ...)`. */
export const warn = (...parts) => log("warn", ...parts);
/** `log("error", ...)`. */
export const error = (...parts) => log("error", ...parts);

/** A value as log text: strings as they are, errors with their message, the rest as JSON. */
function show(value) {
  if (typeof value === "string") return value;
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  if (value === undefined) return "undefined";
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

globalThis.console = Object.freeze({
  log: info,
  info,
  debug,
  trace,
  warn,
  error,
});
