//! Peregrine's operations crate: the command line and the wiring of the `peregrine` binary.
//!
//! ```text
//!  peregrine dev ──▶ SequencerConfig + GenesisSpec ──▶ Node::start (ordering core threads)
//!                └─▶ RpcConfig ──────────────────────▶ peregrine_rpc::start (tokio)
//!  SIGINT/SIGTERM ──▶ stop RPC ──▶ Node::shutdown (drain ring, seal, store) ──▶ exit 0
//!  peregrine replica ──▶ Applier (own redb) ◀── follow thread ◀── sequencer's stream (ws)
//!                    └─▶ peregrine_rpc::start, writes forwarded to the sequencer
//! ```

pub mod cli;
pub mod config;
pub mod derive;
pub mod metrics_server;
pub mod prove;
pub mod replica;
pub mod run;
pub mod verify;
pub mod watch;
