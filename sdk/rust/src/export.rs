//! [`export_policy!`](crate::export_policy) and the glue it calls: parse the
//! JSON that crosses the boundary, call the author's trait, serialise the
//! result. No IO.

/// Exports a type as a policy component with the roles named after it.
///
/// ```no_run
/// use plumbline_sdk::{Context, Metadata, Object, PolicyInfo, Transformer, Validator, Violation};
///
/// struct MyPolicy;
/// impl Metadata for MyPolicy {
///     fn info() -> PolicyInfo {
///         PolicyInfo::new("my-policy", "0.1.0", "Labels objects, then checks them.")
///     }
/// }
/// impl Transformer for MyPolicy {
///     fn transform(mut objects: Vec<Object>, _ctx: &Context) -> Result<Vec<Object>, String> {
///         objects.iter_mut().for_each(|o| o.set_label("team", "web"));
///         Ok(objects)
///     }
/// }
/// impl Validator for MyPolicy {
///     fn validate(_objects: &[Object], _ctx: &Context) -> Vec<Violation> {
///         Vec::new()
///     }
/// }
///
/// plumbline_sdk::export_policy!(MyPolicy, validator, transformer);
/// ```
///
/// Roles are `validator`, `transformer`, `remediator` and `health`; the
/// type must implement the matching traits ([`Validator`](crate::Validator),
/// [`Transformer`](crate::Transformer), [`Remediator`](crate::Remediator),
/// [`Health`](crate::Health))
/// and [`Metadata`](crate::Metadata), which is always exported. The
/// component exports exactly these interfaces and imports only the host's
/// `log`. Use the macro once per policy crate (a `cdylib`).
#[macro_export]
macro_rules! export_policy {
    ($policy:ty $(, $role:ident)+ $(,)?) => {
        const _: () = {
            #[doc(hidden)]
            struct __PlumblinePolicyExports;
            $crate::__export_role!(@metadata, $policy, __PlumblinePolicyExports);
            $( $crate::__export_role!($role, $policy, __PlumblinePolicyExports); )+
        };
    };
}

/// Exports one role of a policy; used by [`export_policy!`](crate::export_policy).
#[doc(hidden)]
#[macro_export]
macro_rules! __export_role {
    (@metadata, $policy:ty, $glue:ident) => {
        impl $crate::bindings::metadata::exports::plumbline::policy::metadata::Guest for $glue {
            fn info() -> $crate::PolicyInfo {
                $crate::__private::info::<$policy>()
            }
            fn check_settings(settings_json: ::std::string::String) -> ::std::result::Result<(), ::std::string::String> {
                $crate::__private::check_settings::<$policy>(&settings_json)
            }
        }
        $crate::bindings::metadata::export!($glue with_types_in $crate::bindings::metadata);
    };
    (validator, $policy:ty, $glue:ident) => {
        impl $crate::bindings::validator::exports::plumbline::policy::validator::Guest for $glue {
            fn validate(
                objects: ::std::vec::Vec<::std::string::String>,
                ctx: $crate::Context,
            ) -> ::std::vec::Vec<$crate::Violation> {
                $crate::__private::validate::<$policy>(objects, ctx)
            }
        }
        $crate::bindings::validator::export!($glue with_types_in $crate::bindings::validator);
    };
    (transformer, $policy:ty, $glue:ident) => {
        impl $crate::bindings::transformer::exports::plumbline::policy::transformer::Guest for $glue {
            fn transform(
                objects: ::std::vec::Vec<::std::string::String>,
                ctx: $crate::Context,
            ) -> ::std::result::Result<::std::vec::Vec<::std::string::String>, ::std::string::String> {
                $crate::__private::transform::<$policy>(objects, ctx)
            }
        }
        $crate::bindings::transformer::export!($glue with_types_in $crate::bindings::transformer);
    };
    (remediator, $policy:ty, $glue:ident) => {
        impl $crate::bindings::remediator::exports::plumbline::policy::remediator::Guest for $glue {
            fn remediate(
                drift: $crate::Drift,
                ctx: $crate::Context,
            ) -> ::core::option::Option<$crate::Remediation> {
                $crate::__private::remediate::<$policy>(drift, ctx)
            }
        }
        $crate::bindings::remediator::export!($glue with_types_in $crate::bindings::remediator);
    };
    (health, $policy:ty, $glue:ident) => {
        impl $crate::bindings::health::exports::plumbline::policy::health::Guest for $glue {
            fn kinds() -> ::std::vec::Vec<$crate::GroupKind> {
                $crate::__private::kinds::<$policy>()
            }
            fn assess(
                live: ::std::string::String,
                desired: ::core::option::Option<::std::string::String>,
                ctx: $crate::Context,
            ) -> $crate::Assessment {
                $crate::__private::assess::<$policy>(live, desired, ctx)
            }
        }
        $crate::bindings::health::export!($glue with_types_in $crate::bindings::health);
    };
    ($other:ident, $policy:ty, $glue:ident) => {
        ::std::compile_error!(::std::concat!(
            "unknown policy role `",
            ::std::stringify!($other),
            "`: the roles are `validator`, `transformer`, `remediator` and `health` (metadata is always exported)"
        ));
    };
}

