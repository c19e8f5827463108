// Reading and checking a policy's settings (the operator's JSON), with error
// messages that name the offending setting: `settings.labels[1] must be a
// string, found a number`. The same messages as the Rust standard policies,
// so the same test suites pass against both. No IO.

/** A setting that is missing, of the wrong type or invalid. Its message is shown to the operator. */
export class SettingsError extends Error {
  /**
   * @param {string} message the whole message, e.g. `settings.kinds must name at least one kind`
   */
  constructor(message) {
    super(message);
    this.name = "SettingsError";
  }
}

/**
 * The JSON type of a value, as error messages name it: `null`, `a boolean`,
 * `a number`, `a string`, `a list`, `an object`.
 * @param {unknown} value
 * @returns {string}
 */
export function jsonType(value) {
  if (value === null || value === undefined) return "null";
  if (Array.isArray(value)) return "a list";
  switch (typeof value) {
    case "boolean":
      return "a boolean";
    case "number":
    case "bigint":
      return "a number";
    case "string":
      return "a string";
    default:
      return "an object";
  }
}

/**
 * The dotted path of `key` below `parent`, quoting keys that contain `.`,
 * `[` or `]`: `childPath("metadata.labels", "team")` is
 * `metadata.labels.team`, `childPath("metadata.labels", "app.kubernetes.io/name")`
 * is `metadata.labels["app.kubernetes.io/name"]`.
 * @param {string} parent
 * @param {string} key
 * @returns {string}
 */
export function childPath(parent, key) {
  if (/[.[\]]/.test(key)) return `${parent}[${JSON.stringify(key)}]`;
  if (parent === "") return key;
  return `${parent}.${key}`;
}

/** Whether `value` is a plain JSON object (not null, not a list). */
function isObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/**
 * One object of settings: the whole `settings`, or an object inside them
 * (`settings.workloads[0]`), with typed getters that name the setting in
 * their errors. Keys whose value is `null` read as absent. Keys are visited
 * in sorted order, so the first error reported does not depend on the order
 * the operator wrote them in.
 */
export class Settings {
  /**
   * The top-level settings. `null` reads as `{}`; anything but an object is
   * refused, as is any key not in `known`.
   * @param {unknown} value the parsed settings
   * @param {string[]} known the keys the policy understands
   */
  constructor(value, known, at = "settings") {
    if ((value === null || value === undefined) && at === "settings") value = {};
    if (!isObject(value)) {
      throw new SettingsError(`${at} must be an object, found ${jsonType(value)}`);
    }
    const unknown = Object.keys(value)
      .sort()
      .find((key) => !known.includes(key));
    if (unknown !== undefined) {
      throw new SettingsError(`unknown setting \`${unknown}\` in ${at} (known: ${known.join(", ")})`);
    }
    /** Where these settings are, e.g. `settings` or `settings.workloads[0]`. */
    this.at = at;
    /** The settings object itself. */
    this.value = value;
  }

  /**
   * Settings nested inside others, named `at` in errors.
   * @param {string} at e.g. `settings.workloads[0]`
   * @param {unknown} value
   * @param {string[]} known
   * @returns {Settings}
   */
  static nested(at, value, known) {
    return new Settings(value, known, at);
  }

  /** The full name of a key, e.g. `settings.labels`. */
  name(key) {
    return `${this.at}.${key}`;
  }

  /** The full name of a list item, e.g. `settings.workloads[2]`. */
  itemName(key, index) {
    return `${this.name(key)}[${index}]`;
  }

  /** The raw value of a key, or `undefined` when absent or `null`. */
  get(key) {
    const value = this.value[key];
    return value === null ? undefined : value;
  }

  /** The raw value of a key; throws when it is absent. */
  require(key) {
    const value = this.get(key);
    if (value === undefined) throw new SettingsError(`${this.name(key)} is required`);
    return value;
  }

