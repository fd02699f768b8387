//! Peregrine's load generator (`peregrine-loadtest`).
//!
//! Drives an Ethereum JSON-RPC node on this machine with pre-signed transactions and measures
//! how long each takes to be confirmed: by Peregrine's signed **preconfirmation**
//! (`--send async`: `eth_sendRawTransaction` plus a `preconfirmations` subscription;
//! `--send sync`: EIP-7966 `eth_sendRawTransactionSync`) or, on any node, by polling
//! `eth_getTransactionReceipt` (`--send poll`). The `compare` subcommand runs the same
//! workloads against anvil and `peregrine dev` side by side.
//!
//! ```text
//!  before the clock                         measured run
//!  ────────────────                         ────────────────────────────────────────────
//!  probe target: chain id, client, fees     open loop:   pacer thread, tx i due at i/rate
//!  fund load accounts (non-Peregrine)       closed loop: each finish dispatches the next
//!  deploy LoadToken, mintBatch                             │ dispatch(i, intended time)
//!  fetch nonces; sign every tx and build                   ▼
//!  its JSON-RPC request once               ws writer task / HTTP worker ──▶ node
//!                                                                            │ response,
//!                                                                            │ preconfirmation,
//!                                                                            ▼ polled receipt
//!                                          reader / poller ──▶ Tracker: one slot of atomics
//!                                                                per tx (no lock, no alloc)
//!  after the drain                                               │
//!  ───────────────                                               ▼
//!  receipt check (every accepted tx) ──▶ stats (HdrHistogram) ──▶ JSON report, summary,
//!                                                                 SVG + PNG plots
//! ```
//!
//! **Coordinated omission.** In the open loop every transaction has an *intended* send time,
//! `i / rate` after the start, fixed before the run; `latency_us` counts from it, not from
//! the moment the client managed to send. A stall (in the node or in the client) therefore
//! shows in the latency of every transaction scheduled while it lasted, as in wrk2. The
//! report also gives `service_latency_us` (from the actual write) and `send_lag_us`
//! (intended → actual), so the two can be told apart.
//!
//! **Stages.** Peregrine's preconfirmations carry `timestamps {received, ordered, executed,
//! signed, sent}` (µs since the epoch, by the node's clock, which on one machine is the
//! client's). The report breaks latency down into client → ingress, ingress → ordered,
//! ordered → executed, executed → signed, signed → sent and sent → client-received.
//!
//! **Outcomes.** After the drain every transaction the node accepted must have a receipt;
//! the check waits up to `--receipt-timeout` and lists those without one.
//!
//! **Bounds.** Every run is bounded in time and in transactions, under hard caps no flag
//! lifts ([`MAX_DURATION`], [`MAX_TRANSACTIONS`]), and refuses targets that are not on this
//! machine unless `--allow-remote` is given.
//!
//! The client is built for a small machine shared with the node under test: requests are
//! serialized before the clock, a WebSocket writer coalesces whatever is queued into one
//! `write`, responses are read without building JSON trees, and the bookkeeping per
//! transaction is a handful of atomic stores. The most critical file is `run.rs`.

mod accounts;
pub mod cli;
mod compare;
mod config;
mod error;
mod load;
mod node;
mod plot;
mod progress;
mod replica_lag;
mod report;
mod rpc;
mod run;
mod setup;
mod stalled;
mod stats;
mod tracker;
mod verify;
mod workload;

pub use accounts::{Account, dev_account_key, dev_accounts};
pub use compare::{
    CompareConfig, CompareRow, CompareRun, Comparison, DEFAULT_COMPARE_CONCURRENCY,
    DEFAULT_COMPARE_RATE, compare,
};
pub use config::{
    CLOSED_LOOP_BUDGET_TPS, DEFAULT_ACCOUNTS, DEFAULT_CONCURRENCY, DEFAULT_DRAIN_TIMEOUT,
    DEFAULT_DURATION, DEFAULT_FUNDER_KEY, DEFAULT_HTTP_CONNECTIONS, DEFAULT_POLL_INTERVAL,
    DEFAULT_RATE, DEFAULT_RECEIPT_TIMEOUT, Endpoint, LoadConfig, MAX_ACCOUNTS, MAX_CONNECTIONS,
    MAX_DURATION, MAX_RATE, MAX_STALLED_SUBSCRIBERS, MAX_TRANSACTIONS, Mix, Mode, SendMethod,
    Transport, resolve_bounds,
};
pub use error::{ErrorClass, LoadError, LoadResult, RpcFailure, message_class};
pub use load::{default_send, run};
pub use report::{
    Bucket, ErrorCount, Machine, Percentiles, Report, SetupSummary, Stages, StalledSummary, Window,
};
pub use setup::TargetKind;
pub use verify::ReceiptCheck;
