//! The batcher's configuration (`[batcher]` in the config file; `ops` maps it here).

use crate::format::Codec;
use alloy_primitives::Address;
use std::{path::PathBuf, time::Duration};

/// How the batcher puts data on L1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DaMode {
    /// Always calldata.
    Calldata,
    /// Always EIP-4844 blobs.
    Blobs,
    /// Whichever costs less per byte when each transaction is built.
    Auto,
}

impl std::str::FromStr for DaMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "calldata" => Ok(DaMode::Calldata),
            "blobs" => Ok(DaMode::Blobs),
            "auto" => Ok(DaMode::Auto),
            other => Err(format!("{other:?} is not one of calldata, blobs, auto")),
        }
    }
}

/// Bytes of frame data one blob carries (alloy's `SimpleCoder`: 31 of each 32-byte field
/// element, less the first element, which holds the length).
pub const BLOB_DATA_BYTES: usize = 4096 * 31 - 31;

/// Everything the batcher needs.
#[derive(Debug, Clone)]
pub struct BatcherConfig {
    /// The L1 node's JSON-RPC URL.
    pub l1_rpc: String,
    /// The batcher's L1 key (32 bytes).
    pub key: alloy_primitives::B256,
    /// The inbox contract.
    pub inbox: Address,
    /// How data goes to L1.
    pub da: DaMode,
    /// Where its state lives (`batcher.redb`).
    pub datadir: PathBuf,
    /// L1 blocks on top of the including one before its L2 blocks are `safe` (0: safe
    /// once included).
    pub confirmations: u64,
    /// Longest a sealed L2 block waits in an open channel before the channel is posted.
    pub max_channel_duration: Duration,
    /// Largest calldata of one batch transaction: frames, and the header digests of the
    /// commitment (at most half of it; docs/batch-format.md). Under the 128 KiB that L1
    /// mempools take.
    pub max_calldata_bytes: usize,
    /// Most blobs in one blob transaction.
    pub max_blobs_per_tx: usize,
    /// Most L1 transactions signed and not yet included.
    pub max_pending_txs: usize,
    /// How often L1 is polled.
    pub poll_interval: Duration,
    /// Broadcast a not-yet-included transaction again after this long.
    pub resubmit_after: Duration,
    /// Replace a not-yet-included transaction with higher fees after this long.
    pub fee_bump_after: Duration,
    /// Budget: highest max fee per gas the batcher ever signs (wei).
    pub max_fee_per_gas: u128,
    /// Budget: highest max fee per blob gas it ever signs (wei).
    pub max_fee_per_blob_gas: u128,
    /// Sealed L2 data not yet in a signed L1 transaction beyond which the node reports a
    /// backlog (metric and `/ready`).
    pub max_backlog_bytes: u64,
    /// The channel compressor.
    pub codec: Codec,
    /// Per-request timeout towards L1.
    pub request_timeout: Duration,
}

impl BatcherConfig {
    /// The defaults, for `l1_rpc`, `key` and `inbox`.
    pub fn new(
        l1_rpc: String,
        key: alloy_primitives::B256,
        inbox: Address,
        datadir: PathBuf,
    ) -> Self {
        Self {
            l1_rpc,
            key,
            inbox,
            da: DaMode::Auto,
            datadir,
            confirmations: 1,
            max_channel_duration: Duration::from_secs(2),
            max_calldata_bytes: 96 * 1024,
            max_blobs_per_tx: 6,
            max_pending_txs: 8,
            poll_interval: Duration::from_millis(250),
            resubmit_after: Duration::from_secs(6),
            fee_bump_after: Duration::from_secs(12),
            max_fee_per_gas: 500_000_000_000,
            max_fee_per_blob_gas: 500_000_000_000,
            max_backlog_bytes: 256 << 20,
            codec: Codec::Brotli(5),
            request_timeout: Duration::from_secs(10),
        }
    }
}
