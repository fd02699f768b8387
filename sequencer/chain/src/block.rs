//! Mini-blocks and the L2 block context they execute in.

use crate::{diff::DiffLog, recycle::Recycled, tx::ExecutedTx};
use alloy_eips::eip1559::{BaseFeeParams, calc_next_block_base_fee};
use alloy_primitives::{Address, B256};

/// The environment of one L2 block, fixed when the block opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockContext {
    /// Block number.
    pub number: u64,
    /// Timestamp in seconds (non-decreasing; equal for blocks within one second).
    pub timestamp: u64,
    /// EIP-1559 base fee in wei.
    pub base_fee: u64,
    /// Block gas limit.
    pub gas_limit: u64,
    /// Fee recipient.
    pub beneficiary: Address,
    /// `PREVRANDAO` value: keccak256(chain id ‖ number), deterministic and documented.
    pub prevrandao: B256,
}

impl BlockContext {
    /// The fields every mini-block header of the block commits to (by hash).
    pub fn fields(&self) -> peregrine_preconf::BlockContextFields {
        peregrine_preconf::BlockContextFields {
            timestamp: self.timestamp,
            base_fee: self.base_fee,
            gas_limit: self.gas_limit,
            beneficiary: self.beneficiary,
            prev_randao: self.prevrandao,
        }
    }
}

/// A closed mini-block: everything a replica needs to apply it without re-executing.
#[derive(Debug, Clone)]
pub struct MiniBlock {
    /// Global mini-block number (0-based, gap-free).
    pub number: u64,
    /// The L2 block it belongs to.
    pub block: BlockContext,
    /// Sequence number of its first transaction.
    pub first_seq: u64,
    /// Executed transactions, in order. The buffer goes back to the loop when the last
    /// user drops the mini-block.
    pub txs: Recycled<Vec<ExecutedTx>>,
    /// State changes of all its transactions together, as the loop recorded them; the
    /// signed record holds them as a [`crate::diff::StateDiff`].
    pub diff: Recycled<DiffLog>,
    /// When it was closed, µs since the Unix epoch.
    pub closed_us: u64,
    /// On replay: when the original was signed (reused so the record is identical);
    /// `None` for a live mini-block, signed now.
    pub signed_us: Option<u64>,
}

/// The end of an L2 block: the sequencer loop closed it; the chain service seals it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockEnd {
    /// The block's context.
    pub ctx: BlockContext,
    /// Gas used by all its transactions.
    pub gas_used: u64,
}

/// What the sequencer loop tells the chain service.
#[derive(Debug)]
pub enum ChainEvent {
    /// A mini-block was closed.
    MiniBlock(MiniBlock),
    /// An L2 block was closed; seal it.
    BlockEnd(BlockEnd),
    /// A transaction is waiting for a nonce gap to close.
    Queued {
        /// Transaction hash.
        hash: B256,
        /// The nonce the sender needs first.
        missing_nonce: u64,
    },
    /// A transaction accepted at ingress was dropped by the sequencer.
    Dropped {
        /// Transaction hash.
        hash: B256,
        /// Its sender and recipient (for the subscriptions' filters).
        parties: Parties,
        /// Why, in words a user understands.
        reason: String,
    },
}

/// The sender and recipient of a transaction (for subscription filters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parties {
    /// Sender.
    pub from: Address,
    /// Recipient (`None` for a creation).
    pub to: Option<Address>,
}

impl Parties {
    /// The parties of `tx`.
    pub fn of(tx: &crate::tx::PendingTx) -> Self {
        use alloy_consensus::Transaction as _;
        Self {
            from: tx.sender,
            to: tx.envelope.to(),
        }
    }
}

/// The EIP-1559 base fee after a block, never below `min_base_fee`.
pub fn next_base_fee(gas_used: u64, gas_limit: u64, base_fee: u64, min_base_fee: u64) -> u64 {
    calc_next_block_base_fee(gas_used, gas_limit, base_fee, BaseFeeParams::ethereum())
        .max(min_base_fee)
}
