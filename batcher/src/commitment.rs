//! The commitment posted with each L2 block: the ordered list of the block's signed
//! mini-block header hashes (their EIP-712 digests), as a Merkle root and a count.
//!
//! Leaf `i` is OpenZeppelin's `StandardMerkleTree` leaf of `abi.encode(uint256 i, bytes32
//! digest)`; pairs hash sorted (`MerkleProof.verify`), an odd last node is promoted
//! ([`peregrine_preconf::merkle`]). The digests themselves go to L1 as calldata of the
//! inbox's `post`, which computes the root from them and stores `(root, count,
//! firstMiniBlock)` per L2 block: anyone can read the digests back and prove that "header
//! `digest` is at position `i` of block `n`" or that another one is, and that a position
//! `≥ count` was left out, with one proof (`PeregrineBond`).

use alloy_primitives::B256;
use peregrine_preconf::{MerkleTree, mini_block_leaf};

/// What is posted for one L2 block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockCommitment {
    /// The L2 block.
    pub number: u64,
    /// Number of its first mini-block (header `i` is mini-block `first_mini_block + i`).
    pub first_mini_block: u64,
    /// Its mini-block headers' digests, in order.
    pub headers: Vec<B256>,
}

impl BlockCommitment {
    /// The commitment of block `number` whose mini-blocks, numbered from
    /// `first_mini_block`, have the header digests `headers`, in order.
    pub fn new(number: u64, first_mini_block: u64, headers: Vec<B256>) -> Self {
        Self {
            number,
            first_mini_block,
            headers,
        }
    }

    /// How many mini-blocks the block has.
    pub fn count(&self) -> u32 {
        self.headers.len() as u32
    }

    /// The Merkle root the inbox computes and stores (zero for no mini-blocks).
    pub fn root(&self) -> B256 {
        tree(&self.headers).root()
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
        let c = BlockCommitment::new(5, 40, headers.clone());
        assert_eq!(c.count(), 7);
        let t = tree(&headers);
        for (i, h) in headers.iter().enumerate() {
            assert!(verify_proof(
                c.root(),
                mini_block_leaf(i as u32, *h),
                &t.proof(i)
            ));
            // The same header claimed at another position does not prove.
            let j = (i + 1) % headers.len();
            assert!(!verify_proof(
                c.root(),
                mini_block_leaf(j as u32, *h),
                &t.proof(i)
            ));
        }
        assert_eq!(BlockCommitment::new(1, 0, vec![]).root(), B256::ZERO);
    }
}
