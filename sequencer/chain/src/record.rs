//! The signed mini-block record: what a promise is made of, as it is published, persisted,
//! replayed and (#9) streamed to replicas.
//!
//! [`sign_mini_block`] builds a mini-block's three Merkle trees (transactions, receipts,
//! state diff) and signs its EIP-712 header; the sequencer's log thread calls it
//! for every closed mini-block. The types here cross the node's stages (loop, log
//! thread, chain service, store, feed, RPC) and depend on none of them.

use crate::{
    block::{BlockContext, MiniBlock},
    clock::now_us,
    diff::StateDiff,
    view::ViewSeed,
};
use alloy_primitives::{Address, B256, Bytes, Log, Signature};
use peregrine_preconf::{
    AccountDiffLeaf, MerkleTree, MiniBlockHeader, Preconfirmation, ReceiptLeaf, SequencerKey,
    SignedHeader, StageTimestamps, logs_hash, senders_hash, transaction_leaf,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The signed mini-block header's fields (the EIP-712 `message`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeaderFields {
    /// Chain id.
    pub chain_id: u64,
    /// L2 block number.
    pub block_number: u64,
    /// Mini-block number.
    pub mini_block_number: u64,
    /// Hash of the previous mini-block's header.
    pub parent_hash: B256,
    /// Sequence number of the first transaction.
    pub first_sequence: u64,
    /// Root over the transactions.
    pub transactions_root: B256,
    /// Root over the receipts.
    pub receipts_root: B256,
    /// Root over the state diff.
    pub state_diff_root: B256,
    /// Close time, µs since the Unix epoch.
    pub timestamp_micros: u64,
    /// Hash of the transactions' senders, in order.
    pub senders_hash: B256,
    /// Hash of the block context.
    pub block_context_hash: B256,
}

impl From<&MiniBlockHeader> for HeaderFields {
    fn from(h: &MiniBlockHeader) -> Self {
        Self {
            chain_id: h.chainId,
            block_number: h.blockNumber,
            mini_block_number: h.miniBlockNumber,
            parent_hash: h.parentHash,
            first_sequence: h.firstSequence,
            transactions_root: h.transactionsRoot,
            receipts_root: h.receiptsRoot,
            state_diff_root: h.stateDiffRoot,
            timestamp_micros: h.timestampMicros,
            senders_hash: h.sendersHash,
            block_context_hash: h.blockContextHash,
        }
    }
}

impl From<&HeaderFields> for MiniBlockHeader {
    fn from(h: &HeaderFields) -> Self {
        Self {
            chainId: h.chain_id,
            blockNumber: h.block_number,
            miniBlockNumber: h.mini_block_number,
            parentHash: h.parent_hash,
            firstSequence: h.first_sequence,
            transactionsRoot: h.transactions_root,
            receiptsRoot: h.receipts_root,
            stateDiffRoot: h.state_diff_root,
            timestampMicros: h.timestamp_micros,
            sendersHash: h.senders_hash,
            blockContextHash: h.block_context_hash,
        }
    }
}

/// The receipt fields a preconfirmation commits to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceiptFields {
    /// Execution succeeded.
    pub success: bool,
    /// Gas used by the transaction.
    pub gas_used: u64,
    /// Gas used in the L2 block up to and including it.
    pub cumulative_gas_used: u64,
    /// keccak256 of the RLP of its logs.
    pub logs_hash: B256,
}

/// One transaction of a mini-block, as recorded for replicas and history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedTx {
    /// Transaction hash.
    pub hash: B256,
    /// Sender.
    pub from: Address,
    /// Recipient (`None` for a contract creation).
    pub to: Option<Address>,
    /// Position in the L2 block.
    pub block_index: u32,
    /// Block-wide index of its first log.
    pub first_log_index: u64,
    /// Global sequence number.
    pub sequence: u64,
    /// Receipt fields committed by the receipts root.
    pub receipt: ReceiptFields,
    /// The logs (their hash is `receipt.logsHash`).
    pub logs: Vec<Log>,
    /// Created contract, if any.
    pub contract_address: Option<Address>,
    /// Stage timestamps (µs since the Unix epoch): received, ordered, executed.
    pub received: u64,
    /// Ordered by the sequencer loop.
    pub ordered: u64,
    /// Executed.
    pub executed: u64,
    /// The transaction as signed by its sender (EIP-2718 bytes; its keccak256 is `hash`).
    pub raw: Bytes,
}

/// The transaction and receipt trees of a record, built once.
#[derive(Debug)]
struct Trees {
    transactions: MerkleTree,
    receipts: MerkleTree,
}

