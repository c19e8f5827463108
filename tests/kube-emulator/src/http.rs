//! The HTTP front end: accepts connections on the listener, routes Kubernetes API paths to the
//! store, applies injected faults, counts requests, and writes JSON responses (or streamed
//! watch bodies). Does socket IO; one task per connection, cut on API restart.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream;
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderValue, ACCEPT, CONTENT_TYPE, RETRY_AFTER, USER_AGENT};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::discovery::{self, ResourceType};
use crate::faults::{Fault, Faults};
use crate::requests::{Counters, Verb};
use crate::selectors::{FieldSelector, LabelSelector, Selector};
use crate::ssa::Scope;
use crate::status::{ApiError, Result};
use crate::store::{DeleteOpts, PatchType, Propagation, Store, WriteOpts};
use crate::watch::{self, WatchParams};

/// Everything the request handlers share.
pub(crate) struct Shared {
    pub(crate) store: Arc<Mutex<Store>>,
    pub(crate) faults: Faults,
    pub(crate) counters: Counters,
    pub(crate) server: String,
    pub(crate) bookmark_interval: Duration,
}

impl Shared {
    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

type Body = BoxBody<Bytes, Infallible>;

/// The error that makes hyper close the connection without a response.
#[derive(Debug, thiserror::Error)]
#[error("connection dropped by fault injection")]
pub(crate) struct Dropped;

/// Accepts connections until `shutdown` fires.
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: oneshot::Receiver<()>,
) {
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => return,
            a = listener.accept() => a,
        };
        let Ok((stream, _)) = accepted else { continue };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let mut restarts = shared.faults.restarts();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let shared = shared.clone();
                async move { handle(shared, req).await }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc);
            tokio::select! {
                _ = conn => {}
                _ = restarts.changed() => {}
            }
        });
    }
}

fn json_response(code: u16, v: &Value) -> Response<Body> {
    let body = serde_json::to_vec(v).unwrap_or_default();
    let mut r = Response::new(Full::new(Bytes::from(body)).boxed());
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn error_response(e: &ApiError) -> Response<Body> {
    json_response(e.code, &e.to_status())
}

/// A parsed resource path.
struct Target {
    resource: Arc<ResourceType>,
    namespace: Option<String>,
    name: Option<String>,
    status: bool,
}

enum Route {
    Version,
    CoreVersions,
    Groups,
    Group(String),
    Resources(String, String),
    Object(Target),
}

fn route(shared: &Shared, path: &str) -> Result<Route> {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let (group, version, rest) = match segs.as_slice() {
        ["version"] => return Ok(Route::Version),
        ["api"] => return Ok(Route::CoreVersions),
        ["apis"] => return Ok(Route::Groups),
        ["apis", g] => return Ok(Route::Group(g.to_string())),
        ["api", v] => return Ok(Route::Resources(String::new(), v.to_string())),
        ["apis", g, v] => return Ok(Route::Resources(g.to_string(), v.to_string())),
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Err(ApiError::no_route(path)),
    };
    let core_ns_sub =
        group.is_empty() && rest.len() == 3 && matches!(rest[2], "status" | "finalize");
    let (namespace, rest) = if rest.len() >= 3 && rest[0] == "namespaces" && !core_ns_sub {
        (Some(rest[1].to_string()), &rest[2..])
    } else {
        (None, rest)
    };
    let resource = shared
        .store()
        .registry
        .get(group, version, rest[0])
        .ok_or_else(|| ApiError::no_route(path))?;
    if namespace.is_some() && !resource.namespaced {
        return Err(ApiError::no_route(path));
    }
    let status = match rest.get(2) {
        None => false,
        Some(&"status") if resource.status && rest.len() == 3 => true,
        Some(_) => return Err(ApiError::no_route(path)),
    };
    Ok(Route::Object(Target {
        resource,
        namespace,
        name: rest.get(1).map(|s| s.to_string()),
        status,
    }))
}

fn verb_of(
    method: &Method,
    route: &Route,
    query: &HashMap<String, String>,
    content_type: &str,
) -> Verb {
    let Route::Object(t) = route else {
        return Verb::Discovery;
    };
    let collection = t.name.is_none();
    match (method, collection) {
        (&Method::GET, true) if query.get("watch").is_some_and(|w| w == "true" || w == "1") => {
            Verb::Watch
        }
        (&Method::GET, true) => Verb::List,
        (&Method::GET, false) => Verb::Get,
        (&Method::POST, _) => Verb::Create,
        (&Method::PUT, _) => Verb::Update,
        (&Method::PATCH, _) if content_type.starts_with("application/apply-patch") => Verb::Apply,
        (&Method::PATCH, _) => Verb::Patch,
        (&Method::DELETE, true) => Verb::DeleteCollection,
        (&Method::DELETE, false) => Verb::Delete,
        _ => Verb::Get,
    }
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> std::result::Result<Response<Body>, Dropped> {
    let path = req.uri().path().to_string();
    let query: HashMap<String, String> =
        form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let header = |name| {
        req.headers()
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let (content_type, accept, agent) = (header(CONTENT_TYPE), header(ACCEPT), header(USER_AGENT));
    let route = route(&shared, &path);
    let verb = route
        .as_ref()
        .map(|r| verb_of(req.method(), r, &query, &content_type))
        .unwrap_or(Verb::Get);
    shared.counters.record(verb);
    let (latency, fault) = shared.faults.take(verb);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match fault {
        Some(Fault::DropConnection) => return Err(Dropped),
        Some(Fault::InternalError) => {
            return Ok(error_response(&ApiError::internal(
                "injected fault: internal error",
            )))
        }
        Some(Fault::TooManyRequests { retry_after_secs }) => {
            let mut r = error_response(&ApiError::too_many_requests());
            r.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(retry_after_secs));
            return Ok(r);
        }
        None => {}
    }
    let method = req.method().clone();
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Err(Dropped),
    };
    let route = match route {
        Ok(r) => r,
        Err(e) => return Ok(error_response(&e)),
    };
    let ctx = Ctx {
        shared: &shared,
        query: &query,
        content_type: &content_type,
        agent: &agent,
    };
    Ok(match dispatch(ctx, &method, route, &accept, &body) {
        Ok(Reply::Json(code, v)) => json_response(code, &v),
        Ok(Reply::Object(code, v)) => json_response(code, &v),
        Ok(Reply::Watch(rx)) => {
            let s = stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|b| (Ok(Frame::data(b)), rx))
            });
            let mut r = Response::new(BodyExt::boxed(StreamBody::new(s)));
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            r
        }
        Err(e) => error_response(&e),
    })
}

