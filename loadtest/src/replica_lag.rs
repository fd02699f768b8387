//! Replica lag (`--replica <ws-url>`): the run also subscribes to `miniBlocks` on the
//! target (the sequencer) and on a replica following it, notes when each mini-block
//! arrives from each, and reports the difference: from the sequencer writing a mini-block
//! to its feed to the same mini-block being out on the replica's own feed (which it
//! publishes once applied, so also readable there). Both subscriptions are this client's,
//! on one clock.

use crate::{
    config::{Endpoint, Transport},
    error::{LoadError, LoadResult},
    report::ReplicaLagSummary,
    rpc::{Arrival, FrameSink, WsConn},
};
use hdrhistogram::Histogram;
use parking_lot::Mutex;
use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

/// After the run: wait until the replica has sent every mini-block the sequencer did, at
/// most this long.
const CATCH_UP: Duration = Duration::from_secs(20);

/// Arrival times by mini-block number, on one connection.
#[derive(Default)]
struct Arrivals {
    at: Mutex<HashMap<u64, Instant>>,
}

/// The `miniBlockNumber` of a `miniBlocks` notification, found without parsing the
/// whole record.
fn mini_block_number(msg: &[u8]) -> Option<u64> {
    const KEY: &[u8] = b"\"miniBlockNumber\":";
    let at = msg.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let digits: Vec<u8> = msg[at..]
        .iter()
        .copied()
        .skip_while(|b| *b == b' ')
        .take_while(u8::is_ascii_digit)
        .collect();
    std::str::from_utf8(&digits).ok()?.parse().ok()
}

impl FrameSink for Arrivals {
    fn payload(&self, _idx: u32) -> &[u8] {
        &[]
    }

    fn on_sent(&self, _idx: u32, _at: Instant) {}

    fn on_tx_response(&self, _idx: u32, _msg: &[u8], _at: Arrival) {}

    fn on_notification(&self, msg: &[u8], at: Arrival) {
        if let Some(n) = mini_block_number(msg) {
            self.at.lock().entry(n).or_insert(at.at);
        }
    }

    fn on_closed(&self, _conn: usize, _why: &str, _unsent: Vec<u32>) {}
}

/// The two subscriptions of one run.
pub(crate) struct ReplicaLag {
    sequencer: (WsConn, Arc<Arrivals>),
    replica: (WsConn, Arc<Arrivals>),
    url: String,
}

impl ReplicaLag {
    /// Subscribes to `miniBlocks` on `sequencer` and `replica` (both as `ws://`).
    pub(crate) async fn open(sequencer: &Endpoint, replica: &Endpoint) -> LoadResult<Self> {
        let sub = |ep: Endpoint, index: usize| async move {
            let ep = ep.with_transport(Transport::Ws);
            let conn = WsConn::connect(&ep, index)
                .await
                .map_err(|source| LoadError::Connect {
                    url: ep.url.clone(),
                    source,
                })?;
            let arrivals = Arc::new(Arrivals::default());
            conn.bind(arrivals.clone());
            conn.subscribe(&serde_json::json!(["miniBlocks"])).await?;
            Ok::<_, LoadError>((conn, arrivals))
        };
        Ok(ReplicaLag {
            sequencer: sub(sequencer.clone(), 1000).await?,
            replica: sub(replica.clone(), 1001).await?,
            url: replica.url.clone(),
        })
    }

    /// Waits for the replica to send what the sequencer sent, then sums up.
    pub(crate) async fn finish(self) -> ReplicaLagSummary {
        let started = Instant::now();
        loop {
            let missing = {
                let seq = self.sequencer.1.at.lock();
                let rep = self.replica.1.at.lock();
                seq.keys().filter(|n| !rep.contains_key(n)).count()
            };
            if missing == 0 || started.elapsed() >= CATCH_UP {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let seq = self.sequencer.1.at.lock().clone();
        let rep = self.replica.1.at.lock().clone();
        let mut lag = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3)
            .expect("static histogram bounds");
        let mut missing = 0;
        let mut early = 0;
        for (n, t_seq) in &seq {
            match rep.get(n) {
                Some(t_rep) => match t_rep.checked_duration_since(*t_seq) {
                    Some(d) => {
                        let _ = lag.record((d.as_micros() as u64).max(1));
                    }
                    // The replica's copy came first (both subscriptions race).
                    None => early += 1,
                },
                None => missing += 1,
            }
        }
        for (conn, _) in [&self.sequencer, &self.replica] {
            conn.unbind();
            conn.close();
        }
        ReplicaLagSummary {
            replica: self.url,
            mini_blocks: seq.len() as u64,
            matched: lag.len(),
            replica_first: early,
            missing,
            lag_us: crate::stats::percentiles(&lag),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_mini_block_number_in_a_notification() {
        let msg = br#"{"jsonrpc":"2.0","method":"eth_subscription","params":{"subscription":"0x1","result":{"header":{"chainId":901,"blockNumber":4,"miniBlockNumber":4711,"parentHash":"0x"}}}}"#;
        assert_eq!(mini_block_number(msg), Some(4711));
        assert_eq!(mini_block_number(b"{}"), None);
    }
}
