//! The configuration file: one TOML section per component.
//!
//! Precedence, lowest first: built-in defaults, the file (`--config`), environment
//! variables `PEREGRINE_<SECTION>_<KEY>` (e.g. `PEREGRINE_RPC_ADDR=0.0.0.0:8545`,
//! `PEREGRINE_SEQUENCER_RING_CAPACITY=65536`), then command-line flags. Unknown keys and
//! invalid values are refused at start-up with a message naming the key. Durations are
//! written like `1s` or `250ms`, sizes like `5MiB`. `peregrine config default` prints the
//! whole default file.

use bytesize::ByteSize;
use peregrine_rpc::RpcConfig;
use peregrine_sequencer::{
    SequencerConfig, config as seq,
    ring::WaitStrategy,
    wal::{self, Durability, WalBackend},
};
use serde::{Deserialize, Serialize};
use std::{net::SocketAddr, path::PathBuf, time::Duration};

/// Sections an environment variable may name.
const SECTIONS: &[&str] = &[
    "chain",
    "sequencer",
    "wal",
    "rpc",
    "preconf",
    "metrics",
    "log",
    "replica",
    "l1",
    "batcher",
];

/// A configuration error, naming the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The file or an environment variable holds an unknown key or a bad value.
    #[error("invalid configuration{origin}: {message}")]
    Invalid {
        /// Where it came from (file or variable), with a leading space.
        origin: String,
        /// toml/serde's message, which names the key.
        message: String,
    },
    /// A value that parses but is not acceptable.
    #[error("invalid configuration: {0}")]
    Value(String),
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct PeregrineConfig {
    /// The chain: identity, genesis, blocks.
    pub chain: ChainSection,
    /// The ordering core.
    pub sequencer: SequencerSection,
    /// The write-ahead log.
    pub wal: WalSection,
    /// JSON-RPC.
    pub rpc: RpcSection,
    /// Preconfirmations.
    pub preconf: PreconfSection,
    /// Operator endpoints.
    pub metrics: MetricsSection,
    /// Logging.
    pub log: LogSection,
    /// `peregrine replica`: the sequencer it follows.
    pub replica: ReplicaSection,
    /// The L1 node (the batcher's and the derivation's).
    pub l1: L1Section,
    /// The L1 batcher: off unless `l1.rpc` is set.
    pub batcher: BatcherSection,
}

/// `[l1]`
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct L1Section {
    /// The L1 node's JSON-RPC URL (`--l1.rpc`). Unset: no batcher, `safe` and `finalized`
    /// name the head.
    pub rpc: Option<String>,
}

/// `[batcher]`: posting sealed L2 blocks to L1 (see `docs/operations.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct BatcherSection {
    /// File with the batcher's hex L1 private key (`--batcher.key`); required with
    /// `l1.rpc`. Not the preconfirmation key.
    pub key: Option<PathBuf>,
    /// The `PeregrineInbox` contract (`--batcher.inbox`); required with `l1.rpc`.
    pub inbox: Option<alloy_primitives::Address>,
    /// `calldata`, `blobs` or `auto` (`--batcher.da`).
    pub da: String,
    /// L1 blocks on top of the including one before L2 blocks count as `safe`.
    pub confirmations: u64,
    /// Longest a sealed block waits in an open channel.
    #[serde(with = "humantime_serde")]
    pub max_channel_duration: Duration,
    /// Largest frames payload of a calldata transaction.
    pub max_calldata_bytes: ByteSize,
    /// Most blobs per blob transaction.
    pub max_blobs_per_tx: usize,
    /// Most L1 transactions signed and not yet included.
    pub max_pending_txs: usize,
    /// How often L1 is polled.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Broadcast a not-yet-included transaction again after this long.
    #[serde(with = "humantime_serde")]
    pub resubmit_after: Duration,
    /// Replace a stuck transaction with higher fees after this long.
    #[serde(with = "humantime_serde")]
    pub fee_bump_after: Duration,
    /// Budget: the highest max fee per gas ever signed, in wei.
    pub max_fee_per_gas: u64,
    /// Budget: the highest max fee per blob gas ever signed, in wei.
    pub max_fee_per_blob_gas: u64,
    /// Sealed data not yet in a signed L1 transaction beyond which `/ready` reports a
    /// backlog.
    pub max_backlog: ByteSize,
    /// Channel compression: `brotli-<0..11>` or `zstd-<1..22>`.
    pub compression: String,
}

