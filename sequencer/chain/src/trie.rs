//! An in-memory Merkle-Patricia trie that keeps every node's hash, so a root after a few
//! changes costs only the nodes on the changed paths.
//!
//! Written here because no crate on crates.io offers this over alloy types: alloy-trie
//! has a streaming `HashBuilder` (a full pass over sorted leaves each time), reth's
//! sparse trie is not published, and `eth_trie` re-decodes committed nodes from its
//! database on every update. Node encoding is alloy-trie's (`LeafNodeRef`,
//! `ExtensionNodeRef`, `BranchNodeRef`); the tests check every root against alloy-trie's
//! reference implementation.
//!
//! Keys are 32-byte hashed keys (64 nibbles), so no key is a prefix of another and no
//! branch carries a value.

use alloy_primitives::{B256, keccak256};
use alloy_trie::{
    EMPTY_ROOT_HASH, Nibbles, TrieMask,
    nodes::{BranchNodeRef, ExtensionNodeRef, LeafNodeRef, RlpNode},
};

#[derive(Debug, Clone, Default)]
enum Node {
    #[default]
    Empty,
    Leaf {
        path: Nibbles,
        value: Vec<u8>,
        hash: Option<RlpNode>,
    },
    Extension {
        path: Nibbles,
        child: Box<Node>,
        hash: Option<RlpNode>,
    },
    Branch {
        children: Box<[Node; 16]>,
        hash: Option<RlpNode>,
    },
}

impl Node {
    fn leaf(path: Nibbles, value: Vec<u8>) -> Self {
        Node::Leaf {
            path,
            value,
            hash: None,
        }
    }

    fn extension(path: Nibbles, child: Node) -> Self {
        if path.is_empty() {
            return child;
        }
        Node::Extension {
            path,
            child: Box::new(child),
            hash: None,
        }
    }

    fn invalidate(&mut self) {
        match self {
            Node::Empty => {}
            Node::Leaf { hash, .. } | Node::Extension { hash, .. } | Node::Branch { hash, .. } => {
                *hash = None
            }
        }
    }

    /// Prepends `prefix` to this node's path (used when a branch collapses).
    fn with_prefix(self, prefix: Nibbles) -> Node {
        match self {
            Node::Leaf { path, value, .. } => Node::leaf(prefix.join(&path), value),
            Node::Extension { path, child, .. } => Node::extension(prefix.join(&path), *child),
            branch @ Node::Branch { .. } => Node::extension(prefix, branch),
            Node::Empty => Node::Empty,
        }
    }

    fn insert(&mut self, key: Nibbles, new_value: Vec<u8>) {
        match self {
            Node::Empty => *self = Node::leaf(key, new_value),
            Node::Leaf { path, value, hash } => {
                if *path == key {
                    *value = new_value;
                    *hash = None;
                    return;
                }
                let common = path.common_prefix_length(&key);
                let mut children: Box<[Node; 16]> = Box::default();
                let old = std::mem::take(value);
                children[path.get_unchecked(common) as usize] =
                    Node::leaf(path.slice(common + 1..), old);
                children[key.get_unchecked(common) as usize] =
                    Node::leaf(key.slice(common + 1..), new_value);
                let branch = Node::Branch {
                    children,
                    hash: None,
                };
                *self = Node::extension(key.slice(..common), branch);
            }
            Node::Extension { path, child, hash } => {
                *hash = None;
                let common = path.common_prefix_length(&key);
                if common == path.len() {
                    child.insert(key.slice(common..), new_value);
                    return;
                }
                let mut children: Box<[Node; 16]> = Box::default();
                let old_child = std::mem::take(child.as_mut());
                children[path.get_unchecked(common) as usize] =
                    Node::extension(path.slice(common + 1..), old_child);
                children[key.get_unchecked(common) as usize] =
                    Node::leaf(key.slice(common + 1..), new_value);
                let branch = Node::Branch {
                    children,
                    hash: None,
                };
                *self = Node::extension(key.slice(..common), branch);
            }
            Node::Branch { children, hash } => {
                *hash = None;
                children[key.get_unchecked(0) as usize].insert(key.slice(1..), new_value);
            }
        }
    }

    /// Removes `key`; returns whether it was present.
    fn remove(&mut self, key: &Nibbles) -> bool {
        let removed = match self {
            Node::Empty => false,
            Node::Leaf { path, .. } => {
                if path == key {
                    *self = Node::Empty;
                    return true;
                }
                false
            }
            Node::Extension { path, child, .. } => {
                key.starts_with(path) && child.remove(&key.slice(path.len()..))
            }
            Node::Branch { children, .. } => {
                children[key.get_unchecked(0) as usize].remove(&key.slice(1..))
            }
        };
        if removed {
            self.invalidate();
            self.normalize();
        }
        removed
    }

