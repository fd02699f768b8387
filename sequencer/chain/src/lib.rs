//! Peregrine's chain: what the sequencer and a replica share, and nothing of ordering.
//!
//! A chain is built from **signed mini-block records** ([`record`]): the sequencer's log
//! thread makes them, a replica receives them ([`stream`]), checks them ([`follow`]) and
//! applies them ([`apply`]). Either way the [`chain::ChainService`] applies each record's
//! state diff to the read view ([`chain::Chain`], with the open block's views,
//! [`view`]), seals L2 blocks (state root, roots, header, a signed seal) and stores them
//! in redb ([`store`]); the [`feed`] publishes the records to subscribers. The RPC server
//! reads through [`chain::Chain`] and writes through a [`sink::TxSink`].
//!
//! ```text
//!  sequencer: loop ─▶ log thread (sign) ─┐
//!                                        ├─▶ ChainService ─▶ Chain (read view, views) ─▶ rpc
//!  replica:   stream ─▶ Follower/Applier ┘        │ seal
//!                                                 ▼
//!                                               redb ─▶ sealed-block stream (batcher)
//! ```
//!
//! This crate links neither the ring nor the sequencer loop: a replica is built on it
//! alone. (revm is here for `eth_call` and `eth_estimateGas`, which both node kinds
//! serve, and for the sequencer's execution environment.)

pub mod apply;
pub mod block;
pub mod chain;
pub mod clock;
pub mod diff;
pub mod error;
pub mod exec;
pub mod fault;
pub mod feed;
pub mod follow;
pub mod genesis;
pub mod hashes;
pub mod inflight;
pub mod metrics;
pub mod open;
mod recent_index;
pub mod record;
pub mod recycle;
pub mod sched;
pub mod sink;
pub mod snapshot;
pub mod state;
pub mod store;
pub mod stream;
#[cfg(any(test, feature = "test-utils"))]
pub mod testing;
pub mod trie;
pub mod tx;
pub mod view;
pub(crate) mod writeback;

pub use block::{BlockContext, MiniBlock};
pub use chain::{Chain, Head, Pending, SealedBlock};
pub use error::{IngressError, OpenError, StoreError};
pub use feed::TxStatus;
pub use genesis::GenesisSpec;
pub use sink::TxSink;
pub use state::{RootWork, WorldState};
pub use tx::{ExecutedTx, PendingTx};
