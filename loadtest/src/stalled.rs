//! Stalled subscribers (`--stalled-subscribers N`): WebSocket connections that subscribe to
//! `miniBlocks` (the heaviest feed: headers, receipts and state diffs) and then read
//! nothing while the run goes on, so a run can show whether a consumer that falls behind
//! slows anyone else. Their receive buffer is fixed at [`RECV_BUFFER`] bytes, so the node's
//! per-connection buffer fills within seconds instead of after the kernel's autotuned
//! buffers (tens of MB) do.
//!
//! After the drain they read again until the node has nothing more for them, and the
//! report says how many the node closed (an error notification or a closed connection).

use crate::{
    config::{Endpoint, Transport},
    error::{LoadError, LoadResult},
    report::StalledSummary,
    rpc::{Arrival, FrameSink, WsConn},
};
use parking_lot::Mutex;
use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

/// `SO_RCVBUF` of a stalled connection (Linux doubles it).
pub(crate) const RECV_BUFFER: u32 = 4096;
/// The feed they subscribe to.
const KIND: &str = "miniBlocks";
/// After reading again: done when nothing arrived for this long...
const QUIET: Duration = Duration::from_millis(300);
/// ...or after this long in all.
const MAX_CATCH_UP: Duration = Duration::from_secs(20);

/// What one stalled connection saw.
#[derive(Default)]
struct Seen {
    notifications: AtomicU64,
    last_at: Mutex<Option<Instant>>,
    /// The error notification that closed its subscription, if any.
    error: Mutex<Option<String>>,
    closed: AtomicBool,
}

impl FrameSink for Seen {
    fn payload(&self, _idx: u32) -> &[u8] {
        &[]
    }

    fn on_sent(&self, _idx: u32, _at: Instant) {}

    fn on_tx_response(&self, _idx: u32, _msg: &[u8], _at: Arrival) {}

    fn on_notification(&self, msg: &[u8], at: Arrival) {
        *self.last_at.lock() = Some(at.at);
        let error = serde_json::from_slice::<serde_json::Value>(msg)
            .ok()
            .and_then(|v| {
                let e = v["params"].get("error")?;
                Some(e.as_str().map_or_else(|| e.to_string(), str::to_owned))
            });
        match error {
            Some(e) => *self.error.lock() = Some(e),
            None => {
                self.notifications.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn on_closed(&self, _conn: usize, _why: &str, _unsent: Vec<u32>) {
        self.closed.store(true, Ordering::Release);
    }
}

/// The stalled connections of one run.
pub(crate) struct Stalled {
    conns: Vec<(WsConn, Arc<Seen>)>,
}

impl Stalled {
    /// Opens `n` connections to `ep` (as `ws://`), subscribes each to `miniBlocks`, and
    /// stops reading on all of them.
    pub(crate) async fn open(ep: &Endpoint, n: usize) -> LoadResult<Stalled> {
        let ep = ep.with_transport(Transport::Ws);
        let mut conns = Vec::with_capacity(n);
        for i in 0..n {
            let conn = WsConn::connect_with_recv_buffer(&ep, i, RECV_BUFFER)
                .await
                .map_err(|source| LoadError::Connect {
                    url: ep.url.clone(),
                    source,
                })?;
            let seen = Arc::new(Seen::default());
            conn.bind(seen.clone());
            conn.subscribe(&serde_json::json!([KIND])).await?;
            conn.pause_reading(true);
            conns.push((conn, seen));
        }
        Ok(Stalled { conns })
    }

    /// Reads again on every connection until nothing more arrives, closes them, and sums up.
    pub(crate) async fn finish(self) -> StalledSummary {
        let started = Instant::now();
        for (conn, _) in &self.conns {
            conn.pause_reading(false);
        }
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let now = Instant::now();
            let quiet = self.conns.iter().all(|(conn, seen)| {
                conn.is_closed()
                    || seen.error.lock().is_some()
                    || seen
                        .last_at
                        .lock()
                        .is_none_or(|t| now.duration_since(t) >= QUIET)
            });
            if (quiet && now.duration_since(started) >= QUIET)
                || now.duration_since(started) >= MAX_CATCH_UP
            {
                break;
            }
        }
        let mut summary = StalledSummary {
            connections: self.conns.len(),
            subscription: KIND.to_owned(),
            recv_buffer_bytes: RECV_BUFFER,
            ..StalledSummary::default()
        };
        for (conn, seen) in &self.conns {
            summary.notifications += seen.notifications.load(Ordering::Relaxed);
            let error = seen.error.lock().clone();
            if error.is_some() || seen.closed.load(Ordering::Acquire) {
                summary.closed_by_server += 1;
            }
            if summary.example_error.is_none() {
                summary.example_error = error;
            }
            conn.unbind();
            conn.close();
        }
        summary
    }
}
