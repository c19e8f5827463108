// Kubernetes objects as plain JavaScript objects (parsed from the JSON text
// that crosses the component boundary): accessors for the fields every
// policy reads, references, dotted paths, and the containers of every
// workload kind with the JSON path of each. No IO.

import { childPath } from "./settings.js";

function isObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function metadataOf(object) {
  return isObject(object?.metadata) ? object.metadata : undefined;
}

/** `apiVersion`, or `""`. */
export function apiVersion(object) {
  return typeof object?.apiVersion === "string" ? object.apiVersion : "";
}

/** `kind`, or `""`. */
export function kind(object) {
  return typeof object?.kind === "string" ? object.kind : "";
}

/** `metadata.name`, or `""`. */
export function name(object) {
  const value = metadataOf(object)?.name;
  return typeof value === "string" ? value : "";
}

/** `metadata.namespace`, or `null` when it has none. */
export function namespace(object) {
  const value = metadataOf(object)?.namespace;
  return typeof value === "string" ? value : null;
}

/** `metadata.labels` when it is a map, else `undefined`. */
export function labels(object) {
  const value = metadataOf(object)?.labels;
  return isObject(value) ? value : undefined;
}

/** The value of one label when it is a string, else `undefined`. */
export function label(object, key) {
  const value = labels(object)?.[key];
  return typeof value === "string" ? value : undefined;
}

/** `metadata.annotations` when it is a map, else `undefined`. */
export function annotations(object) {
  const value = metadataOf(object)?.annotations;
  return isObject(value) ? value : undefined;
}

/** The value of one annotation when it is a string, else `undefined`. */
export function annotation(object, key) {
  const value = annotations(object)?.[key];
  return typeof value === "string" ? value : undefined;
}

/**
 * `parent[key]` as a map: created when missing, replaced when it is not a
 * map (e.g. `labels: null`). Returns the map.
 */
export function ensureMap(parent, key) {
  if (!isObject(parent[key])) parent[key] = {};
  return parent[key];
}

/** Set a label, creating `metadata` and `metadata.labels` as needed. */
export function setLabel(object, key, value) {
  ensureMap(ensureMap(object, "metadata"), "labels")[key] = value;
}

/** Set an annotation, creating `metadata` and `metadata.annotations` as needed. */
export function setAnnotation(object, key, value) {
  ensureMap(ensureMap(object, "metadata"), "annotations")[key] = value;
}

/**
 * Split a dotted path with indices and quoted keys
 * (`spec.containers[0].image`, `metadata.labels["app.kubernetes.io/name"]`)
 * into keys and numbers.
 * @param {string} path
 * @returns {(string|number)[]}
 */
export function parsePath(path) {
  const steps = [];
  const pattern = /\[("(?:[^"\\]|\\.)*")\]|\[(\d+)\]|\.?([^.[\]]+)/gy;
  let match;
  while (pattern.lastIndex < path.length && (match = pattern.exec(path)) !== null) {
    if (match[1] !== undefined) steps.push(JSON.parse(match[1]));
    else if (match[2] !== undefined) steps.push(Number(match[2]));
    else steps.push(match[3]);
  }
  return steps;
}

/**
 * The value at a dotted path (see {@link parsePath}), or `undefined`.
 * @param {object} object
 * @param {string} path
 */
export function get(object, path) {
  let current = object;
  for (const step of parsePath(path)) {
    if (typeof step === "number" ? !Array.isArray(current) : !isObject(current)) return undefined;
    current = current[step];
    if (current === undefined) return undefined;
  }
  return current;
}

/**
 * The reference the host uses to name an object:
 * `{apiVersion, kind, namespace, name}` (namespace `null` when it has none).
 */
export function objectRef(object) {
  return {
    apiVersion: apiVersion(object),
    kind: kind(object),
    namespace: namespace(object),
    name: name(object),
  };
}

/** An object reference for people: `apps/v1/Deployment shop/web`. */
export function describe(ref) {
  const where = ref.namespace ? `${ref.namespace}/${ref.name}` : ref.name;
  return `${ref.apiVersion}/${ref.kind} ${where}`;
}

/** Where each workload kind keeps its pod spec. */
const POD_SPEC_PATHS = Object.freeze({
  Pod: "spec",
  PodTemplate: "template.spec",
  Deployment: "spec.template.spec",
  StatefulSet: "spec.template.spec",
  DaemonSet: "spec.template.spec",
  ReplicaSet: "spec.template.spec",
  ReplicationController: "spec.template.spec",
  Job: "spec.template.spec",
  CronJob: "spec.jobTemplate.spec.template.spec",
});

/** Where each workload kind keeps the metadata of its pod (and job) templates. */
const TEMPLATE_PATHS = Object.freeze({
  Deployment: ["spec.template"],
  StatefulSet: ["spec.template"],
  DaemonSet: ["spec.template"],
  ReplicaSet: ["spec.template"],
  ReplicationController: ["spec.template"],
  Job: ["spec.template"],
  CronJob: ["spec.jobTemplate", "spec.jobTemplate.spec.template"],
  PodTemplate: ["template"],
});

/** The container lists of a pod spec, in the order they are visited. */
export const CONTAINER_FIELDS = Object.freeze(["initContainers", "containers", "ephemeralContainers"]);

/**
 * The path of the pod spec of a workload kind (`spec.template.spec` for a
 * Deployment), or `null` for kinds without one.
 * @param {string} kindName
 */
export function podSpecPath(kindName) {
  return POD_SPEC_PATHS[kindName] ?? null;
}

/**
 * The paths of the templates of a workload kind whose `metadata` describes
 * its pods (and, for a CronJob, its jobs), e.g. `["spec.template"]`.
 * @param {string} kindName
 * @returns {string[]}
 */
export function templatePaths(kindName) {
  return TEMPLATE_PATHS[kindName] ?? [];
}

/** The pod spec of a workload, or `undefined`. */
export function podSpec(object) {
  const path = podSpecPath(kind(object));
  if (path === null) return undefined;
  const spec = get(object, path);
  return isObject(spec) ? spec : undefined;
}

/**
 * Every container of a workload (init, regular and ephemeral), each as
 * `{field, index, name, image, container, path}`: `container` is the
 * container object itself (changes to it change the workload), `path` its
 * dotted path, e.g. `spec.template.spec.containers[0]`.
 * @param {object} object
 */
export function containers(object) {
  const base = podSpecPath(kind(object));
  const spec = podSpec(object);
  if (base === null || spec === undefined) return [];
  const found = [];
  for (const field of CONTAINER_FIELDS) {
    const list = spec[field];
    if (!Array.isArray(list)) continue;
    list.forEach((container, index) => {
      if (!isObject(container)) return;
      found.push({
        field,
        index,
        name: typeof container.name === "string" ? container.name : "",
        image: typeof container.image === "string" ? container.image : undefined,
        container,
        path: `${base}.${field}[${index}]`,
      });
    });
  }
  return found;
}

export { childPath };
