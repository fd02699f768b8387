//! The write seam: where a node's RPC server hands the transactions it is sent. The
//! sequencer's ingress implements it; a replica forwards writes instead (in `rpc`).

use crate::{error::IngressError, tx::PendingTx};
use alloy_primitives::B256;

/// Takes transactions in (decoded and checked first, then submitted in arrival order).
pub trait TxSink: Send + Sync + std::fmt::Debug {
    /// Decodes `raw` and runs the checks that need no order (signature, fees, size).
    fn decode(&self, raw: &[u8]) -> Result<PendingTx, IngressError>;
    /// Submits a decoded transaction: its hash once accepted.
    fn submit_decoded(&self, tx: PendingTx) -> Result<B256, IngressError>;
    /// The base fee a transaction sent now pays.
    fn pending_base_fee(&self) -> u64;
    /// The chain's lowest base fee.
    fn min_base_fee(&self) -> u64;
}
