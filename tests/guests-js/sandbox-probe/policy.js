// A policy that tries to get out of the sandbox: read a file, read the
// environment, open a network connection (and read the clock). Each attempt
// is logged through the host log and through `console.log`, and returned as
// one `info` violation about the set, `<what>: denied: <error>` or
// `<what>: GOT <value>`, so a test can see every outcome.
// engine/tests/policy_javascript.rs builds it (with and without WASI) and
// asserts that every attempt was denied.

import { aboutSet, defineMetadata, defineValidator, info } from "plumbline-policy";

/* global require, std, process, XMLHttpRequest, WebSocket */

const ATTEMPTS = [
  ["file: require('fs').readFileSync('/etc/passwd')", () => require("fs").readFileSync("/etc/passwd", "utf8")],
  ["file: std.loadFile('/etc/passwd')", () => std.loadFile("/etc/passwd")],
  ["env: process.env.HOME", () => process.env.HOME],
  ["env: std.getenv('HOME')", () => std.getenv("HOME")],
  ["network: fetch('http://127.0.0.1:9/')", () => fetch("http://127.0.0.1:9/")],
  ["network: new WebSocket('ws://127.0.0.1:9/')", () => new WebSocket("ws://127.0.0.1:9/")],
  ["network: new XMLHttpRequest()", () => new XMLHttpRequest()],
  ["clock: Date.now()", () => Date.now()],
];

/** Run one attempt: what it got, or why it was denied. */
function attempt(run) {
  try {
    const value = run();
    return `GOT ${typeof value === "string" ? value : JSON.stringify(value)}`;
  } catch (e) {
    return `denied: ${e.name}: ${e.message}`;
  }
}

export const metadata = defineMetadata({
  name: "js-sandbox-probe",
  version: "0.1.0",
  description: "Tries to read a file, the environment and the network, and reports what happened.",
});

export const validator = defineValidator(() =>
  ATTEMPTS.map(([what, run]) => {
    const outcome = `${what}: ${attempt(run)}`;
    info(`probe ${outcome}`);
    console.log(`console ${outcome}`);
    return aboutSet(outcome, "info");
  }),
);
