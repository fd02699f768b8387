//! Metrics of the ordering core, registered once and updated through handles.
//!
//! The sequencer loop records only per-mini-block aggregates and gauges; per-transaction
//! stage latencies are recorded by the signer and log thread from the transactions' own
//! timestamps, off the sequencer core. Names follow Prometheus conventions: base units,
//! `_total` counters, `_seconds` histograms, bounded label sets. Every metric is listed in
//! `docs/metrics.md`. Without an installed recorder (unit tests) every call is a no-op.

use metrics::{Counter, Gauge, Histogram, counter, gauge, histogram};

pub use peregrine_chain::metrics::{ChainMetrics, micros_to_secs};

/// Handles used on the sequencer loop (per mini-block or per block, never per transaction).
#[derive(Debug, Clone)]
pub struct LoopMetrics {
    /// `peregrine_mini_blocks_total`
    pub mini_blocks: Counter,
    /// `peregrine_transactions_executed_total`
    pub executed: Counter,
    /// `peregrine_block_transactions`
    pub block_size: Histogram,
    /// `peregrine_block_gas_used`
    pub block_gas: Histogram,
    /// `peregrine_ring_occupancy`
    pub ring_occupancy: Gauge,
    /// `peregrine_nonce_queue_transactions`
    pub nonce_queue: Gauge,
}

impl LoopMetrics {
    /// Registers the handles.
    pub fn new() -> Self {
        Self {
            mini_blocks: counter!("peregrine_mini_blocks_total"),
            executed: counter!("peregrine_transactions_executed_total"),
            block_size: histogram!("peregrine_block_transactions"),
            block_gas: histogram!("peregrine_block_gas_used"),
            ring_occupancy: gauge!("peregrine_ring_occupancy"),
            nonce_queue: gauge!("peregrine_nonce_queue_transactions"),
        }
    }
}

impl Default for LoopMetrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Per-transaction stage latencies and per-mini-block sizes, recorded by the signer and
/// log thread. (Histograms are recorded there rather than on the sequencer loop: the
/// Prometheus recorder's histogram buckets allocate a block of samples now and then.)
#[derive(Debug, Clone)]
pub struct StageMetrics {
    /// `peregrine_mini_block_transactions`
    pub mini_block_size: Histogram,
    /// `peregrine_mini_block_close_seconds`: from the first transaction taken to the close.
    pub mini_block_close: Histogram,
    /// `peregrine_stage_seconds{stage="ring_wait"}`: ingress received → taken by the loop.
    pub ring_wait: Histogram,
    /// `{stage="execution"}`: taken → executed.
    pub execution: Histogram,
    /// `{stage="mini_block_close"}`: executed → mini-block closed.
    pub close: Histogram,
    /// `{stage="signing"}`: closed → signed (roots and signature).
    pub signing: Histogram,
    /// `{stage="durable"}`: signed → its log record written (and synced, in `fsync` mode).
    pub durable: Histogram,
    /// `peregrine_preconfirmation_seconds`: received → signed preconfirmation published.
    pub end_to_end: Histogram,
    /// `peregrine_preconfirmations_total`
    pub preconfirmations: Counter,
}

impl StageMetrics {
    /// Registers the handles.
    pub fn new() -> Self {
        Self {
            mini_block_size: histogram!("peregrine_mini_block_transactions"),
            mini_block_close: histogram!("peregrine_mini_block_close_seconds"),
            ring_wait: histogram!("peregrine_stage_seconds", "stage" => "ring_wait"),
            execution: histogram!("peregrine_stage_seconds", "stage" => "execution"),
            close: histogram!("peregrine_stage_seconds", "stage" => "mini_block_close"),
            signing: histogram!("peregrine_stage_seconds", "stage" => "signing"),
            durable: histogram!("peregrine_stage_seconds", "stage" => "durable"),
            end_to_end: histogram!("peregrine_preconfirmation_seconds"),
            preconfirmations: counter!("peregrine_preconfirmations_total"),
        }
    }
}

impl Default for StageMetrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Handles used by the write-ahead log thread.
#[derive(Debug, Clone)]
pub struct WalMetrics {
    /// `peregrine_wal_flush_seconds`: one group-commit write (and sync, in `fsync` mode).
    pub flush: Histogram,
    /// `peregrine_wal_batch_mini_blocks`: mini-blocks made durable by one flush.
    pub batch: Histogram,
    /// `peregrine_wal_bytes_total`
    pub bytes: Counter,
    /// `peregrine_wal_segments`: segment files on disk.
    pub segments: Gauge,
    /// `peregrine_wal_errors_total`: failed writes (each stops the node).
    pub errors: Counter,
}

impl WalMetrics {
    /// Registers the handles, and `peregrine_wal_info{backend, durability} 1`.
    pub fn new(backend: &'static str, durability: &'static str) -> Self {
        gauge!("peregrine_wal_info", "backend" => backend, "durability" => durability).set(1.0);
        Self {
            flush: histogram!("peregrine_wal_flush_seconds"),
            batch: histogram!("peregrine_wal_batch_mini_blocks"),
            bytes: counter!("peregrine_wal_bytes_total"),
            segments: gauge!("peregrine_wal_segments"),
            errors: counter!("peregrine_wal_errors_total"),
        }
    }

    /// Records what start-up recovery did.
    pub fn recovered(mini_blocks: u64, transactions: u64, torn_bytes: u64) {
        counter!("peregrine_wal_replayed_mini_blocks_total").increment(mini_blocks);
        counter!("peregrine_wal_replayed_transactions_total").increment(transactions);
        counter!("peregrine_wal_torn_tail_bytes_total").increment(torn_bytes);
    }
}