impl Default for BatcherSection {
    fn default() -> Self {
        let d = peregrine_batcher::BatcherConfig::new(
            String::new(),
            Default::default(),
            Default::default(),
            PathBuf::new(),
        );
        Self {
            key: None,
            inbox: None,
            da: "auto".into(),
            confirmations: d.confirmations,
            max_channel_duration: d.max_channel_duration,
            max_calldata_bytes: ByteSize::b(d.max_calldata_bytes as u64),
            max_blobs_per_tx: d.max_blobs_per_tx,
            max_pending_txs: d.max_pending_txs,
            poll_interval: d.poll_interval,
            resubmit_after: d.resubmit_after,
            fee_bump_after: d.fee_bump_after,
            max_fee_per_gas: d.max_fee_per_gas as u64,
            max_fee_per_blob_gas: d.max_fee_per_blob_gas as u64,
            max_backlog: ByteSize::b(d.max_backlog_bytes),
            compression: "brotli-5".into(),
        }
    }
}

/// `brotli-N` or `zstd-N`.
fn parse_codec(s: &str) -> Option<peregrine_batcher::format::Codec> {
    use peregrine_batcher::format::Codec;
    let (name, level) = s.split_once('-')?;
    match (name, level.parse::<u32>().ok()?) {
        ("brotli", q @ 0..=11) => Some(Codec::Brotli(q)),
        ("zstd", l @ 1..=22) => Some(Codec::Zstd(l as i32)),
        _ => None,
    }
}

/// Reads a hex private key file (optional `0x`, surrounding whitespace).
pub fn read_key_file(path: &std::path::Path) -> Result<alloy_primitives::B256, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let hex = text.trim();
    let hex = hex.strip_prefix("0x").unwrap_or(hex);
    let bytes = alloy_primitives::hex::decode(hex)
        .ok()
        .filter(|b| b.len() == 32)
        .ok_or_else(|| {
            ConfigError::Value(format!(
                "{} does not hold a 32-byte hex private key",
                path.display()
            ))
        })?;
    Ok(alloy_primitives::B256::from_slice(&bytes))
}

/// `[replica]`: what `peregrine replica` follows and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct ReplicaSection {
    /// The sequencer's WebSocket URL (`ws://host:port`); required.
    pub sequencer: Option<String>,
    /// The only key whose signatures are accepted; required (no default: trusting
    /// whoever answers is how a feed gets poisoned).
    pub sequencer_address: Option<alloy_primitives::Address>,
    /// First pause before reconnecting; doubled after each failure.
    #[serde(with = "humantime_serde")]
    pub reconnect_min: Duration,
    /// Longest pause between reconnections.
    #[serde(with = "humantime_serde")]
    pub reconnect_max: Duration,
    /// How long a forwarded write waits for the sequencer's answer.
    #[serde(with = "humantime_serde")]
    pub forward_timeout: Duration,
    /// Sealed blocks between durable redb commits. A replica killed in between applies
    /// the blocks after the last one again, from the sequencer.
    pub checkpoint_blocks: u64,
    /// Checked mini-blocks and seals waiting for the chain thread (which applies them
    /// and seals blocks); the follow thread waits when it is full.
    pub chain_queue: usize,
    /// Nice value of the chain thread: above 0 it yields the CPU to the follow thread,
    /// which publishes mini-blocks, where cores are short. 0 by default: unlike the
    /// sequencer's, a replica's chain thread is the way to its reads (at 10 it fell 4x
    /// further behind at p90 on two shared cores, for no measurable gain on its feed).
    pub chain_service_nice: i32,
}

impl Default for ReplicaSection {
    fn default() -> Self {
        Self {
            sequencer: None,
            sequencer_address: None,
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(5),
            forward_timeout: Duration::from_secs(30),
            checkpoint_blocks: seq::DEFAULT_CHECKPOINT_BLOCKS,
            chain_queue: seq::DEFAULT_CHAIN_QUEUE,
            chain_service_nice: 0,
        }
    }
}

/// `[chain]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct ChainSection {
    /// Chain id (EIP-155); a genesis file's `config.chainId` when unset there.
    pub chain_id: Option<u64>,
    /// Data directory; a fresh temporary one when unset.
    pub datadir: Option<PathBuf>,
    /// geth-style genesis file; the dev accounts when unset.
    pub genesis: Option<PathBuf>,
    /// Extra deterministic prefunded dev accounts.
    pub dev_accounts: u64,
    /// Interval between sealed L2 blocks.
    #[serde(with = "humantime_serde")]
    pub block_time: Duration,
    /// Block gas limit.
    pub gas_limit: u64,
    /// EIP-1559 base fee floor, wei.
    pub min_base_fee: u64,
}

