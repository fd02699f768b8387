//! Configuration of the ordering core.

use crate::ring::WaitStrategy;
use std::{path::PathBuf, time::Duration};

/// Default chain id of `peregrine dev`.
pub const DEFAULT_CHAIN_ID: u64 = 901;
/// Default interval between sealed L2 blocks.
pub const DEFAULT_BLOCK_TIME: Duration = Duration::from_secs(1);
/// Default L2 block gas limit: 1 Ggas, enough for ~47k plain transfers per block.
pub const DEFAULT_BLOCK_GAS_LIMIT: u64 = 1_000_000_000;
/// Default floor of the EIP-1559 base fee, in wei (0.001 gwei, a typical L2 floor).
pub const DEFAULT_MIN_BASE_FEE: u64 = 1_000_000;
/// Default ring capacity (slots). Bounded so a flood becomes `-32005 busy` instead of memory growth.
pub const DEFAULT_RING_CAPACITY: usize = 1 << 14;
/// Default maximum number of transactions in one mini-block.
pub const DEFAULT_MAX_MINI_BLOCK_TXS: usize = 1024;
/// Default time a nonce-gapped transaction waits for its gap to close.
pub const DEFAULT_NONCE_HOLD: Duration = Duration::from_secs(1);
/// Default bound on gapped transactions held per sender.
pub const DEFAULT_MAX_QUEUED_PER_SENDER: usize = 64;
/// Default bound on transactions one sender may have in flight (ring, gap queue, log):
/// a quarter of the default ring, so that one sender cannot fill it.
pub const DEFAULT_MAX_INFLIGHT_PER_SENDER: usize = DEFAULT_RING_CAPACITY / 4;
/// Default most gas one transaction may use: 2²⁴, EIP-7825's cap.
pub const DEFAULT_MAX_TX_GAS: u64 = 1 << 24;
/// Default bound on gapped transactions held in total.
pub const DEFAULT_MAX_QUEUED_TOTAL: usize = 8192;
/// Default bound on the queue from the sequencer loop to the chain service (mini-blocks).
/// Bounded so a stalled disk back-pressures the sequencer instead of growing memory.
pub const DEFAULT_CHAIN_QUEUE: usize = 4096;
/// Default nice value of the chain service thread: below the promise path, so that where
/// cores are short a block seal (~20 ms of CPU at 1k transactions) does not take the
/// CPU from ingress, the loop and the log thread.
pub const DEFAULT_CHAIN_SERVICE_NICE: i32 = 10;
/// Default number of sealed blocks between durable redb commits (checkpoints): at the
/// default block time, one disk sync every 8 s instead of every second, and at most 8
/// blocks to replay from the write-ahead log after a crash.
pub const DEFAULT_CHECKPOINT_BLOCKS: u64 = 8;
/// Default longest time a mini-block is held open while the log thread is still busy
/// with the ones before it ([`SequencerConfig::max_mini_block_hold`]).
pub const DEFAULT_MAX_MINI_BLOCK_HOLD: Duration = Duration::from_millis(5);
/// Default maximum size of one raw transaction (bytes); geth's pool uses 128 KiB.
pub const DEFAULT_MAX_TX_SIZE: usize = 128 * 1024;
pub use peregrine_chain::genesis::DEFAULT_DEV_BALANCE_ETH;

/// Configuration of the ordering core and the chain it builds.
#[derive(Debug, Clone)]
pub struct SequencerConfig {
    /// Chain id enforced on every transaction (EIP-155).
    pub chain_id: u64,
    /// Interval between sealed L2 blocks.
    pub block_time: Duration,
    /// Gas limit of each L2 block.
    pub block_gas_limit: u64,
    /// Floor of the EIP-1559 base fee, in wei.
    pub min_base_fee: u64,
    /// Slots in the ingress ring (a power of two).
    pub ring_capacity: usize,
    /// Maximum transactions per mini-block.
    pub max_mini_block_txs: usize,
    /// Longest a mini-block is held open, taking the transactions that keep arriving,
    /// while the log thread has not yet published the mini-blocks before it. They would
    /// wait for the log thread anyway; held, they share one signature, one log record,
    /// one set of trie roots and one feed item instead of one each (at low load the log
    /// thread is idle and nothing is held). Zero closes every mini-block as soon as the
    /// ring is empty.
    pub max_mini_block_hold: Duration,
    /// How the sequencer loop waits when the ring is empty.
    pub wait_strategy: WaitStrategy,
    /// CPU core the sequencer loop is pinned to; unpinned when `None`.
    pub core: Option<usize>,
    /// How long a nonce-gapped transaction waits for its gap to close.
    pub nonce_hold: Duration,
    /// Bound on gapped transactions per sender.
    pub max_queued_per_sender: usize,
    /// Bound on gapped transactions in total.
    pub max_queued_total: usize,
    /// Bound on one sender's transactions in flight (ring, gap queue, log).
    pub max_inflight_per_sender: usize,
    /// Most gas one transaction may use (EIP-7825).
    pub max_tx_gas: u64,
    /// Bound on closed mini-blocks waiting for the chain service.
    pub chain_queue: usize,
    /// Nice value (-20..=19) of the chain service thread, which applies mini-blocks to the
    /// read view and seals blocks into redb; 0 keeps the process's own priority. Lowering
    /// a value below the process's own needs `CAP_SYS_NICE`; without it a warning is
    /// logged and the thread keeps its priority.
    pub chain_service_nice: i32,
    /// Sealed blocks between checkpoints. Every block is committed to redb (and readable)
    /// when it seals, without waiting for the disk; every this many blocks, and at
    /// shutdown, one synced commit makes them durable and lets the write-ahead log drop
    /// what they cover. After a crash the blocks since the last checkpoint are replayed
    /// from the log. 1 syncs every block.
    pub checkpoint_blocks: u64,
    /// Maximum size of one raw transaction, in bytes.
    pub max_tx_size: usize,
    /// Data directory (redb database lives in `<datadir>/chain.redb`).
    pub datadir: PathBuf,
    /// File holding the hex private key that signs mini-block headers; the documented
    /// dev key when `None` (dev mode only).
    pub signing_key: Option<PathBuf>,
    /// Mini-blocks buffered for subscribers before a slow one is closed.
    pub feed_capacity: usize,
    /// Recent mini-blocks kept in memory for replay and lookups; older unsealed ones are
    /// read from the open block, sealed ones from redb.
    pub recent_mini_blocks: usize,
    /// The write-ahead log.
    pub wal: crate::wal::WalConfig,
}

