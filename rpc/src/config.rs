//! Configuration of the JSON-RPC server.

use std::net::SocketAddr;

/// Default listen address (HTTP and WebSocket on one port).
pub const DEFAULT_RPC_ADDR: &str = "127.0.0.1:8545";
/// Default largest request body: 5 MiB, as geth.
pub const DEFAULT_MAX_REQUEST_SIZE: u32 = 5 * 1024 * 1024;
/// Default largest response body: 64 MiB (a full block with its transactions fits).
pub const DEFAULT_MAX_RESPONSE_SIZE: u32 = 64 * 1024 * 1024;
/// Default bound on simultaneous connections.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 1024;
/// Default bound on the calls in one batch request.
pub const DEFAULT_MAX_BATCH_LEN: u32 = 1000;
/// Default bound on subscriptions per WebSocket connection.
pub const DEFAULT_MAX_SUBSCRIPTIONS: u32 = 1024;
/// Default notifications one WebSocket connection buffers for its subscriptions
/// (jsonrpsee's own default).
pub const DEFAULT_SUBSCRIPTION_BUFFER: u32 = 1024;
/// Default gas cap for `eth_call` and `eth_estimateGas` (geth's is 50M).
pub const DEFAULT_GAS_CAP: u64 = 50_000_000;
/// Default bound on logs one `eth_getLogs` returns.
pub const DEFAULT_MAX_LOGS: usize = 10_000;
/// Default bound on blocks one `eth_getLogs` scans.
pub const DEFAULT_MAX_LOG_RANGE: u64 = 10_000;
/// Default bound on `eth_feeHistory` block count (geth's is 1024).
pub const DEFAULT_MAX_FEE_HISTORY: u64 = 1024;
/// Default time an `eth_call` / `eth_estimateGas` may run the EVM (geth's 5 s).
pub const DEFAULT_EVM_TIMEOUT_MS: u64 = 5_000;
/// Default calls waiting for a call thread before more are refused.
pub const DEFAULT_CALL_QUEUE: usize = 256;
/// Default nice value of the call threads (the chain service's).
pub const DEFAULT_CALL_NICE: i32 = 10;

/// Default number of threads that run `eth_call` and `eth_estimateGas`: the cores.
pub fn default_call_threads() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}

/// Default bound on `eth_feeHistory` reward percentiles (geth's is 100).
pub const DEFAULT_MAX_REWARD_PERCENTILES: usize = 100;
/// Default bound on each list a client filters by: `eth_getLogs` and `logs` addresses and
/// each topic position, `preconfirmations` `txHashes` / `from` / `to`, `stateChanges`
/// `addresses`.
pub const DEFAULT_MAX_FILTER_ITEMS: usize = 1024;
/// Default bound on how far behind the head `fromMiniBlock` may start a replay.
pub const DEFAULT_MAX_REPLAY_MINI_BLOCKS: u64 = 65_536;
/// Default `max-replication-streams`: replicas (or other followers of the replication
/// stream) served at once; each may replay history from genesis at its own pace.
pub const DEFAULT_MAX_REPLICATION_STREAMS: usize = 32;
/// Default interval between WebSocket pings.
pub const DEFAULT_WS_PING_INTERVAL_MS: u64 = 30_000;
/// Default time a WebSocket connection may go without answering a ping (nor sending
/// anything) before it is closed.
pub const DEFAULT_WS_IDLE_TIMEOUT_MS: u64 = 60_000;
/// Default bound on simultaneous connections from one IP address.
pub const DEFAULT_MAX_CONNECTIONS_PER_IP: u32 = 256;
/// Default `eth_sendRawTransactionSync` timeout (EIP-7966 suggests 2 s).
pub const DEFAULT_SYNC_TIMEOUT_MS: u64 = 2_000;
/// Default cap on the timeout a caller may ask for.
pub const DEFAULT_SYNC_TIMEOUT_CAP_MS: u64 = 30_000;
/// Default time a subscriber may leave its buffer full before it is closed as too slow.
pub const DEFAULT_SLOW_SUBSCRIBER_TIMEOUT_MS: u64 = 2_000;
/// Default suggested priority fee in wei (0.001 gwei).
pub const DEFAULT_PRIORITY_FEE: u128 = 1_000_000;