/// The functions [`export_policy!`](crate::export_policy) expands to calls
/// of. Not part of the public API.
#[doc(hidden)]
pub mod __private {
    use crate::health::{Assessment, GroupKind};
    use crate::log::install_panic_hook;
    use crate::object::Object;
    use crate::types::{Context, Drift, PolicyInfo, Remediation, Severity, Violation};
    use crate::{Health, Metadata, Remediator, Transformer, Validator};

    /// `metadata.info`.
    pub fn info<P: Metadata>() -> PolicyInfo {
        install_panic_hook();
        P::info()
    }

    /// `metadata.check-settings`: settings that are not JSON are refused
    /// here, with the parser's message.
    pub fn check_settings<P: Metadata>(settings_json: &str) -> Result<(), String> {
        install_panic_hook();
        let settings: serde_json::Value = serde_json::from_str(settings_json)
            .map_err(|e| format!("settings are not valid JSON: {e}"))?;
        P::check_settings(&settings)
    }

    /// `validator.validate`: an object that does not parse becomes an error
    /// violation naming its position in the batch; the rest are validated.
    pub fn validate<P: Validator>(objects: Vec<String>, ctx: Context) -> Vec<Violation> {
        install_panic_hook();
        let mut unreadable = Vec::new();
        let mut parsed = Vec::with_capacity(objects.len());
        for (index, json) in objects.iter().enumerate() {
            match Object::parse(json) {
                Ok(object) => parsed.push(object),
                Err(e) => unreadable.push(Violation::about_set(
                    format!("object #{index} of the batch cannot be read: {e}"),
                    Severity::Error,
                )),
            }
        }
        let mut violations = P::validate(&parsed, &ctx);
        violations.extend(unreadable);
        violations
    }

