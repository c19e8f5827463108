// plumbline-policy: write Plumbline policies in JavaScript.
//
// A policy is an ES module that exports `metadata` and one or more roles
// (`validator`, `transformer`, `remediator`, `health`), each made with the matching
// `define*` function. See README.md.

import "./runtime.js";

export {
  defineMetadata,
  defineValidator,
  defineTransformer,
  defineRemediator,
  remediation,
  context,
  drift,
  messageOf,
} from "./roles.js";
export { defineHealth, health, condition, describeCondition, generation } from "./health.js";
export { violation, aboutSet, Severity } from "./violation.js";
export {
  apiVersion,
  kind,
  name,
  namespace,
  labels,
  label,
  annotations,
  annotation,
  ensureMap,
  setLabel,
  setAnnotation,
  parsePath,
  get,
  objectRef,
  describe,
  podSpecPath,
  podSpec,
  templatePaths,
  containers,
  CONTAINER_FIELDS,
} from "./object.js";
export {
  Settings,
  SettingsError,
  jsonType,
  childPath,
  checkQualifiedName,
  checkLabelValue,
  checkNamespace,
} from "./settings.js";
export { log, trace, debug, info, warn, error, LEVELS } from "./host.js";
