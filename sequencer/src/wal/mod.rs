//! The write-ahead log: every closed mini-block is on disk before its promise goes out.
//!
//! ```text
//!  sequencer loop ─▶ log thread: sign ── one append per batch (io_uring or pwrite,
//!                                  │          + fdatasync in `fsync` mode)
//!                                  ▼
//!                     feed (preconfirmations) ─▶ chain service ─▶ redb (checkpoint per block)
//!
//!  start-up: redb checkpoint (last sealed block) + log records of later blocks
//!            ─▶ replayed through the sequencer loop's own execution path
//! ```
//!
//! - [`record`]: the record format (length, crc32c, payload).
//! - [`segment`]: segment files, and reading them back with torn-tail handling.
//! - [`file`]: the io_uring and plain writers.
//! - [`service`]: the log thread (group commit) and segment rotation.
//!
//! What each durability mode promises is in `docs/operations.md`; replay is
//! `SequencerLoop::replay`.

pub mod config;
pub mod file;
pub mod record;
pub mod segment;
pub mod service;

pub use config::{Durability, WalBackend, WalConfig};
pub use file::{ActiveBackend, Writer};
pub use record::{LoggedMiniBlock, LoggedTx, WalRecord};
pub use segment::{CutReport, Recovered, SegmentInfo, TornTail, cut, recover};
pub use service::Log;
