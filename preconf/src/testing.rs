//! Sample preconfirmations for tests and benchmarks (feature `test-utils`).

use crate::{
    MerkleTree, MiniBlockHeader, Preconfirmation, ReceiptLeaf, SequencerKey, StageTimestamps,
    transaction_leaf,
};
use alloy_primitives::keccak256;

/// A signed mini-block of `n` transactions (block `block`, signed with the dev key) and the
/// preconfirmation of each of its transactions.
pub fn mini_block(n: usize, block: u64) -> Vec<Preconfirmation> {
    let receipts: Vec<ReceiptLeaf> = (0..n)
        .map(|i| ReceiptLeaf {
            tx_hash: keccak256(format!("tx {block} {i}")),
            success: i % 3 != 2,
            gas_used: 21_000 + 1_000 * i as u64,
            cumulative_gas_used: (0..=i as u64).map(|j| 21_000 + 1_000 * j).sum(),
            logs_hash: keccak256(format!("logs {i}")),
        })
        .collect();
    let tx_tree = MerkleTree::new(
        receipts
            .iter()
            .enumerate()
            .map(|(i, r)| transaction_leaf(i as u32, r.tx_hash))
            .collect(),
    );
    let receipt_tree = MerkleTree::new(
        receipts
            .iter()
            .enumerate()
            .map(|(i, r)| r.leaf(i as u32))
            .collect(),
    );
    let header = MiniBlockHeader {
        chainId: 901,
        blockNumber: block,
        miniBlockNumber: n as u64,
        parentHash: keccak256(format!("parent {block}")),
        firstSequence: 1_000 * block,
        transactionsRoot: tx_tree.root(),
        receiptsRoot: receipt_tree.root(),
        stateDiffRoot: keccak256("diff"),
        timestampMicros: 1_763_700_000_000_000 + block,
        sendersHash: keccak256(format!("senders {block}")),
        blockContextHash: keccak256(format!("context {block}")),
    };
    let signed = SequencerKey::dev().sign_header(header);
    receipts
        .iter()
        .enumerate()
        .map(|(i, r)| Preconfirmation {
            header: signed,
            index: i as u32,
            receipt: *r,
            transaction_proof: tx_tree.proof(i),
            receipt_proof: receipt_tree.proof(i),
            timestamps: StageTimestamps {
                received: 1_763_700_000_000_000,
                ordered: 1_763_700_000_000_010,
                executed: 1_763_700_000_000_020,
                signed: 1_763_700_000_000_030,
                sent: 1_763_700_000_000_040,
            },
        })
        .collect()
}
