//! The operations listener of `logcrawl run` (`[api] listen`): `/metrics` for Prometheus, `/health`
//! (the process serves) and `/ready` (every source is crawling and the state store takes commits).
//!
//! `/health` is a liveness probe: it answers 200 whenever the process's runtime can answer at all, so an
//! orchestrator restarts only a hung process. `/ready` is the real verdict (see [`health`]): 503 with a
//! JSON body naming each source that is not ready and why, which is what an alert or a load balancer
//! should look at. Neither says anything a secret could be read from: error messages are redacted by
//! the component that failed.

#[cfg(test)]
mod documented;
pub mod health;
pub mod metrics;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use logcrawl_core::{CheckpointStore, CrawlStats};
use tokio_util::sync::CancellationToken;

/// What the endpoints read: live and shared with the running crawl (a reload changes `sources` and
/// `failure_budget` in place).
#[derive(Debug, Clone)]
pub struct ApiState {
    /// Every stream's counters and health.
    pub stats: Arc<CrawlStats>,
    /// The checkpoint store, probed by `/ready`.
    pub store: Arc<dyn CheckpointStore>,
    /// Sources running.
    pub sources: Arc<AtomicUsize>,
    /// `[api] failure_budget`.
    pub failure_budget: Arc<AtomicU32>,
    started: Instant,
}

impl ApiState {
    /// The state of a crawl counting into `stats` and committing to `store`.
    pub fn new(stats: Arc<CrawlStats>, store: Arc<dyn CheckpointStore>, failure_budget: u32) -> Self {
        Self {
            stats,
            store,
            sources: Arc::default(),
            failure_budget: Arc::new(AtomicU32::new(failure_budget)),
            started: Instant::now(),
        }
    }
}

/// Binds `addr` (an error names it: a port in use must stop the start, not go unnoticed) and serves
/// until `shutdown` is cancelled. Returns the bound address (the port, when `addr` asked for port 0).
pub async fn serve(addr: SocketAddr, state: ApiState, shutdown: CancellationToken) -> anyhow::Result<SocketAddr> {
    // Installed before the crawl starts, so the first requests are counted.
    metrics::handle();
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("[api] listen = \"{addr}\": cannot listen there"))?;
    let bound = listener.local_addr().unwrap_or(addr);
    let app = Router::new()
        .route("/metrics", get(scrape))
        .route("/health", get(health_check))
        .route("/ready", get(ready))
        .with_state(state);
    tokio::spawn(async move {
        let server = axum::serve(listener, app).with_graceful_shutdown(shutdown.cancelled_owned());
        if let Err(err) = server.await {
            tracing::error!(error = %err, "the [api] listener failed");
        }
    });
    tracing::info!(address = %bound, "serving /metrics, /health and /ready");
    Ok(bound)
}

async fn scrape(State(state): State<ApiState>) -> Response {
    let text = metrics::render(
        &state.stats,
        state.sources.load(Ordering::Relaxed),
        state.failure_budget.load(Ordering::Relaxed),
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
}

async fn health_check(State(state): State<ApiState>) -> Response {
    let body = serde_json::json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": state.started.elapsed().as_secs(),
    });
    axum::Json(body).into_response()
}

async fn ready(State(state): State<ApiState>) -> Response {
    let store = state.store.clone();
    let probe = tokio::task::spawn_blocking(move || store.check_writable().map_err(|err| err.to_string()))
        .await
        .unwrap_or_else(|join| Err(format!("the store probe failed: {join}")));
    let readiness = health::readiness(&state.stats, state.failure_budget.load(Ordering::Relaxed), probe);
    let status = if readiness.ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, axum::Json(readiness)).into_response()
}
