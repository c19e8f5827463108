// Adjusts the JavaScript globals to the sandbox. No IO.
//
// A component built without WASI (the default) has no clock: QuickJS's
// `Date.now()`, `new Date()` and `performance.now()` would trap the whole
// evaluation with an `unreachable` instruction. Here they throw an Error that says why and what
// to do instead, which the policy can catch. With `"wasi": true` the host's
// fixed clock (2000-01-01T00:00:00Z) answers and nothing is changed.

import { WASI } from "./build-config.js";

/** The message of the error thrown instead of reading the clock. */
export const NO_CLOCK =
  "a policy has no clock: it was built without WASI (policies must give the same answer " +
  'every time; set "plumbline": {"wasi": true} in package.json for the host\'s fixed clock)';

if (!WASI) {
  const RealDate = globalThis.Date;
  const noClock = () => {
    throw new Error(NO_CLOCK);
  };
  function SandboxDate(...args) {
    if (!new.target) noClock();
    if (args.length === 0) noClock();
    return Reflect.construct(RealDate, args, new.target);
  }
  Object.setPrototypeOf(SandboxDate, RealDate);
  SandboxDate.prototype = RealDate.prototype;
  SandboxDate.now = noClock;
  globalThis.Date = SandboxDate;
  globalThis.performance = Object.freeze({ now: noClock });
}
