//! Peregrine's L1 batcher, and the derivation that checks it.
//!
//! The **batcher** ([`poster`]) runs in the sequencer process on a thread of its own. It
//! takes sealed L2 blocks from the chain's public seams (the sealed-block stream, and the
//! store for what the stream no longer holds), packs them into compressed channels
//! ([`format`], specified in `docs/batch-format.md`), and posts them to the inbox contract
//! on L1 (`preconf/contracts/PeregrineInbox.sol`, [`inbox`]) in calldata or EIP-4844
//! blobs, with a commitment to each block's signed mini-block headers ([`commitment`]).
//! Its L1 transactions and nonces are durable ([`state`]); it follows their inclusion,
//! reorgs and finality, and sets the chain's `safe` and `finalized` heads.
//!
//! The **derivation** ([`derive`]) rebuilds the L2 chain from L1 alone: it reads the
//! inbox's transactions (calldata, and blobs through a [`derive::BlobSource`]: anvil's,
//! or a beacon node's, [`beacon`]), decodes
//! the channels and re-executes every transaction with revm, without the sequencer's state
//! diffs, then compares the block hashes with a live node if asked.
//!
//! ```text
//!  ChainService ─seal─▶ sealed-block stream ─▶ Batcher ─▶ channel ─▶ frames ─▶ L1 inbox
//!                                                                    │
//!  peregrine derive ◀─ calldata / blobs ◀────────────────────────────┘ ─▶ revm ─▶ blocks
//! ```
//!
//! This crate imports nothing from `rpc` or from the sequencer loop.

pub mod beacon;
pub mod commitment;
pub mod config;
pub mod derive;
pub mod error;
pub mod format;
pub mod inbox;
pub mod l1;
pub mod metrics;
pub mod poster;
pub mod state;

pub use config::{BatcherConfig, DaMode};
pub use error::{BatcherError, FormatError, L1Error, StateError};
pub use poster::{BatcherHandle, spawn};
