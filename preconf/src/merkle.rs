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
        self.levels
            .last()
            .and_then(|top| top.first())
            .copied()
            .unwrap_or(B256::ZERO)
    }

    /// The proof of the leaf at `index`: sibling hashes from the leaf up.
    ///
    /// # Panics
    ///
    /// If `index >= self.len()`.
    pub fn proof(&self, index: usize) -> Vec<B256> {
        assert!(
            index < self.len(),
            "leaf {index} out of range for a tree of {}",
            self.len()
        );
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
    proof
        .iter()
        .fold(leaf, |node, sibling| hash_pair(node, *sibling))
        == root
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<B256> {
        (0..n)
            .map(|i| keccak256((i as u64).to_be_bytes()))
            .collect()
    }

    #[test]
    fn every_proof_verifies_for_sizes_1_to_33() {
        for n in 1..=33 {
            let leaves = leaves(n);
            let tree = MerkleTree::new(leaves.clone());
            let root = tree.root();
            let depth = n.next_power_of_two().trailing_zeros() as usize;
            for (i, leaf) in leaves.iter().enumerate() {
                let proof = tree.proof(i);
                assert!(
                    proof.len() <= depth,
                    "n={n} i={i}: proof longer than ceil(log2 n)"
                );
                assert!(verify_proof(root, *leaf, &proof), "n={n} i={i}");
                // A wrong leaf fails, whether unrelated or another leaf of the same tree.
                assert!(!verify_proof(root, keccak256(leaf), &proof), "n={n} i={i}");
                if n > 1 {
                    let other = leaves[(i + 1) % n];
                    assert!(!verify_proof(root, other, &proof), "n={n} i={i}");
                }
                // A changed proof element fails.
                for k in 0..proof.len() {
                    let mut bad = proof.clone();
                    bad[k].0[31] ^= 1;
                    assert!(!verify_proof(root, *leaf, &bad), "n={n} i={i} k={k}");
                }
            }
        }
    }

    #[test]
    fn empty_tree_root_is_zero() {
        let tree = MerkleTree::new(vec![]);
        assert!(tree.is_empty());
        assert_eq!(tree.root(), B256::ZERO);
    }

    #[test]
    fn small_trees_have_the_documented_shape() {
        let l = leaves(3);
        assert_eq!(MerkleTree::new(vec![l[0]]).root(), l[0]);
        assert!(MerkleTree::new(vec![l[0]]).proof(0).is_empty());
        let ab = hash_pair(l[0], l[1]);
        assert_eq!(ab, hash_pair(l[1], l[0]), "pairs are hashed sorted");
        assert_eq!(MerkleTree::new(l[..2].to_vec()).root(), ab);
        // The odd third leaf is promoted, then paired with the hash of the first two.
        let tree = MerkleTree::new(l.clone());
        assert_eq!(tree.root(), hash_pair(ab, l[2]));
        assert_eq!(tree.proof(2), vec![ab]);
        assert_eq!(tree.proof(0), vec![l[1], l[2]]);
    }

    #[test]
    #[should_panic(expected = "out of range")]
    fn proof_out_of_range_panics() {
        MerkleTree::new(leaves(3)).proof(3);
    }
}