impl Default for ChainSection {
    fn default() -> Self {
        Self {
            chain_id: None,
            datadir: None,
            genesis: None,
            dev_accounts: 0,
            block_time: seq::DEFAULT_BLOCK_TIME,
            gas_limit: seq::DEFAULT_BLOCK_GAS_LIMIT,
            min_base_fee: seq::DEFAULT_MIN_BASE_FEE,
        }
    }
}

/// `[sequencer]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct SequencerSection {
    /// Ring slots (a power of two).
    pub ring_capacity: usize,
    /// Transactions per mini-block at most.
    pub max_mini_block_txs: usize,
    /// Longest a mini-block is held open for the log thread (batching under load); 0
    /// closes each as soon as the ring is empty.
    #[serde(with = "humantime_serde")]
    pub max_mini_block_hold: Duration,
    /// `busy-spin`, `yield` or `park`.
    pub wait: String,
    /// Core to pin the sequencer loop to; unpinned when unset.
    pub core: Option<usize>,
    /// How long a nonce-gapped transaction waits.
    #[serde(with = "humantime_serde")]
    pub nonce_hold: Duration,
    /// Gapped transactions held per sender.
    pub max_queued_per_sender: usize,
    /// Gapped transactions held in total.
    pub max_queued_total: usize,
    /// Transactions one sender may have in flight (ring, gap queue, log).
    pub max_inflight_per_sender: usize,
    /// Most gas one transaction may use (EIP-7825's 2^24 by default).
    pub max_tx_gas: u64,
    /// Mini-blocks waiting for the signer / chain service.
    pub chain_queue: usize,
    /// Nice value of the chain service thread (block seals, redb): above 0 it yields the
    /// CPU to the promise path where cores are short.
    pub chain_service_nice: i32,
    /// Sealed blocks between durable redb commits (checkpoints); the write-ahead log
    /// holds the blocks in between until then.
    pub checkpoint_blocks: u64,
    /// Largest raw transaction.
    pub max_tx_size: ByteSize,
}

impl Default for SequencerSection {
    fn default() -> Self {
        Self {
            ring_capacity: seq::DEFAULT_RING_CAPACITY,
            max_mini_block_txs: seq::DEFAULT_MAX_MINI_BLOCK_TXS,
            max_mini_block_hold: seq::DEFAULT_MAX_MINI_BLOCK_HOLD,
            wait: WaitStrategy::default().name().into(),
            core: None,
            nonce_hold: seq::DEFAULT_NONCE_HOLD,
            max_queued_per_sender: seq::DEFAULT_MAX_QUEUED_PER_SENDER,
            max_queued_total: seq::DEFAULT_MAX_QUEUED_TOTAL,
            max_inflight_per_sender: seq::DEFAULT_MAX_INFLIGHT_PER_SENDER,
            max_tx_gas: seq::DEFAULT_MAX_TX_GAS,
            chain_queue: seq::DEFAULT_CHAIN_QUEUE,
            chain_service_nice: seq::DEFAULT_CHAIN_SERVICE_NICE,
            checkpoint_blocks: seq::DEFAULT_CHECKPOINT_BLOCKS,
            max_tx_size: ByteSize::b(seq::DEFAULT_MAX_TX_SIZE as u64),
        }
    }
}

/// `[wal]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct WalSection {
    /// `fsync` (a promise waits for its record on disk) or `os` (in the page cache).
    pub durability: String,
    /// `auto` (io_uring, else plain), `io-uring` or `plain`.
    pub backend: String,
    /// Size at which a new segment starts.
    pub segment_size: ByteSize,
    /// Records written by one flush at most.
    pub max_batch: usize,
    /// Most bytes one write of the log carries; recovery truncates a bad tail only up to
    /// this size (a crash tears at most one write).
    pub max_write: ByteSize,
    /// Directory of the segments; `<datadir>/wal` when unset.
    pub dir: Option<PathBuf>,
    /// How the log thread waits for mini-blocks: `busy-spin`, `yield` or `park`.
    pub wait: String,
    /// CPU core the log thread is pinned to; unpinned when unset.
    pub core: Option<usize>,
}

impl Default for WalSection {
    fn default() -> Self {
        Self {
            durability: Durability::default().as_str().into(),
            backend: WalBackend::default().as_str().into(),
            segment_size: ByteSize::b(wal::config::DEFAULT_SEGMENT_SIZE),
            max_batch: wal::config::DEFAULT_MAX_BATCH,
            max_write: ByteSize::b(wal::config::DEFAULT_MAX_WRITE),
            dir: None,
            wait: wal::WalConfig::default().wait.name().into(),
            core: None,
        }
    }
}