enum Reply {
    Json(u16, Value),
    Object(u16, Arc<Value>),
    Watch(tokio::sync::mpsc::Receiver<Bytes>),
}

#[derive(Clone, Copy)]
struct Ctx<'a> {
    shared: &'a Shared,
    query: &'a HashMap<String, String>,
    content_type: &'a str,
    agent: &'a str,
}

impl Ctx<'_> {
    fn q(&self, k: &str) -> Option<&str> {
        self.query
            .get(k)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn flag(&self, k: &str) -> bool {
        matches!(self.q(k), Some("true" | "1"))
    }

    fn selector(&self) -> Result<Selector> {
        Ok(Selector {
            labels: self
                .q("labelSelector")
                .map(LabelSelector::parse)
                .transpose()?
                .unwrap_or_default(),
            fields: self
                .q("fieldSelector")
                .map(FieldSelector::parse)
                .transpose()?
                .unwrap_or_default(),
        })
    }

    fn write_opts(&self, apply: bool) -> WriteOpts {
        let manager = match self.q("fieldManager") {
            Some(m) => m.to_string(),
            None if apply => String::new(),
            None => self
                .agent
                .split('/')
                .next()
                .filter(|s| !s.is_empty())
                .unwrap_or("unknown")
                .to_string(),
        };
        WriteOpts {
            manager,
            dry_run: self.q("dryRun") == Some("All"),
            force: self.flag("force"),
        }
    }
}

fn parse_body(body: &[u8], yaml: bool) -> Result<Value> {
    if body.is_empty() {
        return Ok(Value::Null);
    }
    match serde_json::from_slice(body) {
        Ok(v) => Ok(v),
        Err(e) if !yaml => Err(ApiError::bad_request(format!(
            "the request body is not valid JSON: {e}"
        ))),
        Err(_) => serde_yaml::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}"))),
    }
}