/// Configuration of the JSON-RPC server.
#[derive(Debug, Clone)]
pub struct RpcConfig {
    /// Listen address.
    pub addr: SocketAddr,
    /// Largest request body in bytes.
    pub max_request_size: u32,
    /// Largest response body in bytes.
    pub max_response_size: u32,
    /// Simultaneous connections.
    pub max_connections: u32,
    /// Calls in one batch.
    pub max_batch_len: u32,
    /// Subscriptions per WebSocket connection.
    pub max_subscriptions: u32,
    /// Notifications one WebSocket connection buffers for its subscriptions (shared by
    /// them). A subscriber that leaves it full for `slow_subscriber_timeout_ms` is closed.
    pub subscription_buffer: u32,
    /// Gas cap of calls and estimates.
    pub gas_cap: u64,
    /// Logs per `eth_getLogs`.
    pub max_logs: usize,
    /// Blocks per `eth_getLogs`.
    pub max_log_range: u64,
    /// Blocks per `eth_feeHistory`.
    pub max_fee_history: u64,
    /// Priority fee suggested by `eth_maxPriorityFeePerGas`, in wei.
    pub priority_fee: u128,
    /// `eth_sendRawTransactionSync` timeout when the caller names none, ms.
    pub sync_timeout_ms: u64,
    /// Largest timeout a caller may ask for, ms.
    pub sync_timeout_cap_ms: u64,
    /// How long a subscriber may leave its buffer full before it is closed, ms.
    pub slow_subscriber_timeout_ms: u64,
    /// Reward percentiles per `eth_feeHistory`.
    pub max_reward_percentiles: usize,
    /// Items in each list a filter may hold (addresses, each topic position, hashes).
    pub max_filter_items: usize,
    /// How far behind the head `fromMiniBlock` may start, in mini-blocks (record feeds;
    /// the replication stream replays from anywhere, at its reader's pace).
    pub max_replay_mini_blocks: u64,
    /// Replication streams (`miniBlocks` version 2) served at once.
    pub max_replication_streams: usize,
    /// Interval between WebSocket pings, ms.
    pub ws_ping_interval_ms: u64,
    /// A WebSocket connection that answers no ping and sends nothing for this long is
    /// closed, ms.
    pub ws_idle_timeout_ms: u64,
    /// Simultaneous connections from one IP address.
    pub max_connections_per_ip: u32,
    /// `Origin` values a WebSocket handshake may carry; any (and none) when empty.
    pub ws_origins: Vec<String>,
    /// Longest an `eth_call` / `eth_estimateGas` may run the EVM, ms.
    pub evm_timeout_ms: u64,
    /// Threads that run calls and estimates.
    pub call_threads: usize,
    /// Calls that may wait for a call thread.
    pub call_queue: usize,
    /// Nice value of the call threads (0 keeps the process's).
    pub call_nice: i32,
}

impl Default for RpcConfig {
    fn default() -> Self {
        Self {
            addr: DEFAULT_RPC_ADDR.parse().expect("valid default address"),
            max_request_size: DEFAULT_MAX_REQUEST_SIZE,
            max_response_size: DEFAULT_MAX_RESPONSE_SIZE,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_batch_len: DEFAULT_MAX_BATCH_LEN,
            max_subscriptions: DEFAULT_MAX_SUBSCRIPTIONS,
            subscription_buffer: DEFAULT_SUBSCRIPTION_BUFFER,
            gas_cap: DEFAULT_GAS_CAP,
            max_logs: DEFAULT_MAX_LOGS,
            max_log_range: DEFAULT_MAX_LOG_RANGE,
            max_fee_history: DEFAULT_MAX_FEE_HISTORY,
            priority_fee: DEFAULT_PRIORITY_FEE,
            sync_timeout_ms: DEFAULT_SYNC_TIMEOUT_MS,
            sync_timeout_cap_ms: DEFAULT_SYNC_TIMEOUT_CAP_MS,
            slow_subscriber_timeout_ms: DEFAULT_SLOW_SUBSCRIBER_TIMEOUT_MS,
            max_reward_percentiles: DEFAULT_MAX_REWARD_PERCENTILES,
            max_filter_items: DEFAULT_MAX_FILTER_ITEMS,
            max_replay_mini_blocks: DEFAULT_MAX_REPLAY_MINI_BLOCKS,
            max_replication_streams: DEFAULT_MAX_REPLICATION_STREAMS,
            ws_ping_interval_ms: DEFAULT_WS_PING_INTERVAL_MS,
            ws_idle_timeout_ms: DEFAULT_WS_IDLE_TIMEOUT_MS,
            max_connections_per_ip: DEFAULT_MAX_CONNECTIONS_PER_IP,
            ws_origins: Vec::new(),
            evm_timeout_ms: DEFAULT_EVM_TIMEOUT_MS,
            call_threads: default_call_threads(),
            call_queue: DEFAULT_CALL_QUEUE,
            call_nice: DEFAULT_CALL_NICE,
        }
    }
}
