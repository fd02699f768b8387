//! A binary Merkle tree with sorted-pair hashing, verifiable by OpenZeppelin's
//! `MerkleProof.verify` and `StandardMerkleTree.verify`.

use alloy_primitives::{B256, keccak256};

/// `keccak256(min(a, b) || max(a, b))`: OpenZeppelin's `Hashes.commutativeKeccak256`.
fn hash_pair(a: B256, b: B256) -> B256 {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(lo.as_slice());
    buf[32..].copy_from_slice(hi.as_slice());
    keccak256(buf)
}

/// A Merkle tree over leaves in their given order.
///
/// Each level pairs neighbours (0 with 1, 2 with 3, ...) and hashes each pair sorted; an odd
/// last node is promoted to the next level unchanged. The root of one leaf is the leaf; the
/// root of no leaves is zero. A proof lists the siblings from the leaf up, skipping levels
/// where the node was promoted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MerkleTree {
    /// `levels[0]` are the leaves, the last level holds the root (empty when there are no
    /// leaves).
    levels: Vec<Vec<B256>>,
}

impl MerkleTree {
    /// Builds the tree.
    pub fn new(leaves: Vec<B256>) -> Self {
        let mut levels = vec![leaves];
        while let Some(level) = levels.last().filter(|l| l.len() > 1) {
            let next = level
                .chunks(2)
                .map(|pair| match *pair {
                    [a, b] => hash_pair(a, b),
                    [a] => a,
                    _ => unreachable!("chunks(2) yields one or two nodes"),
                })
                .collect();
            levels.push(next);
        }
        Self { levels }
    }

    /// Number of leaves.
    pub fn len(&self) -> usize {
        self.levels[0].len()
    }

    /// Whether the tree has no leaves.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The root; zero for an empty tree.
    pub fn root(&self) -> B256 {
        self.levels.last().and_then(|top| top.first()).copied().unwrap_or(B256::ZERO)
    }

    /// The proof of the leaf at `index`: sibling hashes from the leaf up.
    ///
    /// # Panics
    ///
    /// If `index >= self.len()`.
    pub fn proof(&self, index: usize) -> Vec<B256> {
        assert!(index < self.len(), "leaf {index} out of range for a tree of {}", self.len());
        let mut proof = Vec::with_capacity(self.levels.len() - 1);
        let mut i = index;
        for level in &self.levels[..self.levels.len() - 1] {
            if let Some(sibling) = level.get(i ^ 1) {
                proof.push(*sibling);
            }
            i /= 2;
        }
        proof
    }
}

/// Whether `proof` leads from `leaf` to `root`: OpenZeppelin's `MerkleProof.verify`, folding
/// the proof with sorted-pair hashing.
pub fn verify_proof(root: B256, leaf: B256, proof: &[B256]) -> bool {
    proof.iter().fold(leaf, |node, sibling| hash_pair(node, *sibling)) == root
}
