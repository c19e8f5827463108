//! The controller's HTTP endpoints (hyper 1, HTTP/1.1):
//!
//! | method and path | answer |
//! |---|---|
//! | `GET /healthz` | 200 while the process serves (liveness) |
//! | `GET /readyz` | 200 while [`State::ready`] is true (the CLI: while this replica leads), else 503 (readiness) |
//! | `GET /metrics` | the [`Metrics`] as OpenMetrics text |
//! | `POST /hooks/git` | a Git push webhook ([`super::webhook`]): 202 and the push is sent to the runner; 401 for a missing or wrong signature, 400 for a body that is not a push, 404 when no secret is configured |
//!
//! In: a bound `TcpListener` and a [`State`]. Out: [`GitPush`]es on the
//! webhook channel. IO: serves TCP until the shutdown future completes, then
//! lets in-flight requests finish.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use super::metrics::{self, Delivery, Metrics};
use super::webhook::{self, GitPush};

/// The largest webhook body read (GitHub caps payloads at 25 MB; pushes of
/// many commits are the big ones, and only `ref` and `repository` matter).
pub const MAX_BODY: usize = 4 * 1024 * 1024;

/// The webhook path.
pub const HOOK_PATH: &str = "/hooks/git";

/// Errors of serving.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Binding the listen address failed (in use, not permitted).
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address asked for.
        address: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Accepting a connection failed (e.g. out of file descriptors).
    #[error("accepting a connection: {0}")]
    Accept(#[source] std::io::Error),
}

/// Results of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where verified pushes go.
#[derive(Debug, Clone)]
pub struct Webhook {
    /// The shared secret configured at the forge.
    pub secret: Vec<u8>,
    /// The runner's channel of pushes.
    pub pushes: mpsc::Sender<GitPush>,
}

/// What the endpoints answer from.
#[derive(Clone)]
pub struct State {
    /// The metrics to expose.
    pub metrics: Arc<Metrics>,
    /// `true` while this replica should receive traffic; `plumbline
    /// controller` passes its leadership, so webhooks reach the leader.
    pub ready: watch::Receiver<bool>,
    /// The webhook, when a secret is configured.
    pub webhook: Option<Webhook>,
}

/// Bind `address` (e.g. `0.0.0.0:8080`, or `127.0.0.1:0` for any port).
pub async fn bind(address: &str) -> Result<TcpListener> {
    TcpListener::bind(address)
        .await
        .map_err(|source| Error::Bind {
            address: address.to_owned(),
            source,
        })
}

/// Serve until `shutdown` completes; then stop accepting, finish the
/// requests in flight, and return.
pub async fn serve(
    listener: TcpListener,
    state: State,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let state = Arc::new(state);
    let (closing, closed) = watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // A connection reset before it was accepted is no reason
                // to stop serving.
                Err(error) if error.kind() == std::io::ErrorKind::ConnectionAborted => continue,
                Err(error) => return Err(Error::Accept(error)),
            },
            () = &mut shutdown => break,
        };
        let state = Arc::clone(&state);
        let mut closed = closed.clone();
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let state = Arc::clone(&state);
                async move { Ok::<_, Infallible>(route(&state, request).await) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            tokio::select! {
                served = connection.as_mut() => {
                    if let Err(error) = served {
                        tracing::debug!("http connection: {error}");
                    }
                }
                _ = async { closed.wait_for(|closing| *closing).await.map(|_| ()) } => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
        // Reap finished connections so the set does not grow.
        while connections.try_join_next().is_some() {}
    }
    let _ = closing.send(true);
    while connections.join_next().await.is_some() {}
    Ok(())
}

async fn route(state: &State, request: Request<Incoming>) -> Response<Full<Bytes>> {
    match (request.method(), request.uri().path()) {
        (&Method::GET, "/healthz") => text(StatusCode::OK, "ok\n"),
        (&Method::GET, "/readyz") => {
            let ready = *state.ready.borrow();
            if ready {
                text(StatusCode::OK, "ready\n")
            } else {
                text(StatusCode::SERVICE_UNAVAILABLE, "not ready: not leading\n")
            }
        }
        (&Method::GET, "/metrics") => {
            let mut response = text(StatusCode::OK, &state.metrics.encode());
            response.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static(metrics::CONTENT_TYPE),
            );
            response
        }
        (&Method::POST, HOOK_PATH) => match &state.webhook {
            Some(hook) => receive(hook, &state.metrics, request).await,
            None => text(StatusCode::NOT_FOUND, "no webhook secret is configured\n"),
        },
        (_, "/healthz" | "/readyz" | "/metrics" | HOOK_PATH) => {
            text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n")
        }
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

async fn receive(
    hook: &Webhook,
    metrics: &Metrics,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let signature = header(webhook::SIGNATURE_HEADER);
    let event = webhook::EVENT_HEADERS.iter().find_map(|name| header(name));
    let body = match Limited::new(request.into_body(), MAX_BODY).collect().await {
        Ok(body) => body.to_bytes(),
        Err(error) => {
            metrics.record_delivery(Delivery::BadRequest);
            return text(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("cannot read the body (at most {MAX_BODY} bytes): {error}\n"),
            );
        }
    };
    if let Err(error) = webhook::verify(&hook.secret, &body, signature.as_deref()) {
        metrics.record_delivery(Delivery::BadSignature);
        tracing::warn!("webhook refused: {error}");
        return text(StatusCode::UNAUTHORIZED, &format!("{error}\n"));
    }
    match webhook::parse(event.as_deref(), &body) {
        Ok(Some(push)) => {
            tracing::info!(reference = %push.reference, urls = ?push.urls, "webhook: push");
            metrics.record_delivery(Delivery::Accepted);
            // Never block the forge: a full queue means the runner is
            // behind, and the queued pushes will fetch the newest commit
            // anyway.
            match hook.pushes.try_send(push) {
                Ok(()) => text(StatusCode::ACCEPTED, "accepted\n"),
                Err(mpsc::error::TrySendError::Full(_)) => text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "busy: too many pushes queued\n",
                ),
                Err(mpsc::error::TrySendError::Closed(_)) => text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the controller is shutting down\n",
                ),
            }
        }
        Ok(None) => {
            metrics.record_delivery(Delivery::Ignored);
            text(StatusCode::OK, "ignored: not a push event\n")
        }
        Err(error) => {
            metrics.record_delivery(Delivery::BadRequest);
            text(StatusCode::BAD_REQUEST, &format!("{error}\n"))
        }
    }
}

fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_owned())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