/// `[rpc]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct RpcSection {
    /// Listen address (HTTP and WebSocket).
    pub addr: SocketAddr,
    /// Largest request body.
    pub max_request_size: ByteSize,
    /// Largest response body.
    pub max_response_size: ByteSize,
    /// Simultaneous connections.
    pub max_connections: u32,
    /// Calls per batch.
    pub max_batch_len: u32,
    /// Subscriptions per connection.
    pub max_subscriptions: u32,
    /// Notifications a WebSocket connection buffers for its subscriptions.
    pub subscription_buffer: u32,
    /// Gas cap of `eth_call` / `eth_estimateGas`.
    pub gas_cap: u64,
    /// Logs per `eth_getLogs`.
    pub max_logs: usize,
    /// Blocks per `eth_getLogs`.
    pub max_log_range: u64,
    /// Blocks per `eth_feeHistory`.
    pub max_fee_history: u64,
    /// Suggested priority fee, wei.
    pub priority_fee: u128,
    /// `eth_sendRawTransactionSync` default timeout.
    #[serde(with = "humantime_serde")]
    pub sync_timeout: Duration,
    /// Largest timeout a caller may ask for.
    #[serde(with = "humantime_serde")]
    pub sync_timeout_cap: Duration,
    /// How long a subscriber may leave its buffer full before it is closed as too slow.
    #[serde(with = "humantime_serde")]
    pub slow_subscriber_timeout: Duration,
    /// Reward percentiles per `eth_feeHistory`.
    pub max_reward_percentiles: usize,
    /// Items in each list a filter may hold (addresses, each topic position, hashes).
    pub max_filter_items: usize,
    /// How far behind the head `fromMiniBlock` may start, in mini-blocks (record feeds;
    /// the replication stream replays from anywhere).
    pub max_replay_mini_blocks: u64,
    /// Replication streams (`miniBlocks` version 2: replicas) served at once.
    pub max_replication_streams: usize,
    /// Interval between WebSocket pings.
    #[serde(with = "humantime_serde")]
    pub ws_ping_interval: Duration,
    /// A WebSocket connection silent this long (no pong, no message) is closed.
    #[serde(with = "humantime_serde")]
    pub ws_idle_timeout: Duration,
    /// Simultaneous connections from one IP address.
    pub max_connections_per_ip: u32,
    /// `Origin` values a WebSocket handshake may carry; any when empty.
    pub ws_origins: Vec<String>,
    /// Longest an `eth_call` / `eth_estimateGas` may run the EVM.
    #[serde(with = "humantime_serde")]
    pub evm_timeout: Duration,
    /// Threads that run calls and estimates (the cores by default).
    pub call_threads: usize,
    /// Calls that may wait for a call thread before more get `-32005`.
    pub call_queue: usize,
    /// Nice value of the call threads.
    pub call_nice: i32,
    /// Threads of the async runtime that serves connections, decodes and recovers
    /// transactions ([`default_worker_threads`]: twice the cores).
    pub worker_threads: usize,
}

/// Most runtime worker threads `rpc.worker-threads` may ask for.
pub const MAX_WORKER_THREADS: usize = 1024;

/// Default `rpc.worker-threads`: twice the cores. Ingress (decoding and sender recovery,
/// ~40 µs a transaction) runs on these threads and shares the cores with the sequencer
/// loop, the log thread and the chain service; with as many workers as cores it got less
/// than its share at saturation, and one worker's queued tasks waited while the other
/// idled. On 2 cores, 4 workers gave ~12 % more throughput at saturation than 2, with
/// low-load latency unchanged (`docs/benchmarks.md`, session 20).
pub fn default_worker_threads() -> usize {
    2 * std::thread::available_parallelism().map_or(2, usize::from)
}

