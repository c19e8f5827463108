//! Integration tests: the real `kube::Client` over real HTTP against the emulator, grouped by
//! area. Each test starts its own emulator.

mod crud;
mod deletion;
mod discovery;
mod faults;
mod normalize;
mod ssa;
mod watch;

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::Client;
use kube_emulator::Emulator;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Starts an emulator and returns it with a client.
pub async fn start() -> (Emulator, Client) {
    let emulator = Emulator::start().await.expect("emulator starts");
    let client = emulator.client().expect("client builds");
    (emulator, client)
}

/// Deserialises a JSON literal into a typed object.
pub fn obj<T: DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).expect("fixture deserialises")
}

/// The status code of a kube API error, or panics with the error.
pub fn code(err: kube::Error) -> u16 {
    match err {
        kube::Error::Api(s) => s.code,
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// Server-side applies a JSON object as `manager` through a dynamic API.
pub async fn apply(
    api: &Api<DynamicObject>,
    manager: &str,
    v: Value,
) -> kube::Result<DynamicObject> {
    let name = v["metadata"]["name"].as_str().expect("name").to_string();
    api.patch(&name, &PatchParams::apply(manager), &Patch::Apply(&v))
        .await
}