impl SequencerConfig {
    /// A configuration with every default and the given data directory.
    pub fn new(datadir: PathBuf) -> Self {
        Self {
            chain_id: DEFAULT_CHAIN_ID,
            block_time: DEFAULT_BLOCK_TIME,
            block_gas_limit: DEFAULT_BLOCK_GAS_LIMIT,
            min_base_fee: DEFAULT_MIN_BASE_FEE,
            ring_capacity: DEFAULT_RING_CAPACITY,
            max_mini_block_txs: DEFAULT_MAX_MINI_BLOCK_TXS,
            max_mini_block_hold: DEFAULT_MAX_MINI_BLOCK_HOLD,
            wait_strategy: WaitStrategy::default(),
            core: None,
            nonce_hold: DEFAULT_NONCE_HOLD,
            max_queued_per_sender: DEFAULT_MAX_QUEUED_PER_SENDER,
            max_queued_total: DEFAULT_MAX_QUEUED_TOTAL,
            max_inflight_per_sender: DEFAULT_MAX_INFLIGHT_PER_SENDER,
            max_tx_gas: DEFAULT_MAX_TX_GAS,
            chain_queue: DEFAULT_CHAIN_QUEUE,
            chain_service_nice: DEFAULT_CHAIN_SERVICE_NICE,
            checkpoint_blocks: DEFAULT_CHECKPOINT_BLOCKS,
            max_tx_size: DEFAULT_MAX_TX_SIZE,
            datadir,
            signing_key: None,
            feed_capacity: crate::feed::DEFAULT_FEED_CAPACITY,
            recent_mini_blocks: crate::feed::DEFAULT_RECENT_MINI_BLOCKS,
            wal: crate::wal::WalConfig::default(),
        }
    }

    /// Checks the values that cannot be checked by their types; called at start-up.
    pub fn validate(&self) -> Result<(), String> {
        if self.chain_id == 0 {
            return Err("sequencer.chain-id must not be 0".into());
        }
        if self.block_time < Duration::from_millis(10) {
            return Err("sequencer.block-time must be at least 10ms".into());
        }
        if self.block_gas_limit < 21_000 {
            return Err("sequencer.block-gas-limit must be at least 21000".into());
        }
        if !self.ring_capacity.is_power_of_two() || self.ring_capacity < 2 {
            return Err(format!(
                "sequencer.ring-capacity must be a power of two >= 2, got {}",
                self.ring_capacity
            ));
        }
        if self.max_mini_block_txs == 0 {
            return Err("sequencer.max-mini-block-txs must be at least 1".into());
        }
        crate::sched::check_core("sequencer.core", self.core)?;
        if let (Some(a), Some(b)) = (self.core, self.wal.core)
            && a == b
        {
            return Err(format!(
                "sequencer.core and wal.core are both {a}: give each thread its own core"
            ));
        }
        if self.feed_capacity == 0 {
            return Err("preconf.feed-capacity must be > 0".into());
        }
        if self.recent_mini_blocks == 0 {
            return Err("preconf.recent-mini-blocks must be > 0".into());
        }
        self.wal.validate()?;
        crate::sched::check_nice("sequencer.chain-service-nice", self.chain_service_nice)?;
        if self.max_inflight_per_sender == 0 || self.max_tx_gas == 0 {
            return Err(
                "sequencer.max-inflight-per-sender and sequencer.max-tx-gas must be > 0".into(),
            );
        }
        if self.chain_queue == 0 || self.max_tx_size == 0 || self.checkpoint_blocks == 0 {
            return Err(
                "sequencer.chain-queue, sequencer.max-tx-size and sequencer.checkpoint-blocks \
                 must be > 0"
                    .into(),
            );
        }
        Ok(())
    }
}
