//! The commitment posted with each L2 block: the ordered list of the block's signed
//! mini-block header hashes (their EIP-712 digests), as a Merkle root and a count.
//!
//! Leaf `i` is OpenZeppelin's `StandardMerkleTree` leaf of `abi.encode(uint256 i, bytes32
//! digest)`; pairs hash sorted (`MerkleProof.verify`), an odd last node is promoted
//! ([`peregrine_preconf::merkle`]). The inbox contract stores `(root, count)` per L2
//! block, so a contract can check that "header `digest` is at position `i` of block `n`"
//! with one proof, and that a position `≥ count` was left out.

use alloy_primitives::B256;
use peregrine_preconf::{MerkleTree, mini_block_leaf};

/// What is posted for one L2 block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockCommitment {
    /// The L2 block.
    pub number: u64,
    /// Merkle root over its mini-block headers' leaves (zero for none).
    pub root: B256,
    /// How many mini-blocks it has.
    pub count: u32,
}

impl BlockCommitment {
    /// The commitment of block `number` whose mini-blocks' header digests are `headers`,
    /// in order.
    pub fn new(number: u64, headers: &[B256]) -> Self {
        Self {
            number,
            root: tree(headers).root(),
            count: headers.len() as u32,
        }
    }
}

/// The tree over `headers`' leaves; `proof(i)` proves header `i`.
pub fn tree(headers: &[B256]) -> MerkleTree {
    MerkleTree::new(
        headers
            .iter()
            .enumerate()
            .map(|(i, h)| mini_block_leaf(i as u32, *h))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use peregrine_preconf::verify_proof;

    #[test]
    fn every_position_proves_and_positions_are_not_interchangeable() {
        let headers: Vec<B256> = (0..7u8).map(B256::repeat_byte).collect();
        let c = BlockCommitment::new(5, &headers);
        assert_eq!(c.count, 7);
        let t = tree(&headers);
        for (i, h) in headers.iter().enumerate() {
            assert!(verify_proof(
                c.root,
                mini_block_leaf(i as u32, *h),
                &t.proof(i)
            ));
            // The same header claimed at another position does not prove.
            let j = (i + 1) % headers.len();
            assert!(!verify_proof(
                c.root,
                mini_block_leaf(j as u32, *h),
                &t.proof(i)
            ));
        }
        assert_eq!(BlockCommitment::new(1, &[]).root, B256::ZERO);
    }
}
