//! The batcher's Prometheus series (`peregrine_batcher_*`), listed in `docs/metrics.md`.

use crate::{l1::L1Receipt, state::DaKind};
use metrics::{Counter, Gauge, counter, gauge, histogram};

/// Handles to the batcher's series.
#[derive(Debug, Clone)]
pub struct BatcherMetrics {
    /// Whether the last poll reached L1.
    pub l1_up: Gauge,
    /// L1's latest block.
    pub l1_head: Gauge,
    /// Highest L2 block in a signed L1 transaction.
    pub posted: Gauge,
    /// `safe` L2 head.
    pub safe: Gauge,
    /// `finalized` L2 head.
    pub finalized: Gauge,
    /// L1 transactions signed and not final.
    pub pending_txs: Gauge,
    /// Sealed L2 blocks not yet in a signed L1 transaction.
    pub backlog_blocks: Gauge,
    /// Their uncompressed bytes.
    pub backlog_bytes: Gauge,
    /// Fee bumps.
    pub bumps: Counter,
    /// Transactions the L1 node refused.
    pub refused: Counter,
    /// Bumps not made for the budget.
    pub over_budget: Counter,
    /// Stuck blob transactions replaced by calldata ones (blob gas over the budget).
    pub da_switches: Counter,
    /// Batch transactions that reverted on L1 (their channels posted again).
    pub reverted: Counter,
    /// Batch transactions removed by L1 reorgs.
    pub reorged: Counter,
    /// Poll failures other than L1's.
    pub errors: Counter,
}

impl BatcherMetrics {
    /// Registers the series.
    pub fn new() -> Self {
        for kind in ["calldata", "blobs"] {
            counter!("peregrine_batcher_channels_total", "da" => kind).absolute(0);
            counter!("peregrine_batcher_l1_bytes_total", "da" => kind).absolute(0);
            counter!("peregrine_batcher_fees_wei_total", "da" => kind).absolute(0);
        }
        counter!("peregrine_batcher_commitment_bytes_total").absolute(0);
        counter!("peregrine_batcher_l2_txs_total").absolute(0);
        Self {
            l1_up: gauge!("peregrine_batcher_l1_up"),
            l1_head: gauge!("peregrine_batcher_l1_head"),
            posted: gauge!("peregrine_batcher_posted_block"),
            safe: gauge!("peregrine_batcher_safe_block"),
            finalized: gauge!("peregrine_batcher_finalized_block"),
            pending_txs: gauge!("peregrine_batcher_pending_l1_txs"),
            backlog_blocks: gauge!("peregrine_batcher_backlog_blocks"),
            backlog_bytes: gauge!("peregrine_batcher_backlog_bytes"),
            bumps: counter!("peregrine_batcher_fee_bumps_total"),
            refused: counter!("peregrine_batcher_l1_refused_total"),
            over_budget: counter!("peregrine_batcher_over_budget_total"),
            reorged: counter!("peregrine_batcher_reorged_txs_total"),
            reverted: counter!("peregrine_batcher_reverted_txs_total"),
            da_switches: counter!("peregrine_batcher_da_switches_total"),
            errors: counter!("peregrine_batcher_errors_total"),
        }
    }

    /// A channel was signed.
    pub fn channel(
        &self,
        kind: DaKind,
        raw: usize,
        compressed: usize,
        commitment: usize,
        l2_txs: u64,
        l1_txs: usize,
    ) {
        let da = kind.label();
        counter!("peregrine_batcher_commitment_bytes_total").increment(commitment as u64);
        counter!("peregrine_batcher_channels_total", "da" => da).increment(1);
        counter!("peregrine_batcher_l1_txs_total", "da" => da).increment(l1_txs as u64);
        counter!("peregrine_batcher_l1_bytes_total", "da" => da).increment(compressed as u64);
        counter!("peregrine_batcher_l2_txs_total").increment(l2_txs);
        histogram!("peregrine_batcher_compression_ratio")
            .record(compressed as f64 / raw.max(1) as f64);
        if l2_txs > 0 {
            histogram!("peregrine_batcher_bytes_per_tx").record(compressed as f64 / l2_txs as f64);
        }
    }

    /// A transaction was included: what it paid.
    pub fn fees(&self, kind: DaKind, r: &L1Receipt) {
        let wei = u128::from(r.gas_used) * u128::from(r.effective_gas_price)
            + u128::from(r.blob_gas_used.unwrap_or(0)) * u128::from(r.blob_gas_price.unwrap_or(0));
        counter!("peregrine_batcher_fees_wei_total", "da" => kind.label())
            .increment(u64::try_from(wei).unwrap_or(u64::MAX));
        counter!("peregrine_batcher_l1_gas_total").increment(r.gas_used);
    }
}

impl Default for BatcherMetrics {
    fn default() -> Self {
        Self::new()
    }
}
