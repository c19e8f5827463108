//! `test-health-probe`: a test policy with only the health role. It declares
//! `Widget.example.com` and every kind of `probe.example.com`, and returns
//! what the live object asks for, so the engine's tests can check which
//! objects the host asks it about and what it does with each verdict.
//!
//! | trigger on the live object | verdict |
//! |---|---|
//! | annotation `test/health: <status>` (`current`, `in-progress`, `failed`, `unknown`) | that status, message `asked for <status>` |
//! | label `test/panic` | panics (the component traps) |
//! | label `test/loop` | loops forever (for deadline tests) |
//! | label `test/grow` | allocates 1 MiB after 1 MiB until memory runs out |
//! | label `test/shout: <n>` | in progress, with a message of `n` bytes |
//! | label `test/burn: <n>` | spins `n` iterations first (for fuel tests) |
//! | label `test/hold: <n>` | first allocates `n` MiB and keeps it for the instance's later calls |
//! | label `test/count` | unknown, message `call <n> of this instance` (counted over every call) |
//! | otherwise, with a desired object | in progress, message `desired <name> seen` |
//! | otherwise | unknown, message `no desired object` |

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use plumbline_sdk::{Assessment, Context, GroupKind, Health, Metadata, Object, PolicyInfo};

/// Calls of `assess` this instance answered, this one included.
static CALLS: AtomicU64 = AtomicU64::new(0);

/// What `test/hold` keeps for the instance's later calls.
static HELD: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

const MIB: usize = 1 << 20;

/// The number a label of `live` holds, or `None`.
fn number(live: &Object, label: &str) -> Option<usize> {
    live.label(label).and_then(|n| n.parse().ok())
}

/// The policy.
struct HealthProbe;

impl Metadata for HealthProbe {
    fn info() -> PolicyInfo {
        PolicyInfo::new(
            "test-health-probe",
            env!("CARGO_PKG_VERSION"),
            "Test policy: returns the health verdict the object's annotation asks for.",
        )
    }
}

impl Health for HealthProbe {
    fn kinds() -> Vec<GroupKind> {
        vec![
            GroupKind::new("example.com", "Widget"),
            GroupKind::new("probe.example.com", "*"),
        ]
    }

    fn assess(live: &Object, desired: Option<&Object>, _ctx: &Context) -> Assessment {
        let calls = CALLS.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(mib) = number(live, "test/hold") {
            let kept = std::hint::black_box(vec![1u8; mib * MIB]);
            HELD.lock().unwrap_or_else(|e| e.into_inner()).push(kept);
        }
        if let Some(iterations) = number(live, "test/burn") {
            let mut counter: u64 = 0;
            for _ in 0..iterations {
                counter = std::hint::black_box(counter.wrapping_add(1));
            }
        }
        if live.label("test/count").is_some() {
            return Assessment::unknown(format!("call {calls} of this instance"));
        }
        if let Some(bytes) = number(live, "test/shout") {
            return Assessment::in_progress("x".repeat(bytes));
        }
        if live.label("test/grow").is_some() {
            let mut grown = Vec::new();
            loop {
                grown.push(std::hint::black_box(vec![1u8; MIB]));
            }
        }
        if live.label("test/panic").is_some() {
            panic!("asked to panic by {}", live.object_ref());
        }
        if live.label("test/loop").is_some() {
            let mut counter: u64 = 0;
            loop {
                counter = std::hint::black_box(counter.wrapping_add(1));
            }
        }
        match live.annotation("test/health") {
            Some("current") => Assessment::current("asked for current"),
            Some("in-progress") => Assessment::in_progress("asked for in-progress"),
            Some("failed") => Assessment::failed("asked for failed"),
            Some(other) => Assessment::unknown(format!("asked for {other}")),
            None => match desired {
                Some(desired) => {
                    Assessment::in_progress(format!("desired {} seen", desired.name()))
                }
                None => Assessment::unknown("no desired object"),
            },
        }
    }
}

plumbline_sdk::export_policy!(HealthProbe, health);
