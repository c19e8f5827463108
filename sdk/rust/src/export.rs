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
/// Roles are `validator`, `transformer` and `remediator`; the type must
/// implement the matching traits ([`Validator`](crate::Validator),
/// [`Transformer`](crate::Transformer), [`Remediator`](crate::Remediator))
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
            fn remediate(drift: $crate::Drift, ctx: $crate::Context) -> $crate::Remediation {
                $crate::__private::remediate::<$policy>(drift, ctx)
            }
        }
        $crate::bindings::remediator::export!($glue with_types_in $crate::bindings::remediator);
    };
    ($other:ident, $policy:ty, $glue:ident) => {
        ::std::compile_error!(::std::concat!(
            "unknown policy role `",
            ::std::stringify!($other),
            "`: the roles are `validator`, `transformer` and `remediator` (metadata is always exported)"
        ));
    };
}

/// The functions [`export_policy!`](crate::export_policy) expands to calls
/// of. Not part of the public API.
#[doc(hidden)]
pub mod __private {
    use crate::log::install_panic_hook;
    use crate::object::Object;
    use crate::types::{Context, Drift, PolicyInfo, Remediation, Severity, Violation};
    use crate::{Metadata, Remediator, Transformer, Validator};

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
    pub fn remediate<P: Remediator>(drift: Drift, ctx: Context) -> Remediation {
        install_panic_hook();
        P::remediate(&drift, &ctx)
    }
}
