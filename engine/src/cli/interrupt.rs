//! Ctrl+C and SIGTERM, for the commands that stop on them: `sync` stops
//! between API requests, `controller` shuts down gracefully.

/// Wait for Ctrl+C or SIGTERM; returns which came, for messages.
pub async fn signalled() -> &'static str {
    #[cfg(unix)]
    {
        let kind = tokio::signal::unix::SignalKind::terminate();
        let Ok(mut term) = tokio::signal::unix::signal(kind) else {
            let _ = tokio::signal::ctrl_c().await;
            return "Ctrl+C";
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => "Ctrl+C",
            _ = term.recv() => "SIGTERM",
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl+C"
    }
}