    /// Restores the canonical shape after a removal below this node.
    fn normalize(&mut self) {
        match self {
            Node::Extension { path, child, .. } => {
                let child = std::mem::take(child.as_mut());
                *self = match child {
                    Node::Empty => Node::Empty,
                    other => other.with_prefix(*path),
                };
            }
            Node::Branch { children, .. } => {
                let mut live = children
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| !matches!(c, Node::Empty));
                let first = live.next().map(|(i, _)| i);
                if live.next().is_some() {
                    return;
                }
                *self = match first {
                    None => Node::Empty,
                    Some(i) => {
                        let only = std::mem::take(&mut children[i]);
                        only.with_prefix(Nibbles::from_nibbles_unchecked([i as u8]))
                    }
                };
            }
            Node::Empty | Node::Leaf { .. } => {}
        }
    }

    /// This node's reference as its parent embeds it (cached until a change below).
    fn rlp(&mut self, buf: &mut Vec<u8>) -> RlpNode {
        match self {
            Node::Empty => RlpNode::from_rlp(&[alloy_rlp::EMPTY_STRING_CODE]),
            Node::Leaf { path, value, hash } => {
                if let Some(h) = hash {
                    return h.clone();
                }
                buf.clear();
                let node = LeafNodeRef::new(path, value).rlp(buf);
                *hash = Some(node.clone());
                node
            }
            Node::Extension { path, child, hash } => {
                if let Some(h) = hash {
                    return h.clone();
                }
                let child_rlp = child.rlp(buf);
                buf.clear();
                let node = ExtensionNodeRef::new(path, &child_rlp).rlp(buf);
                *hash = Some(node.clone());
                node
            }
            Node::Branch { children, hash } => {
                if let Some(h) = hash {
                    return h.clone();
                }
                let mut stack = Vec::with_capacity(16);
                let mut mask = TrieMask::default();
                for (i, child) in children.iter_mut().enumerate() {
                    if !matches!(child, Node::Empty) {
                        mask.set_bit(i as u8);
                        stack.push(child.rlp(buf));
                    }
                }
                buf.clear();
                let node = BranchNodeRef::new(&stack, mask).rlp(buf);
                *hash = Some(node.clone());
                node
            }
        }
    }
}

/// A Merkle-Patricia trie over 32-byte keys with cached node hashes.
#[derive(Debug, Clone, Default)]
pub struct MerkleTrie {
    root: Node,
    len: usize,
}

impl MerkleTrie {
    /// An empty trie.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Sets `key` (already hashed) to the RLP-encoded `value`.
    pub fn insert(&mut self, key: B256, value: Vec<u8>) {
        let nibbles = Nibbles::unpack(key);
        if self.root_contains(&nibbles) {
            self.root.insert(nibbles, value);
        } else {
            self.root.insert(nibbles, value);
            self.len += 1;
        }
    }

    fn root_contains(&self, key: &Nibbles) -> bool {
        let mut node = &self.root;
        let mut key = *key;
        loop {
            match node {
                Node::Empty => return false,
                Node::Leaf { path, .. } => return *path == key,
                Node::Extension { path, child, .. } => {
                    if !key.starts_with(path) {
                        return false;
                    }
                    key = key.slice(path.len()..);
                    node = child;
                }
                Node::Branch { children, .. } => {
                    node = &children[key.get_unchecked(0) as usize];
                    key = key.slice(1..);
                }
            }
        }
    }

    /// Removes `key`.
    pub fn remove(&mut self, key: B256) {
        if self.root.remove(&Nibbles::unpack(key)) {
            self.len -= 1;
        }
    }

    /// The root hash (recomputes only what changed since the last call).
    pub fn root(&mut self) -> B256 {
        if self.len == 0 {
            return EMPTY_ROOT_HASH;
        }
        let mut buf = Vec::with_capacity(600);
        let node = self.root.rlp(&mut buf);
        node.as_hash().unwrap_or_else(|| keccak256(node.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::U256;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn reference(map: &BTreeMap<B256, U256>) -> B256 {
        let mut hb = alloy_trie::HashBuilder::default();
        for (k, v) in map {
            hb.add_leaf(Nibbles::unpack(k), &alloy_rlp::encode(v));
        }
        hb.root()
    }

    fn key(i: u8, spread: bool) -> B256 {
        if spread {
            keccak256([i])
        } else {
            // Keys sharing long prefixes exercise extensions.
            let mut k = B256::ZERO;
            k.0[31] = i;
            k.0[30] = i & 0x3;
            k
        }
    }

    proptest! {
        #[test]
        fn matches_alloy_reference(
            ops in proptest::collection::vec((any::<u8>(), 0u64..4, any::<bool>()), 1..200),
            spread in any::<bool>(),
        ) {
            let mut trie = MerkleTrie::new();
            let mut model = BTreeMap::new();
            for (i, (k, v, check)) in ops.into_iter().enumerate() {
                let k = key(k, spread);
                if v == 0 {
                    trie.remove(k);
                    model.remove(&k);
                } else {
                    trie.insert(k, alloy_rlp::encode(U256::from(v)));
                    model.insert(k, U256::from(v));
                }
                // Check at random points, so cached hashes are reused between checks.
                if check || i % 17 == 0 {
                    prop_assert_eq!(trie.root(), reference(&model));
                    prop_assert_eq!(trie.len(), model.len());
                }
            }
            prop_assert_eq!(trie.root(), reference(&model));
        }
    }

    #[test]
    fn empty_root() {
        let mut trie = MerkleTrie::new();
        assert_eq!(trie.root(), EMPTY_ROOT_HASH);
        trie.insert(B256::ZERO, vec![1]);
        trie.remove(B256::ZERO);
        assert_eq!(trie.root(), EMPTY_ROOT_HASH);
    }
}
