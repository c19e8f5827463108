// How the component is built. The policy builder (sdk/build) replaces this
// file when it stages the SDK: `WASI` is true when the project sets
// `"plumbline": {"wasi": true}` and the component keeps its WASI imports.

/** Whether the component imports WASI (and so has the host's fixed clock). */
export const WASI = false;
