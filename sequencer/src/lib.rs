//! Peregrine's ordering core.
//!
//! Transactions arrive through [`Ingress`] (decoded, checked and sender-recovered on the
//! caller's thread), cross a lock-free [`ring`] to the single sequencer loop, which orders
//! them first-come first-served, executes them with revm and closes **mini-blocks** as
//! soon as the ring drains. The chain service applies each mini-block's state diff to
//! the pending view readers use, and every `block-time` seals an L2 block with a real
//! Ethereum header and stores it in redb.
//!
//! ```text
//!  RPC tasks ──Ingress::submit──▶ ring (MPSC, lock-free) ──▶ sequencer loop (pinned thread)
//!   (decode, recover,                                          │ revm, mini-blocks
//!    state pre-checks)                                         ▼ bounded
//!                                                       signer + log thread: Merkle roots,
//!                                                       EIP-712 signature, write-ahead log
//!                                                       (group commit) ──▶ Feed (subscribers,
//!                                                       │                  sync-send waiters)
//!                                                       ▼ bounded
//!                                                     chain service thread
//!                                                       │ pending view (RwLock)
//!                                                       │ seal: roots, header
//!                                                       ▼
//!                                                     redb (blocks, mini-blocks, state)
//! ```
//!
//! The most critical files are `ring/` and `sequencer_loop.rs`: they are the hot path.

pub mod apply;
pub mod block;
pub mod chain;
pub mod clock;
pub mod config;
pub mod diff;
pub mod error;
pub mod exec;
pub mod fault;
pub mod feed;
pub mod follow;
pub mod genesis;
pub mod hashes;
pub mod inflight;
pub mod ingress;
pub mod metrics;
pub mod node;
pub mod record;
pub mod recycle;
pub mod ring;
pub mod sched;
pub mod sequencer_loop;
pub mod signer;
pub mod snapshot;
pub mod state;
pub mod store;
pub mod stream;
#[cfg(any(test, feature = "test-utils"))]
pub mod testing;
pub mod trie;
pub mod tx;
pub mod view;
pub mod wal;
pub(crate) mod writeback;

pub use block::{BlockContext, MiniBlock};
pub use chain::{Chain, Head, Pending, SealedBlock};
pub use config::SequencerConfig;
pub use error::{IngressError, NodeError, StoreError, WalError};
pub use feed::TxStatus;
pub use genesis::GenesisSpec;
pub use ingress::Ingress;
pub use node::{Liveness, Node};
pub use state::WorldState;
pub use tx::{ExecutedTx, PendingTx};
