//! Peregrine's operations crate: the command line and the wiring of the `peregrine` binary.
//!
//! ```text
//!  peregrine dev ──▶ SequencerConfig + GenesisSpec ──▶ Node::start (ordering core threads)
//!                └─▶ RpcConfig ──────────────────────▶ peregrine_rpc::start (tokio)
//!  SIGINT/SIGTERM ──▶ stop RPC ──▶ Node::shutdown (drain ring, seal, store) ──▶ exit 0
//! ```

pub mod cli;
pub mod config;
pub mod metrics_server;
pub mod run;
pub mod verify;