  /** A boolean, `fallback` when absent. */
  bool(key, fallback) {
    const value = this.get(key);
    if (value === undefined) return fallback;
    if (typeof value === "boolean") return value;
    throw this.wrongType(key, "true or false", value);
  }

  /** A string, or `undefined` when absent. */
  string(key) {
    const value = this.get(key);
    if (value === undefined || typeof value === "string") return value;
    throw this.wrongType(key, "a string", value);
  }

  /** A list of strings, or `undefined` when absent. */
  stringList(key) {
    const value = this.get(key);
    if (value === undefined) return undefined;
    if (!Array.isArray(value)) throw this.wrongType(key, "a list of strings", value);
    value.forEach((item, i) => {
      if (typeof item !== "string") {
        throw new SettingsError(`${this.itemName(key, i)} must be a string, found ${jsonType(item)}`);
      }
    });
    return value;
  }

  /** An object of strings as `[key, value]` pairs sorted by key, or `undefined` when absent. */
  stringMap(key) {
    const value = this.get(key);
    if (value === undefined) return undefined;
    if (!isObject(value)) throw this.wrongType(key, "an object of strings", value);
    const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    for (const [k, v] of entries) {
      if (typeof v !== "string") {
        throw new SettingsError(`${childPath(this.name(key), k)} must be a string, found ${jsonType(v)}`);
      }
    }
    return entries;
  }

  /** A list of any values, or `undefined` when absent. */
  list(key) {
    const value = this.get(key);
    if (value === undefined || Array.isArray(value)) return value;
    throw this.wrongType(key, "a list", value);
  }

  /**
   * An error about one setting: `settings.<key> <reason>`.
   * @returns {SettingsError} to throw
   */
  invalid(key, reason) {
    return new SettingsError(`${this.name(key)} ${reason}`);
  }

  /** @private */
  wrongType(key, expected, found) {
    return new SettingsError(`${this.name(key)} must be ${expected}, found ${jsonType(found)}`);
  }
}

const NAME_BODY = /^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$/;
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

function isDnsLabel(text) {
  return text.length > 0 && text.length <= 63 && DNS_LABEL.test(text);
}

function isDnsSubdomain(text) {
  return text.length > 0 && text.length <= 253 && text.split(".").every(isDnsLabel);
}

/**
 * Check a label or annotation key (`team`, `app.kubernetes.io/name`).
 * @param {string} key
 * @returns {string|null} why it is invalid, or `null` when it is valid
 */
export function checkQualifiedName(key) {
  const slash = key.lastIndexOf("/");
  const prefix = slash >= 0 ? key.slice(0, slash) : null;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== null && !isDnsSubdomain(prefix)) {
    return (
      `key \`${key}\` has an invalid prefix \`${prefix}\` (it must be a lower-case DNS ` +
      "subdomain of at most 253 characters)"
    );
  }
  if (name.length === 0 || name.length > 63 || !NAME_BODY.test(name)) {
    return (
      `key \`${key}\` is not a valid name (at most 63 characters: alphanumerics, \`-\`, \`_\` ` +
      "and `.`, starting and ending with an alphanumeric)"
    );
  }
  return null;
}

/**
 * Check a label value (empty, or at most 63 name characters).
 * @param {string} value
 * @returns {string|null} why it is invalid, or `null` when it is valid
 */
export function checkLabelValue(value) {
  if (value === "" || (value.length <= 63 && NAME_BODY.test(value))) return null;
  return (
    `value \`${value}\` is not a valid label value (at most 63 characters: alphanumerics, ` +
    "`-`, `_` and `.`, starting and ending with an alphanumeric)"
  );
}

/**
 * Check a namespace name (a DNS label).
 * @param {string} name
 * @returns {string|null} why it is invalid, or `null` when it is valid
 */
export function checkNamespace(name) {
  if (isDnsLabel(name)) return null;
  return (
    `\`${name}\` is not a valid namespace name (at most 63 lower-case alphanumerics or \`-\`, ` +
    "starting and ending with an alphanumeric)"
  );
}