fn dispatch(
    ctx: Ctx<'_>,
    method: &Method,
    route: Route,
    accept: &str,
    body: &[u8],
) -> Result<Reply> {
    let shared = ctx.shared;
    let aggregated = accept.contains("as=APIGroupDiscoveryList");
    let t = match route {
        Route::Version => return Ok(Reply::Json(200, discovery::version())),
        Route::CoreVersions if aggregated => {
            return Ok(Reply::Json(200, shared.store().registry.aggregated(true)))
        }
        Route::CoreVersions => {
            return Ok(Reply::Json(
                200,
                shared.store().registry.core_versions(&shared.server),
            ))
        }
        Route::Groups if aggregated => {
            return Ok(Reply::Json(200, shared.store().registry.aggregated(false)))
        }
        Route::Groups => return Ok(Reply::Json(200, shared.store().registry.group_list())),
        Route::Group(g) => {
            let v = shared
                .store()
                .registry
                .group(&g)
                .ok_or_else(|| ApiError::no_route(&format!("/apis/{g}")))?;
            return Ok(Reply::Json(200, v));
        }
        Route::Resources(g, v) => {
            let list = shared
                .store()
                .registry
                .resource_list(&g, &v)
                .ok_or_else(|| ApiError::no_route(&format!("{g}/{v}")))?;
            return Ok(Reply::Json(200, list));
        }
        Route::Object(t) => t,
    };
    let rt = t.resource.clone();
    let ns = t.namespace.as_deref();
    let scope = if t.status {
        Scope::Status
    } else {
        Scope::Main {
            status_subresource: rt.status,
        }
    };
    let need_ns = || -> Result<&str> {
        match ns {
            Some(n) => Ok(n),
            None if !rt.namespaced => Ok(""),
            None => Err(ApiError::method_not_allowed(format!(
                "{} must be addressed within a namespace",
                rt.plural
            ))),
        }
    };
    match (method, t.name.as_deref()) {
        (&Method::GET, None) if ctx.flag("watch") => {
            let rv = match ctx.q("resourceVersion") {
                None | Some("0") => None,
                Some(r) => Some(r.parse::<u64>().map_err(|_| {
                    ApiError::bad_request(format!("invalid resourceVersion {r:?}"))
                })?),
            };
            let selector = ctx.selector()?;
            let start = shared.store().watch(&rt, ns, &selector, rv);
            let timeout = ctx
                .q("timeoutSeconds")
                .and_then(|s| s.parse().ok())
                .unwrap_or(1800u64);
            let params = WatchParams {
                resource: rt.clone(),
                namespace: ns.map(str::to_string),
                selector,
                bookmarks: ctx.flag("allowWatchBookmarks"),
                send_initial_events: ctx.flag("sendInitialEvents") && rv.is_none(),
                timeout: Duration::from_secs(timeout),
                bookmark_interval: shared.bookmark_interval,
            };
            Ok(Reply::Watch(watch::spawn(
                start,
                params,
                shared.faults.restarts(),
            )))
        }
        (&Method::GET, None) => {
            let limit = ctx
                .q("limit")
                .and_then(|l| l.parse::<usize>().ok())
                .filter(|l| *l > 0);
            let list = shared
                .store()
                .list(&rt, ns, &ctx.selector()?, limit, ctx.q("continue"))?;
            Ok(Reply::Json(200, list))
        }
        (&Method::GET, Some(name)) => Ok(Reply::Object(
            200,
            shared.store().get(&rt, need_ns()?, name)?,
        )),
        (&Method::POST, None) => {
            let ns = need_ns()?;
            let obj = shared.store().create(
                &rt,
                Some(ns),
                parse_body(body, false)?,
                &ctx.write_opts(false),
            )?;
            Ok(Reply::Object(201, obj))
        }
        (&Method::PUT, Some(name)) => {
            let obj = shared.store().update(
                &rt,
                need_ns()?,
                name,
                parse_body(body, false)?,
                scope,
                &ctx.write_opts(false),
            )?;
            Ok(Reply::Object(200, obj))
        }
        (&Method::PATCH, Some(name)) => {
            let ct = ctx.content_type.split(';').next().unwrap_or("").trim();
            let kind = match ct {
                "application/apply-patch+yaml" | "application/apply-patch+json" => PatchType::Apply,
                "application/merge-patch+json" => PatchType::Merge,
                "application/strategic-merge-patch+json" => PatchType::Strategic,
                "application/json-patch+json" => PatchType::Json,
                other => return Err(ApiError::unsupported_media(other)),
            };
            if kind == PatchType::Strategic && rt.custom {
                return Err(ApiError::unsupported_media(ct));
            }
            let apply = kind == PatchType::Apply;
            if !apply && ctx.flag("force") {
                return Err(ApiError::bad_request(
                    "force must be unset for non-apply patch requests",
                ));
            }
            let ns = need_ns()?;
            let patch = parse_body(body, apply)?;
            let mut store = shared.store();
            let existed = store.contains(&rt, ns, name);
            let obj = store.patch(&rt, ns, name, kind, patch, scope, &ctx.write_opts(apply))?;
            Ok(Reply::Object(
                if apply && !existed { 201 } else { 200 },
                obj,
            ))
        }
        (&Method::DELETE, name) => {
            let body = parse_body(body, false)?;
            let propagation = match ctx
                .q("propagationPolicy")
                .or_else(|| body.get("propagationPolicy").and_then(Value::as_str))
            {
                Some("Foreground") => Propagation::Foreground,
                Some("Orphan") => Propagation::Orphan,
                Some("Background") | None => {
                    if body.get("orphanDependents").and_then(Value::as_bool) == Some(true) {
                        Propagation::Orphan
                    } else {
                        Propagation::Background
                    }
                }
                Some(other) => {
                    return Err(ApiError::bad_request(format!(
                        "unknown propagationPolicy {other:?}"
                    )))
                }
            };
            let dry_run = ctx.q("dryRun") == Some("All")
                || body
                    .get("dryRun")
                    .and_then(Value::as_array)
                    .is_some_and(|a| a.iter().any(|v| v == "All"));
            let opts = DeleteOpts {
                propagation,
                uid: body
                    .pointer("/preconditions/uid")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                resource_version: body
                    .pointer("/preconditions/resourceVersion")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                dry_run,
            };
            match name {
                Some(name) => {
                    let ns = need_ns()?;
                    let mut store = shared.store();
                    let obj = store.delete(&rt, ns, name, &opts)?;
                    let still_there = !dry_run && store.contains(&rt, ns, name);
                    Ok(Reply::Object(if still_there { 202 } else { 200 }, obj))
                }
                None => Ok(Reply::Json(
                    200,
                    shared
                        .store()
                        .delete_collection(&rt, ns, &ctx.selector()?, &opts)?,
                )),
            }
        }
        _ => Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({method})"
        ))),
    }
}
