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

pub mod config;
pub mod error;
pub mod ingress;
pub mod metrics;
pub mod node;
pub mod ring;
pub mod sequencer_loop;
pub mod signer;
#[cfg(any(test, feature = "test-utils"))]
pub mod testing;
pub mod wal;

// The chain (records, diffs, the read view, storage, the feed, the replica's apply path)
// is `peregrine-chain`'s, shared with replicas; re-exported under the paths it had here.
pub use peregrine_chain::{
    apply, block, chain, clock, diff, exec, fault, feed, follow, genesis, hashes, inflight, open,
    record, recycle, sched, sink, snapshot, state, store, stream, trie, tx, view,
};

pub use block::{BlockContext, MiniBlock};
pub use chain::{Chain, Head, Pending, SealedBlock};
pub use config::SequencerConfig;
pub use error::{IngressError, NodeError, OpenError, StoreError, WalError};
pub use feed::TxStatus;
pub use genesis::GenesisSpec;
pub use ingress::Ingress;
pub use node::{Liveness, Node};
pub use state::WorldState;
pub use tx::{ExecutedTx, PendingTx};
