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
//! | otherwise, with a desired object | in progress, message `desired <name> seen` |
//! | otherwise | unknown, message `no desired object` |

use plumbline_sdk::{Assessment, Context, GroupKind, Health, Metadata, Object, PolicyInfo};

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
