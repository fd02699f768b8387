//! Metrics of the chain service (the sequencer's and a replica's), registered once and
//! updated through handles. Every metric is listed in `docs/metrics.md`.

use metrics::{Counter, Gauge, Histogram, counter, gauge, histogram};

/// Handles used by the chain service.
#[derive(Debug, Clone)]
pub struct ChainMetrics {
    /// `peregrine_block_seal_seconds`: state root, roots, header and the redb write.
    pub seal: Histogram,
    /// `peregrine_block_state_root_seconds`: the state root at a seal, computed under the
    /// pending state's write lock (ingress checks wait for it).
    pub state_root: Histogram,
    /// `peregrine_store_checkpoint_seconds`: making the blocks sealed since the last
    /// checkpoint durable (one synced redb commit).
    pub checkpoint: Histogram,
    /// `peregrine_head_block`
    pub head: Gauge,
    /// `peregrine_state_accounts`
    pub accounts: Gauge,
    /// `peregrine_transactions_dropped_total{reason}`
    pub dropped_nonce_gap: Counter,
    /// `{reason="nonce_too_low"}`
    pub dropped_nonce_low: Counter,
    /// `{reason="invalid"}`: refused by execution checks (funds, fees, gas).
    pub dropped_invalid: Counter,
    /// `peregrine_transactions_queued_total`: held for a nonce gap.
    pub queued: Counter,
}

impl ChainMetrics {
    /// Registers the handles.
    pub fn new() -> Self {
        Self {
            seal: histogram!("peregrine_block_seal_seconds"),
            state_root: histogram!("peregrine_block_state_root_seconds"),
            checkpoint: histogram!("peregrine_store_checkpoint_seconds"),
            head: gauge!("peregrine_head_block"),
            accounts: gauge!("peregrine_state_accounts"),
            dropped_nonce_gap: counter!("peregrine_transactions_dropped_total", "reason" => "nonce_gap"),
            dropped_nonce_low: counter!("peregrine_transactions_dropped_total", "reason" => "nonce_too_low"),
            dropped_invalid: counter!("peregrine_transactions_dropped_total", "reason" => "invalid"),
            queued: counter!("peregrine_transactions_queued_total"),
        }
    }

    /// Counts a dropped transaction under a bounded reason label.
    pub fn dropped(&self, reason: &str) {
        if reason.starts_with("nonce gap") {
            self.dropped_nonce_gap.increment(1);
        } else if reason.starts_with("nonce too low") {
            self.dropped_nonce_low.increment(1);
        } else {
            self.dropped_invalid.increment(1);
        }
    }
}

impl Default for ChainMetrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Seconds between two µs timestamps (0 when out of order).
pub fn micros_to_secs(from_us: u64, to_us: u64) -> f64 {
    to_us.saturating_sub(from_us) as f64 / 1e6
}
