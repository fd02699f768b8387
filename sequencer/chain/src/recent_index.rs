//! The transaction index's newest entries, held in memory until a durable commit writes
//! them to redb all at once.
//!
//! Every sealed transaction is indexed by its hash (the store's `tx_locations` table:
//! block, index in the block, mini-block, index in the mini-block). Hashes are random, so
//! written block by block the index touched a different B-tree page for almost every
//! transaction, and redb copies a page the first time a write transaction touches it. At a
//! sustained ~22 000 tx/s that was about half of the chain thread's time (~5 µs a
//! transaction) and a third of the file's growth (`docs/benchmarks.md`, session 21).
//!
//! So a block committed without a sync ([`crate::store::BlockWriter::defer_sync`]) leaves
//! its entries here, and the next durable commit (a checkpoint, or a block written with a
//! sync) writes all of them, sorted, in the redb transaction that makes those blocks
//! durable. The index on disk therefore always covers exactly the durable blocks: after a
//! crash redb reopens at that commit, and the blocks after it come back from the
//! write-ahead log (or, on a replica, from the stream), sealing here again.
//!
//! Readers ([`crate::store::StoreReader`]) look here first. An entry for a block the
//! reader's snapshot does not hold yet is ignored, so a reader sees one consistent head.
//! Entries stay one durable commit longer after they were written, so a reader whose
//! snapshot predates that commit still finds them here (a checkpoint is seconds apart;
//! a read transaction lives for one call).

use alloy_primitives::{B256, map::B256HashMap};
use parking_lot::RwLock;
use std::sync::Arc;

/// Where a sealed transaction is: (block number, index in the block, mini-block number,
/// index in the mini-block).
pub(crate) type Location = (u64, u32, u64, u32);

/// One block's entries.
#[derive(Debug)]
pub(crate) struct BlockLocations {
    block: u64,
    entries: B256HashMap<Location>,
}

#[derive(Debug, Default)]
struct Generations {
    /// Blocks committed without a sync since the last durable commit, oldest first.
    unflushed: Vec<Arc<BlockLocations>>,
    /// Those the last durable commit wrote, kept until the next one.
    flushed: Vec<Arc<BlockLocations>>,
}

/// The in-memory part of the index, shared by the store and its readers.
#[derive(Debug, Clone, Default)]
pub(crate) struct RecentIndex(Arc<RwLock<Generations>>);

impl RecentIndex {
    /// Adds the entries of `block`, just committed without a sync.
    pub(crate) fn add(&self, block: u64, entries: &[(B256, Location)]) {
        // Built outside the lock: readers wait only for a push.
        let entries = Arc::new(BlockLocations {
            block,
            entries: entries.iter().copied().collect(),
        });
        self.0.write().unflushed.push(entries);
    }

    /// Every entry not written to disk yet, sorted by hash (B-tree order: each page the
    /// write touches is touched once), and the newest block they come from.
    pub(crate) fn unflushed(&self) -> (Vec<(B256, Location)>, Option<u64>) {
        let blocks = self.0.read().unflushed.clone();
        let mut all: Vec<(B256, Location)> = blocks
            .iter()
            .flat_map(|b| b.entries.iter().map(|(h, l)| (*h, *l)))
            .collect();
        all.sort_unstable_by_key(|e| e.0);
        (all, blocks.last().map(|b| b.block))
    }

    /// After a durable commit wrote [`RecentIndex::unflushed`] (up to block `through`):
    /// those entries become the flushed generation, and the one before is dropped.
    pub(crate) fn flushed(&self, through: Option<u64>) {
        let Some(through) = through else { return };
        let mut g = self.0.write();
        let written = g
            .unflushed
            .iter()
            .take_while(|b| b.block <= through)
            .count();
        let now: Vec<_> = g.unflushed.drain(..written).collect();
        let dropped = std::mem::replace(&mut g.flushed, now);
        drop(g);
        drop(dropped);
    }

    /// The location of `hash` if a block here holds it, newest first.
    pub(crate) fn get(&self, hash: &B256) -> Option<Location> {
        let g = self.0.read();
        g.unflushed
            .iter()
            .rev()
            .chain(g.flushed.iter().rev())
            .find_map(|b| b.entries.get(hash).copied())
    }

    /// Entries held (both generations), for tests.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        let g = self.0.read();
        g.unflushed
            .iter()
            .chain(&g.flushed)
            .map(|b| b.entries.len())
            .sum()
    }
}
