//! End-to-end tests of the JSON-RPC surface with real clients (cast, viem).
//!
//! Every test starts its own node — `PEREGRINE_E2E_TARGET=anvil` runs them
//! against anvil, otherwise against `target/debug/peregrine` (or `$PEREGRINE_BIN`).
//! Run: `scripts/install-tools.sh && cargo build --bin peregrine && cargo nextest run -p peregrine-tests`.

mod basics;
mod batcher;
mod blocks;
mod calls;
mod common;
mod contract;
mod crash;
mod errors;
mod gas;
mod harness;
mod hostile;
mod persistence;
mod pipelining;
mod preconf;
mod realtime;
mod replica;
mod slashing;
mod subscriptions;
mod transfer;
mod viem;