    /// `transformer.transform`: an object that does not parse fails the
    /// call, naming its position in the batch.
    pub fn transform<P: Transformer>(
        objects: Vec<String>,
        ctx: Context,
    ) -> Result<Vec<String>, String> {
        install_panic_hook();
        let parsed = objects
            .iter()
            .enumerate()
            .map(|(index, json)| {
                Object::parse(json)
                    .map_err(|e| format!("object #{index} of the batch cannot be read: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let transformed = P::transform(parsed, &ctx)?;
        Ok(transformed.iter().map(Object::to_json).collect())
    }

    /// `remediator.remediate`.
    pub fn remediate<P: Remediator>(drift: Drift, ctx: Context) -> Option<Remediation> {
        install_panic_hook();
        P::remediate(&drift, &ctx)
    }

    /// `health.kinds`.
    pub fn kinds<P: Health>() -> Vec<GroupKind> {
        install_panic_hook();
        P::kinds()
    }

    /// `health.assess`: a live object that does not parse is `unknown`,
    /// saying why; a desired object that does not parse is left out.
    pub fn assess<P: Health>(live: String, desired: Option<String>, ctx: Context) -> Assessment {
        install_panic_hook();
        let live = match Object::parse(&live) {
            Ok(live) => live,
            Err(e) => return Assessment::unknown(format!("the live object cannot be read: {e}")),
        };
        let desired = desired.and_then(|json| Object::parse(&json).ok());
        P::assess(&live, desired.as_ref(), &ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::__private;
    use crate::types::{Context, Drift, ObjectRef, PolicyInfo, Remediation, SourceInfo};
    use crate::{Metadata, Object, Remediator, Severity, Transformer, Validator, Violation};

    /// Reports every object by name; adds a label; reports the `say` setting
    /// on drift, abstains without it.
    struct Echo;

    impl Metadata for Echo {
        fn info() -> PolicyInfo {
            PolicyInfo::new("echo", "0.1.0", "test")
        }
        fn check_settings(settings: &serde_json::Value) -> Result<(), String> {
            match settings.get("ok") {
                Some(serde_json::Value::Bool(false)) => Err("ok is false".into()),
                _ => Ok(()),
            }
        }
    }

    impl Validator for Echo {
        fn validate(objects: &[Object], _ctx: &Context) -> Vec<Violation> {
            objects
                .iter()
                .map(|o| o.violation("", o.name(), Severity::Info))
                .collect()
        }
    }

    impl Transformer for Echo {
        fn transform(mut objects: Vec<Object>, _ctx: &Context) -> Result<Vec<Object>, String> {
            objects.iter_mut().for_each(|o| o.set_label("seen", "yes"));
            Ok(objects)
        }
    }

    impl Remediator for Echo {
        fn remediate(_drift: &Drift, ctx: &Context) -> Option<Remediation> {
            let say = ctx.settings()["say"].as_str()?.to_owned();
            Some(Remediation::Report(say))
        }
    }

    fn context(settings: &str) -> Context {
        Context {
            source: SourceInfo {
                url: "file:///repo".into(),
                revision: "0".repeat(40),
                path: "apps".into(),
            },
            target: "test".into(),
            settings_json: settings.into(),
        }
    }

    #[test]
    fn settings_that_are_not_json_are_refused_before_the_policy_sees_them() {
        let err = __private::check_settings::<Echo>("{oops").expect_err("not JSON");
        assert!(err.starts_with("settings are not valid JSON: "), "{err}");
        assert_eq!(
            __private::check_settings::<Echo>(r#"{"ok": false}"#),
            Err("ok is false".to_owned())
        );
        assert_eq!(__private::check_settings::<Echo>("{}"), Ok(()));
    }

    #[test]
    fn unreadable_objects_become_violations_and_the_rest_are_validated() {
        let objects = vec![
            r#"{"kind":"ConfigMap","metadata":{"name":"a"}}"#.to_owned(),
            "42".to_owned(),
        ];
        let violations = __private::validate::<Echo>(objects, context("{}"));
        assert_eq!(violations.len(), 2);
        assert_eq!(violations[0].message, "a");
        assert!(violations[1].target.is_none());
        assert!(matches!(violations[1].severity, Severity::Error));
        assert_eq!(
            violations[1].message,
            "object #1 of the batch cannot be read: expected a JSON object, found a number"
        );
    }

    #[test]
    fn transform_round_trips_objects_and_fails_on_unreadable_ones() {
        let out = __private::transform::<Echo>(
            vec![r#"{"kind":"ConfigMap","metadata":{"name":"a"}}"#.to_owned()],
            context("{}"),
        )
        .expect("transformed");
        let object = Object::parse(&out[0]).expect("JSON object");
        assert_eq!(object.label("seen"), Some("yes"));
        let err = __private::transform::<Echo>(vec!["{".to_owned()], context("{}"))
            .expect_err("truncated");
        assert!(
            err.starts_with("object #0 of the batch cannot be read: not valid JSON"),
            "{err}"
        );
    }

    #[test]
    fn remediate_sees_the_settings_of_the_call() {
        let decision = __private::remediate::<Echo>(drift(), context(r#"{"say":"hello"}"#));
        assert!(
            matches!(decision, Some(Remediation::Report(ref m)) if m == "hello"),
            "{decision:?}"
        );
        assert_eq!(__private::info::<Echo>().name, "echo");
    }

    impl crate::Health for Echo {
        fn kinds() -> Vec<crate::GroupKind> {
            vec![crate::GroupKind::new("example.com", "*")]
        }
        fn assess(live: &Object, desired: Option<&Object>, _ctx: &Context) -> crate::Assessment {
            match desired {
                Some(desired) => {
                    crate::Assessment::current(format!("{} as desired", desired.name()))
                }
                None => crate::Assessment::in_progress(live.name()),
            }
        }
    }

    #[test]
    fn assess_parses_both_objects_and_an_unreadable_live_one_is_unknown() {
        use crate::HealthStatus;
        let widget = r#"{"kind":"Widget","metadata":{"name":"w"}}"#.to_owned();
        let both = __private::assess::<Echo>(widget.clone(), Some(widget.clone()), context("{}"));
        assert_eq!(
            (both.status, both.message.as_str()),
            (HealthStatus::Current, "w as desired")
        );
        let live_only = __private::assess::<Echo>(widget, None, context("{}"));
        assert_eq!(live_only.status, HealthStatus::InProgress);
        let unreadable = __private::assess::<Echo>("[]".into(), None, context("{}"));
        assert_eq!(unreadable.status, HealthStatus::Unknown);
        assert!(
            unreadable
                .message
                .starts_with("the live object cannot be read: "),
            "{}",
            unreadable.message
        );
        assert_eq!(__private::kinds::<Echo>()[0].kind, "*");
    }

    #[test]
    fn remediate_can_abstain() {
        let decision = __private::remediate::<Echo>(drift(), context("{}"));
        assert!(decision.is_none(), "{decision:?}");
    }

    /// A drifted ConfigMap with no listed changes.
    fn drift() -> Drift {
        Drift {
            target: ObjectRef {
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                namespace: Some("ns".into()),
                name: "a".into(),
            },
            desired: "{}".into(),
            live: "{}".into(),
            changes: Vec::new(),
        }
    }
}
