//! The operator endpoints, on their own address: `/metrics` (Prometheus), `/health`
//! (the process is alive) and `/ready` (the sequencer loop, the signer and log thread and the chain service run
//! and the RPC server accepts), in the form Kubernetes probes expect (200 or 503).

use axum::{Router, extract::State, http::StatusCode, routing::get};
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};
use std::{net::SocketAddr, sync::Arc, time::Duration};

/// Default address of the operator endpoints.
pub const DEFAULT_METRICS_ADDR: &str = "127.0.0.1:9001";
/// How often histograms are compacted (metrics-exporter-prometheus needs it when it does
/// not run its own listener).
const UPKEEP: Duration = Duration::from_secs(5);

/// Latency buckets (seconds): 10 µs to 2.5 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1.0, 2.5,
];
/// Size buckets (transactions per mini-block or block).
const SIZE_BUCKETS: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 4096.0, 16384.0, 65536.0,
];
/// Gas buckets (gas used per block).
const GAS_BUCKETS: &[f64] = &[0.0, 21_000.0, 1e5, 1e6, 1e7, 3e7, 1e8, 3e8, 1e9];

/// Installs the global Prometheus recorder; call before the node registers its metrics.
pub fn install_recorder() -> Result<PrometheusHandle, BuildError> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)?
        .set_buckets_for_metric(Matcher::Suffix("_transactions".into()), SIZE_BUCKETS)?
        .set_buckets_for_metric(
            Matcher::Full("peregrine_block_gas_used".into()),
            GAS_BUCKETS,
        )?
        .install_recorder()?;
    // The runtime this node runs on (`rpc.worker-threads`).
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        metrics::gauge!("peregrine_rpc_worker_threads").set(runtime.metrics().num_workers() as f64);
    }
    Ok(handle)
}

/// Readiness or health: `Ok` or why not.
pub type ReadyCheck = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// What the probes ask: `/ready` (every part runs and the RPC server accepts) and
/// `/health` (no part has failed: a failed node must be restarted).
#[derive(Clone)]
pub struct Probes {
    /// `/ready`.
    pub ready: ReadyCheck,
    /// `/health`.
    pub healthy: ReadyCheck,
}

#[derive(Clone)]
struct AppState {
    prometheus: PrometheusHandle,
    probes: Probes,
}

/// The router (tests call it without a socket).
pub fn app(prometheus: PrometheusHandle, probes: Probes) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(health_probe))
        .route("/ready", get(ready_probe))
        .with_state(AppState { prometheus, probes })
}

async fn health_probe(State(state): State<AppState>) -> (StatusCode, String) {
    match (state.probes.healthy)() {
        Ok(()) => (StatusCode::OK, "ok\n".into()),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("failed: {why}\n")),
    }
}

async fn metrics(State(state): State<AppState>) -> String {
    state.prometheus.render()
}

async fn ready_probe(State(state): State<AppState>) -> (StatusCode, String) {
    match (state.probes.ready)() {
        Ok(()) => (StatusCode::OK, "ready\n".into()),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        ),
    }
}

/// Binds `addr` and serves the router until the runtime stops; also runs the recorder's
/// upkeep.
pub async fn serve(
    addr: SocketAddr,
    prometheus: PrometheusHandle,
    probes: Probes,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let upkeep = prometheus.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(UPKEEP);
        loop {
            tick.tick().await;
            upkeep.run_upkeep();
        }
    });
    let router = app(prometheus, probes);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "metrics server stopped");
        }
    });
    Ok(local)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(addr: SocketAddr, path: &str) -> (u16, String) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut res = agent.get(&format!("http://{addr}{path}")).call().unwrap();
        (
            res.status().as_u16(),
            res.body_mut().read_to_string().unwrap(),
        )
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_failed_node_answers_503_on_both_probes() {
        let failed: ReadyCheck =
            Arc::new(|| Err("cannot write the write-ahead log: disk full".into()));
        let ok: ReadyCheck = Arc::new(|| Ok(()));
        let prometheus = PrometheusBuilder::new().build_recorder().handle();
        let healthy = serve(
            "127.0.0.1:0".parse().unwrap(),
            prometheus.clone(),
            Probes {
                ready: ok.clone(),
                healthy: ok,
            },
        )
        .await
        .unwrap();
        let broken = serve(
            "127.0.0.1:0".parse().unwrap(),
            prometheus,
            Probes {
                ready: failed.clone(),
                healthy: failed,
            },
        )
        .await
        .unwrap();
        let (h, b) = tokio::task::spawn_blocking(move || {
            (
                [status(healthy, "/health"), status(healthy, "/ready")],
                [status(broken, "/health"), status(broken, "/ready")],
            )
        })
        .await
        .unwrap();
        assert_eq!(h[0], (200, "ok\n".into()));
        assert_eq!(h[1], (200, "ready\n".into()));
        assert_eq!(b[0].0, 503);
        assert!(b[0].1.contains("disk full"), "{:?}", b[0]);
        assert_eq!(b[1].0, 503);
    }
}