impl Default for RpcSection {
    fn default() -> Self {
        let d = RpcConfig::default();
        Self {
            addr: d.addr,
            max_request_size: ByteSize::b(u64::from(d.max_request_size)),
            max_response_size: ByteSize::b(u64::from(d.max_response_size)),
            max_connections: d.max_connections,
            max_batch_len: d.max_batch_len,
            max_subscriptions: d.max_subscriptions,
            subscription_buffer: d.subscription_buffer,
            gas_cap: d.gas_cap,
            max_logs: d.max_logs,
            max_log_range: d.max_log_range,
            max_fee_history: d.max_fee_history,
            priority_fee: d.priority_fee,
            sync_timeout: Duration::from_millis(d.sync_timeout_ms),
            sync_timeout_cap: Duration::from_millis(d.sync_timeout_cap_ms),
            slow_subscriber_timeout: Duration::from_millis(d.slow_subscriber_timeout_ms),
            max_reward_percentiles: d.max_reward_percentiles,
            max_filter_items: d.max_filter_items,
            max_replay_mini_blocks: d.max_replay_mini_blocks,
            max_replication_streams: d.max_replication_streams,
            ws_ping_interval: Duration::from_millis(d.ws_ping_interval_ms),
            ws_idle_timeout: Duration::from_millis(d.ws_idle_timeout_ms),
            max_connections_per_ip: d.max_connections_per_ip,
            ws_origins: d.ws_origins,
            evm_timeout: Duration::from_millis(d.evm_timeout_ms),
            call_threads: d.call_threads,
            call_queue: d.call_queue,
            call_nice: d.call_nice,
            worker_threads: default_worker_threads(),
        }
    }
}

/// `[preconf]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct PreconfSection {
    /// File with the hex signing key; the documented dev key when unset.
    pub key: Option<PathBuf>,
    /// Mini-blocks buffered for subscribers before a slow one is closed.
    pub feed_capacity: usize,
    /// Recent mini-blocks kept in memory for replay and lookups (older unsealed ones come
    /// from the open block, sealed ones from redb).
    pub recent_mini_blocks: usize,
}

impl Default for PreconfSection {
    fn default() -> Self {
        Self {
            key: None,
            feed_capacity: peregrine_sequencer::feed::DEFAULT_FEED_CAPACITY,
            recent_mini_blocks: peregrine_sequencer::feed::DEFAULT_RECENT_MINI_BLOCKS,
        }
    }
}

/// `[metrics]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct MetricsSection {
    /// Address of `/metrics`, `/health`, `/ready`.
    pub addr: SocketAddr,
}

impl Default for MetricsSection {
    fn default() -> Self {
        Self {
            addr: crate::metrics_server::DEFAULT_METRICS_ADDR
                .parse()
                .expect("valid default"),
        }
    }
}

/// `[log]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct LogSection {
    /// `human` or `json`.
    pub format: String,
    /// Level filter (`RUST_LOG` syntax), e.g. `info` or `info,peregrine_sequencer=debug`.
    pub level: String,
}

impl Default for LogSection {
    fn default() -> Self {
        Self {
            format: "human".into(),
            level: "info".into(),
        }
    }
}

/// Turns an environment value into a TOML value: numbers and booleans as such, anything
/// else as a string.
fn env_value(raw: &str) -> toml::Value {
    match toml::from_str::<toml::Table>(&format!("v = {raw}")) {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw.into())),
        Err(_) => toml::Value::String(raw.into()),
    }
}

impl PeregrineConfig {
    /// The default file, as `peregrine config default` prints it.
    pub fn default_toml() -> String {
        let mut out = String::from(
            "# Peregrine configuration (every value shown is the default).\n\
             # Optional keys, unset by default: chain.chain-id, chain.datadir, chain.genesis,\n\
             # sequencer.core, wal.dir, wal.core, preconf.key, replica.sequencer,\n\
             # replica.sequencer-address, l1.rpc, batcher.key, batcher.inbox.\n\n",
        );
        out.push_str(&toml::to_string(&Self::default()).expect("the default serializes"));
        out
    }