/// A signed mini-block as published, persisted and replayed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MiniBlockRecord {
    /// The signed header's fields.
    pub header: HeaderFields,
    /// The sequencer's signature over the header's EIP-712 digest (65 bytes, v = 27/28).
    pub signature: Bytes,
    /// Its hash (the EIP-712 digest; the next mini-block's `parentHash`).
    pub hash: B256,
    /// The L2 block's context (its hash is `header.blockContextHash`).
    pub block: BlockContext,
    /// Transactions with their receipts.
    pub transactions: Vec<RecordedTx>,
    /// State changes.
    pub state_diff: StateDiff,
    /// When the header was signed, µs since the Unix epoch.
    pub signed: u64,
    /// Trees built on first use, so each preconfirmation costs O(log n), not a rebuild.
    #[serde(skip)]
    trees: std::sync::OnceLock<Arc<Trees>>,
    /// The seed of the block view that ends with this mini-block ([`crate::view`]), set
    /// by the log thread just after it publishes the record. Not persisted: records read
    /// back from the store have none, and their views are rebuilt from the block.
    #[serde(skip)]
    pub view: ViewSlot,
}

/// Where the log thread puts a record's view seed once the record is published: the
/// tries cost a few microseconds a mini-block, kept off the promise (a sync receipt, the
/// one reader that needs them at once, waits for them instead).
#[derive(Debug, Clone, Default)]
pub struct ViewSlot {
    /// Set for records of the log thread, which always fills the slot.
    expected: bool,
    seed: std::sync::OnceLock<ViewSeed>,
}

impl ViewSlot {
    /// A slot the log thread will fill.
    pub fn expecting() -> Self {
        Self {
            expected: true,
            seed: std::sync::OnceLock::new(),
        }
    }

    /// A slot already filled.
    pub fn filled(seed: ViewSeed) -> Self {
        Self {
            expected: true,
            seed: std::sync::OnceLock::from(seed),
        }
    }

    /// Fills the slot (once; the log thread does, right after publishing).
    pub fn set(&self, seed: ViewSeed) {
        // Set once, by the log thread.
        let _ = self.seed.set(seed);
    }

    /// The seed, waiting at most `wait` for the log thread to set it (microseconds after
    /// it publishes); `None` for a record that did not come from the log thread.
    pub fn get(&self, wait: std::time::Duration) -> Option<ViewSeed> {
        if let Some(seed) = self.seed.get() {
            return Some(*seed);
        }
        if !self.expected {
            return None;
        }
        let deadline = std::time::Instant::now() + wait;
        let mut spins = 0u32;
        loop {
            if let Some(seed) = self.seed.get() {
                return Some(*seed);
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            spins += 1;
            if spins < 64 {
                std::thread::yield_now();
            } else {
                std::thread::sleep(std::time::Duration::from_micros(20));
            }
        }
    }
}

impl PartialEq for MiniBlockRecord {
    fn eq(&self, other: &Self) -> bool {
        self.header == other.header
            && self.signature == other.signature
            && self.hash == other.hash
            && self.block == other.block
            && self.transactions == other.transactions
            && self.state_diff == other.state_diff
            && self.signed == other.signed
    }
}

impl RecordedTx {
    /// The receipt leaf of this transaction.
    pub fn receipt_leaf(&self) -> ReceiptLeaf {
        ReceiptLeaf {
            tx_hash: self.hash,
            success: self.receipt.success,
            gas_used: self.receipt.gas_used,
            cumulative_gas_used: self.receipt.cumulative_gas_used,
            logs_hash: self.receipt.logs_hash,
        }
    }
}

impl MiniBlockRecord {
    /// Mini-block number.
    pub fn number(&self) -> u64 {
        self.header.mini_block_number
    }

    /// L2 block number.
    pub fn block_number(&self) -> u64 {
        self.header.block_number
    }

    /// The signed header (for verification).
    pub fn signed_header(&self) -> SignedHeader {
        SignedHeader {
            header: MiniBlockHeader::from(&self.header),
            signature: Signature::from_raw(&self.signature)
                .expect("records hold the signature they were made with"),
        }
    }

    fn trees(&self) -> &Trees {
        self.trees.get_or_init(|| {
            Arc::new(Trees {
                transactions: MerkleTree::new(
                    self.transactions
                        .iter()
                        .enumerate()
                        .map(|(i, t)| transaction_leaf(i as u32, t.hash))
                        .collect(),
                ),
                receipts: MerkleTree::new(
                    self.transactions
                        .iter()
                        .enumerate()
                        .map(|(i, t)| t.receipt_leaf().leaf(i as u32))
                        .collect(),
                ),
            })
        })
    }

