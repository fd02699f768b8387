//! Peregrine's Ethereum JSON-RPC server.
//!
//! jsonrpsee serves HTTP and WebSocket on one port. Reads go straight to the sequencer's
//! shared [`peregrine_chain::Chain`]: `latest` and `pending` to the in-memory view
//! after the latest mini-block, whose block is the open block's newest *block view*
//! ([`peregrine_chain::view`]); `safe`, `finalized` and older blocks to redb. Receipts,
//! transactions and logs answer from the preconfirmation on, naming the view of their
//! mini-block until the seal (docs/api.md, "Blocks under construction").
//! `eth_call` and `eth_estimateGas` run on the node's own bounded pool of low-priority
//! threads against a lock-free `pending` snapshot (`call_pool`, `call`); `eth_getLogs`
//! and `eth_feeHistory` on jsonrpsee's blocking pool; never on the sequencer core.
//! `eth_sendRawTransaction` decodes and recovers on the calling task, then pushes into
//! the ring in the order its WebSocket connection sent it (`order`). The node accepts
//! connections itself (`connections`: per-IP bound, `Origin` allowlist), and every list a
//! request may carry is bounded (`limits`).
//!
//! ```text
//!  client ──HTTP/WS──▶ jsonrpsee ──▶ EthHandler ──▶ Ingress::submit ──▶ ring
//!                                        │
//!                                        ├─ latest/pending ──▶ Chain::pending_view (RwLock)
//!                                        └─ sealed blocks  ──▶ redb read transaction
//! ```
//!
//! Errors follow geth: `-32000` with geth's messages for transaction and state errors,
//! `3` with revert data for reverts, `-32602` for bad parameters, `-32005` for limits.

mod accepting;
mod api;
mod call;
mod call_pool;
pub mod config;
mod connections;
mod convert;
pub mod error;
mod eth;
mod fill;
pub mod forward;
mod limits;
mod metrics;
mod order;
mod pubsub;
mod record_json;
mod server;

pub use api::{EthApiServer, TransactionStatus};
pub use config::RpcConfig;
pub use error::{RpcError, RpcResult};
pub use eth::EthHandler;
pub use fill::FilledTransaction;
pub use forward::{Forwarder, Writes};
pub use server::{RpcServer, RpcServerError, start};