    /// Reads the file (if any) and applies environment overrides from `env`.
    pub fn load(
        file: Option<&std::path::Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let (mut table, origin) = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
                let table: toml::Table =
                    toml::from_str(&text).map_err(|e| ConfigError::Invalid {
                        origin: format!(" in {}", path.display()),
                        message: e.to_string(),
                    })?;
                (table, format!(" in {}", path.display()))
            }
            None => (toml::Table::new(), String::new()),
        };
        // Validate the file alone first, so its errors name the file.
        Self::from_table(table.clone(), &origin)?;
        let mut names = Vec::new();
        for (name, raw) in env {
            let Some(rest) = name.strip_prefix("PEREGRINE_") else {
                continue;
            };
            let lower = rest.to_ascii_lowercase();
            let Some((section, key)) = lower.split_once('_') else {
                continue;
            };
            if !SECTIONS.contains(&section) {
                continue;
            }
            let entry = table
                .entry(section.to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if let toml::Value::Table(t) = entry {
                t.insert(key.replace('_', "-"), env_value(&raw));
            }
            names.push(name);
        }
        let origin = if names.is_empty() {
            origin
        } else {
            format!("{origin} (environment: {})", names.join(", "))
        };
        Self::from_table(table, &origin)
    }

    fn from_table(table: toml::Table, origin: &str) -> Result<Self, ConfigError> {
        Self::deserialize(toml::Value::Table(table)).map_err(|e| ConfigError::Invalid {
            origin: origin.to_string(),
            message: e.to_string(),
        })
    }

    /// The ordering core's configuration (`datadir` resolved by the caller).
    pub fn sequencer_config(
        &self,
        datadir: PathBuf,
        chain_id: u64,
    ) -> Result<SequencerConfig, ConfigError> {
        let s = &self.sequencer;
        let mut cfg = SequencerConfig::new(datadir);
        cfg.chain_id = chain_id;
        cfg.block_time = self.chain.block_time;
        cfg.block_gas_limit = self.chain.gas_limit;
        cfg.min_base_fee = self.chain.min_base_fee;
        cfg.ring_capacity = s.ring_capacity;
        cfg.max_mini_block_txs = s.max_mini_block_txs;
        cfg.max_mini_block_hold = s.max_mini_block_hold;
        cfg.wait_strategy = s
            .wait
            .parse()
            .map_err(|e| ConfigError::Value(format!("sequencer.wait: {e}")))?;
        cfg.core = s.core;
        cfg.nonce_hold = s.nonce_hold;
        cfg.max_queued_per_sender = s.max_queued_per_sender;
        cfg.max_queued_total = s.max_queued_total;
        cfg.max_inflight_per_sender = s.max_inflight_per_sender;
        cfg.max_tx_gas = s.max_tx_gas;
        cfg.chain_queue = s.chain_queue;
        cfg.chain_service_nice = s.chain_service_nice;
        cfg.checkpoint_blocks = s.checkpoint_blocks;
        cfg.max_tx_size = usize::try_from(s.max_tx_size.as_u64())
            .map_err(|_| ConfigError::Value("sequencer.max-tx-size is too large".into()))?;
        cfg.signing_key = self.preconf.key.clone();
        cfg.feed_capacity = self.preconf.feed_capacity;
        cfg.recent_mini_blocks = self.preconf.recent_mini_blocks;
        let w = &self.wal;
        cfg.wal.durability = w
            .durability
            .parse()
            .map_err(|e| ConfigError::Value(format!("wal.durability: {e}")))?;
        cfg.wal.backend = w
            .backend
            .parse()
            .map_err(|e| ConfigError::Value(format!("wal.backend: {e}")))?;
        cfg.wal.segment_size = w.segment_size.as_u64();
        cfg.wal.max_batch = w.max_batch;
        cfg.wal.max_write = w.max_write.as_u64();
        cfg.wal.dir = w.dir.clone();
        cfg.wal.wait = w
            .wait
            .parse()
            .map_err(|e| ConfigError::Value(format!("wal.wait: {e}")))?;
        cfg.wal.core = w.core;
        cfg.validate().map_err(ConfigError::Value)?;
        Ok(cfg)
    }

    /// The batcher's configuration, `None` without `l1.rpc`.
    pub fn batcher_config(
        &self,
        datadir: &std::path::Path,
    ) -> Result<Option<peregrine_batcher::BatcherConfig>, ConfigError> {
        let Some(rpc) = &self.l1.rpc else {
            return Ok(None);
        };
        let b = &self.batcher;
        let key = b.key.as_deref().ok_or_else(|| {
            ConfigError::Value("l1.rpc is set: batcher.key (--batcher.key) is required".into())
        })?;
        let inbox = b.inbox.ok_or_else(|| {
            ConfigError::Value("l1.rpc is set: batcher.inbox (--batcher.inbox) is required".into())
        })?;
        let mut cfg = peregrine_batcher::BatcherConfig::new(
            rpc.clone(),
            read_key_file(key)?,
            inbox,
            datadir.to_path_buf(),
        );
        cfg.da =
            b.da.parse()
                .map_err(|e| ConfigError::Value(format!("batcher.da: {e}")))?;
        cfg.confirmations = b.confirmations;
        cfg.max_channel_duration = b.max_channel_duration;
        cfg.max_calldata_bytes = usize::try_from(b.max_calldata_bytes.as_u64())
            .ok()
            .filter(|&n| (1024..=1 << 20).contains(&n))
            .ok_or_else(|| {
                ConfigError::Value("batcher.max-calldata-bytes must be 1KiB..1MiB".into())
            })?;
        if !(1..=9).contains(&b.max_blobs_per_tx) {
            return Err(ConfigError::Value(
                "batcher.max-blobs-per-tx must be 1..=9".into(),
            ));
        }
        cfg.max_blobs_per_tx = b.max_blobs_per_tx;
        cfg.max_pending_txs = b.max_pending_txs.max(1);
        cfg.poll_interval = b.poll_interval;
        cfg.resubmit_after = b.resubmit_after;
        cfg.fee_bump_after = b.fee_bump_after;
        cfg.max_fee_per_gas = u128::from(b.max_fee_per_gas);
        cfg.max_fee_per_blob_gas = u128::from(b.max_fee_per_blob_gas);
        cfg.max_backlog_bytes = b.max_backlog.as_u64();
        cfg.codec = parse_codec(&b.compression).ok_or_else(|| {
            ConfigError::Value(format!(
                "batcher.compression: {:?} is not brotli-<0..11> or zstd-<1..22>",
                b.compression
            ))
        })?;
        Ok(Some(cfg))
    }

    /// The RPC server's configuration.
    pub fn rpc_config(&self) -> Result<RpcConfig, ConfigError> {
        let r = &self.rpc;
        let size = |v: ByteSize, key: &str| {
            u32::try_from(v.as_u64())
                .map_err(|_| ConfigError::Value(format!("rpc.{key} must be below 4GiB")))
        };
        if r.max_batch_len == 0 || r.max_connections == 0 || r.subscription_buffer == 0 {
            return Err(ConfigError::Value(
                "rpc.max-batch-len, rpc.max-connections and rpc.subscription-buffer must be > 0"
                    .into(),
            ));
        }
        if !(1..=MAX_WORKER_THREADS).contains(&r.worker_threads) {
            return Err(ConfigError::Value(format!(
                "rpc.worker-threads must be between 1 and {MAX_WORKER_THREADS}"
            )));
        }
        if r.max_connections_per_ip == 0 || r.call_threads == 0 || r.call_queue == 0 {
            return Err(ConfigError::Value(
                "rpc.max-connections-per-ip, rpc.call-threads and rpc.call-queue must be > 0"
                    .into(),
            ));
        }
        if r.ws_ping_interval.is_zero() || r.ws_idle_timeout.is_zero() || r.evm_timeout.is_zero() {
            return Err(ConfigError::Value(
                "rpc.ws-ping-interval, rpc.ws-idle-timeout and rpc.evm-timeout must be > 0".into(),
            ));
        }
        if r.ws_idle_timeout < r.ws_ping_interval {
            return Err(ConfigError::Value(
                "rpc.ws-idle-timeout must be at least rpc.ws-ping-interval (a healthy idle \
                 connection answers one ping per interval)"
                    .into(),
            ));
        }
        if !(-20..=19).contains(&r.call_nice) {
            return Err(ConfigError::Value(format!(
                "rpc.call-nice must be in -20..=19, got {}",
                r.call_nice
            )));
        }
        Ok(RpcConfig {
            addr: r.addr,
            max_request_size: size(r.max_request_size, "max-request-size")?,
            max_response_size: size(r.max_response_size, "max-response-size")?,
            max_connections: r.max_connections,
            max_batch_len: r.max_batch_len,
            max_subscriptions: r.max_subscriptions,
            subscription_buffer: r.subscription_buffer,
            gas_cap: r.gas_cap,
            max_logs: r.max_logs,
            max_log_range: r.max_log_range,
            max_fee_history: r.max_fee_history,
            priority_fee: r.priority_fee,
            sync_timeout_ms: r.sync_timeout.as_millis() as u64,
            sync_timeout_cap_ms: r.sync_timeout_cap.as_millis() as u64,
            slow_subscriber_timeout_ms: r.slow_subscriber_timeout.as_millis() as u64,
            max_reward_percentiles: r.max_reward_percentiles,
            max_filter_items: r.max_filter_items,
            max_replay_mini_blocks: r.max_replay_mini_blocks,
            max_replication_streams: r.max_replication_streams,
            ws_ping_interval_ms: r.ws_ping_interval.as_millis() as u64,
            ws_idle_timeout_ms: r.ws_idle_timeout.as_millis() as u64,
            max_connections_per_ip: r.max_connections_per_ip,
            ws_origins: r.ws_origins.clone(),
            evm_timeout_ms: r.evm_timeout.as_millis() as u64,
            call_threads: r.call_threads,
            call_queue: r.call_queue,
            call_nice: r.call_nice,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_file_round_trips() {
        let text = PeregrineConfig::default_toml();
        let parsed: PeregrineConfig = toml::from_str(&text).unwrap();
        assert_eq!(parsed, PeregrineConfig::default());
        assert!(text.contains("[sequencer]") && text.contains("block-time = \"1s\""));
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        std::fs::write(&path, "[rpc]\nadrr = \"127.0.0.1:1\"\n").unwrap();
        let err = PeregrineConfig::load(Some(&path), [])
            .unwrap_err()
            .to_string();
        assert!(err.contains("adrr"), "{err}");
        std::fs::write(&path, "[chain]\nblock-time = \"soon\"\n").unwrap();
        let err = PeregrineConfig::load(Some(&path), [])
            .unwrap_err()
            .to_string();
        assert!(err.contains("block-time"), "{err}");
        std::fs::write(&path, "[sequencer]\nring-capacity = 1000\n").unwrap();
        let cfg = PeregrineConfig::load(Some(&path), []).unwrap();
        let err = cfg
            .sequencer_config(dir.path().into(), 901)
            .unwrap_err()
            .to_string();
        assert!(err.contains("ring-capacity"), "{err}");
    }

    #[test]
    fn environment_overrides_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        std::fs::write(
            &path,
            "[rpc]\naddr = \"127.0.0.1:1000\"\nmax-request-size = \"1MiB\"\n",
        )
        .unwrap();
        let env = [
            (
                "PEREGRINE_RPC_ADDR".to_string(),
                "127.0.0.1:2000".to_string(),
            ),
            ("PEREGRINE_SEQUENCER_RING_CAPACITY".into(), "4096".into()),
            ("PEREGRINE_CHAIN_BLOCK_TIME".into(), "250ms".into()),
            (
                "PEREGRINE_E2E_TARGET".into(),
                "ignored: not a section".into(),
            ),
        ];
        let cfg = PeregrineConfig::load(Some(&path), env).unwrap();
        assert_eq!(cfg.rpc.addr, "127.0.0.1:2000".parse().unwrap());
        assert_eq!(cfg.rpc.max_request_size, ByteSize::mib(1));
        assert_eq!(cfg.sequencer.ring_capacity, 4096);
        assert_eq!(cfg.chain.block_time, Duration::from_millis(250));
        let err = PeregrineConfig::load(None, [("PEREGRINE_RPC_NOPE".into(), "1".into())])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("nope") && err.contains("PEREGRINE_RPC_NOPE"),
            "{err}"
        );
    }

    #[test]
    fn wait_strategies_and_cores_reach_the_sequencer_config() {
        use peregrine_sequencer::ring::{DEFAULT_PARK_TIMEOUT, WaitStrategy};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        for (name, strategy) in [
            ("busy-spin", WaitStrategy::BusySpin),
            ("yield", WaitStrategy::Yield),
            ("park", WaitStrategy::Park(DEFAULT_PARK_TIMEOUT)),
        ] {
            std::fs::write(
                &path,
                format!("[sequencer]\nwait = \"{name}\"\n[wal]\nwait = \"{name}\"\n"),
            )
            .unwrap();
            let cfg = PeregrineConfig::load(Some(&path), []).unwrap();
            let seq = cfg.sequencer_config(dir.path().into(), 901).unwrap();
            assert_eq!((seq.wait_strategy, seq.wal.wait), (strategy, strategy));
            // What the command line writes back into the file form must parse again.
            assert_eq!(strategy.name(), name);
        }
        let defaults = PeregrineConfig::default()
            .sequencer_config(dir.path().into(), 901)
            .unwrap();
        assert_eq!(defaults.wal.wait, WaitStrategy::Yield);
        assert_eq!(defaults.wal.core, None);

        let refused = |text: &str| {
            std::fs::write(&path, text).unwrap();
            PeregrineConfig::load(Some(&path), [])
                .unwrap()
                .sequencer_config(dir.path().into(), 901)
                .unwrap_err()
                .to_string()
        };
        let err = refused("[wal]\nwait = \"sleepy\"\n");
        assert!(err.contains("wal.wait") && err.contains("sleepy"), "{err}");
        let err = refused("[wal]\ncore = 100000\n");
        assert!(err.contains("wal.core = 100000"), "{err}");
        let err = refused("[sequencer]\ncore = 0\n[wal]\ncore = 0\n");
        assert!(err.contains("own core"), "{err}");
    }
}