    /// The preconfirmation of transaction `index`, stamped as sent at `sent_us`. The
    /// trees are built once per record; each proof is then O(log n).
    pub fn preconfirmation(&self, index: usize, sent_us: u64) -> Preconfirmation {
        let trees = self.trees();
        let tx = &self.transactions[index];
        Preconfirmation {
            header: self.signed_header(),
            index: index as u32,
            receipt: tx.receipt_leaf(),
            transaction_proof: trees.transactions.proof(index),
            receipt_proof: trees.receipts.proof(index),
            timestamps: StageTimestamps {
                received: tx.received,
                ordered: tx.ordered,
                executed: tx.executed,
                signed: self.signed,
                sent: sent_us,
            },
        }
    }

    /// Position of `hash` in this mini-block.
    pub fn position(&self, hash: &B256) -> Option<usize> {
        self.transactions.iter().position(|t| t.hash == *hash)
    }
}

/// A signed mini-block: the executed data the chain service needs, and its record.
#[derive(Debug)]
pub struct SignedMiniBlock {
    /// The executed mini-block.
    pub mini: MiniBlock,
    /// What is published and persisted.
    pub record: Arc<MiniBlockRecord>,
}

pub(crate) fn diff_leaves(diff: &StateDiff) -> Vec<alloy_primitives::B256> {
    diff.accounts
        .iter()
        .map(|(address, change)| {
            let fields = change.info;
            AccountDiffLeaf {
                address: *address,
                deleted: fields.is_none(),
                nonce: fields.map_or(0, |f| f.nonce),
                balance: fields.map(|f| f.balance).unwrap_or_default(),
                code_hash: fields.map(|f| f.code_hash).unwrap_or_default(),
                storage_cleared: change.storage_cleared,
                storage: change.storage.iter().map(|(k, v)| (*k, *v)).collect(),
            }
            .leaf()
        })
        .collect()
}

/// Builds and signs the record of `mini` on top of `parent`.
pub fn sign_mini_block(
    key: &SequencerKey,
    chain_id: u64,
    parent: B256,
    mini: &MiniBlock,
) -> MiniBlockRecord {
    let transactions: Vec<RecordedTx> = mini
        .txs
        .iter()
        .map(|t| {
            let cumulative = t.receipt.cumulative_gas_used();
            RecordedTx {
                hash: t.hash,
                from: t.sender,
                to: alloy_consensus::Transaction::to(&t.envelope),
                block_index: t.index_in_block,
                first_log_index: t.first_log_index,
                sequence: t.seq,
                receipt: ReceiptFields {
                    success: t.receipt.status(),
                    gas_used: t.gas_used,
                    cumulative_gas_used: cumulative,
                    logs_hash: logs_hash(t.receipt.logs()),
                },
                logs: t.receipt.logs().to_vec(),
                contract_address: t.contract_address,
                received: t.received_us,
                ordered: t.ordered_us,
                executed: t.executed_us,
                raw: Bytes::from(alloy_eips::eip2718::Encodable2718::encoded_2718(
                    &t.envelope,
                )),
            }
        })
        .collect();
    let trees = Trees {
        transactions: MerkleTree::new(
            transactions
                .iter()
                .enumerate()
                .map(|(i, t)| transaction_leaf(i as u32, t.hash))
                .collect(),
        ),
        receipts: MerkleTree::new(
            transactions
                .iter()
                .enumerate()
                .map(|(i, t)| t.receipt_leaf().leaf(i as u32))
                .collect(),
        ),
    };
    let tx_root = trees.transactions.root();
    let receipt_root = trees.receipts.root();
    let state_diff = mini.diff.to_state_diff();
    let diff_root = MerkleTree::new(diff_leaves(&state_diff)).root();
    let header = MiniBlockHeader {
        chainId: chain_id,
        blockNumber: mini.block.number,
        miniBlockNumber: mini.number,
        parentHash: parent,
        firstSequence: mini.first_seq,
        transactionsRoot: tx_root,
        receiptsRoot: receipt_root,
        stateDiffRoot: diff_root,
        timestampMicros: mini.closed_us,
        sendersHash: senders_hash(transactions.iter().map(|t| &t.from)),
        blockContextHash: mini.block.fields().hash(),
    };
    let hash = header.signing_hash();
    let signature = key.sign_digest(hash);
    MiniBlockRecord {
        header: HeaderFields::from(&header),
        signature: Bytes::copy_from_slice(&signature.as_bytes()),
        hash,
        block: mini.block,
        transactions,
        state_diff,
        signed: mini.signed_us.unwrap_or_else(now_us),
        trees: std::sync::OnceLock::from(Arc::new(trees)),
        view: ViewSlot::default(),
    }
}
