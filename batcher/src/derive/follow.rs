//! Following L1: a [`Deriver`] driven over the L1 chain as it grows and reorganises, with
//! what it derived kept in a [`DeriveStore`].
//!
//! Each [`Follower::step`] first checks that the last L1 block it read is still in the L1
//! chain. If a reorg replaced it, the follower walks back through the L1 blocks it
//! remembers (`keep_l1_blocks` of them) to the newest one still in the chain, forgets
//! everything read after it (the L2 blocks those L1 blocks completed included), puts the
//! assembler back as it was after that block, and reads on from there: re-posted batches
//! derive the same blocks again, and batches that never come back leave a gap that the
//! next post reports. The derived state is rebuilt by re-executing the blocks still kept
//! (the datadir holds their data; L1 is not read again).
//!
//! A restart does the same from the datadir: it resumes after the last L1 block whose
//! derivation was stored. Each step's blocks, L1 blocks and cursor are stored in one
//! redb transaction, so a kill at any instant loses at most that step's work.

use super::{
    BlobSource, DeriveError, Derived, Deriver,
    store::{DeriveStore, Identity, ReadL1, StoredDerived},
};
use crate::{error::StateError, l1::L1Client};
use alloy_primitives::{Address, B256};
use peregrine_chain::GenesisSpec;

/// How a [`Follower`] reads L1.
#[derive(Debug, Clone, Copy)]
pub struct FollowConfig {
    /// The first L1 block to read when nothing has been read yet.
    pub from_l1_block: u64,
    /// L1 blocks remembered for reorgs: the deepest reorg it follows.
    pub keep_l1_blocks: u64,
    /// L1 blocks read per stored step at most.
    pub max_step: u64,
}

impl Default for FollowConfig {
    fn default() -> Self {
        Self {
            from_l1_block: 0,
            keep_l1_blocks: 256,
            max_step: 512,
        }
    }
}

/// What a step did.
#[derive(Debug)]
pub enum Event<'a> {
    /// A block derived.
    Derived(&'a Derived),
    /// An L1 reorg undone.
    Reorg(Reorg),
}

/// An L1 reorg the follower went back over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reorg {
    /// The newest L1 block still in the chain (`None`: none of those read).
    pub ancestor: Option<u64>,
    /// L1 blocks read that the reorg replaced.
    pub removed_l1_blocks: u64,
    /// L2 blocks derived from them, forgotten until posted again.
    pub dropped_l2_blocks: u64,
}

/// The chain a follower derives: enough to start again from genesis.
#[derive(Debug, Clone)]
pub struct Chain {
    /// L2 chain id.
    pub chain_id: u64,
    /// L2 genesis.
    pub genesis: GenesisSpec,
    /// The inbox read.
    pub inbox: Address,
    /// The batcher whose posts count.
    pub batcher: Address,
}

/// A derivation that follows L1 and resumes after a restart.
pub struct Follower {
    chain: Chain,
    config: FollowConfig,
    store: DeriveStore,
    deriver: Deriver,
    /// The last L1 block read and stored.
    cursor: Option<(u64, B256)>,
    /// The in-memory derivation went past what is stored (a step failed half-way): it is
    /// rebuilt from the store before the next step.
    dirty: bool,
    /// The next L2 block when it was opened.
    resumed_at: u64,
}

impl std::fmt::Debug for Follower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Follower")
            .field("cursor", &self.cursor)
            .field("next", &self.deriver.next_block())
            .finish_non_exhaustive()
    }
}

impl Follower {
    /// Opens a derivation of `chain` kept in `store`, resuming what it holds (re-executing
    /// the blocks stored). A store of another chain is refused.
    pub fn open(
        store: DeriveStore,
        chain: Chain,
        config: FollowConfig,
    ) -> Result<Self, DeriveError> {
        store.claim(&Identity {
            chain_id: chain.chain_id,
            inbox: chain.inbox,
            batcher: chain.batcher,
            genesis: chain.genesis.state().state_root(),
        })?;
        let deriver = Deriver::new(
            chain.chain_id,
            chain.genesis.clone(),
            chain.inbox,
            chain.batcher,
        );
        let mut follower = Self {
            chain,
            config,
            store,
            deriver,
            cursor: None,
            dirty: false,
            resumed_at: 0,
        };
        follower.rebuild()?;
        follower.resumed_at = follower.deriver.next_block();
        Ok(follower)
    }

    /// The next L2 block it expects.
    pub fn next_block(&self) -> u64 {
        self.deriver.next_block()
    }

    /// The last block derived: number and hash.
    pub fn head(&self) -> Option<(u64, B256)> {
        self.deriver.head()
    }

    /// The next L2 block when it was opened (0: nothing was stored).
    pub fn resumed_at(&self) -> u64 {
        self.resumed_at
    }

    /// The last L1 block read.
    pub fn l1_cursor(&self) -> Option<u64> {
        self.cursor.map(|(n, _)| n)
    }

    /// Blocks found posted again after they were derived, since it was opened.
    pub fn reposted(&self) -> u64 {
        self.deriver.reposted()
    }

    /// Rebuilds the derivation from the store: the stored blocks re-executed from genesis,
    /// each checked against the hash stored for it, and the assembler as the cursor left it.
    fn rebuild(&mut self) -> Result<(), DeriveError> {
        let reposted = self.deriver.reposted();
        let mut deriver = Deriver::new(
            self.chain.chain_id,
            self.chain.genesis.clone(),
            self.chain.inbox,
            self.chain.batcher,
        );
        deriver.reposted = reposted;
        for stored in self.store.blocks()? {
            let d = deriver.execute(stored.block, stored.l1_block)?;
            if d.hash != stored.hash {
                return Err(DeriveError::Replay {
                    block: d.header.number,
                    now: d.hash,
                    stored: stored.hash,
                });
            }
        }
        let cursor = self.store.cursor()?;
        if let Some(c) = &cursor {
            deriver.restore_assembler(&c.assembler).map_err(|e| {
                StateError::Corrupt(format!(
                    "the unfinished channels after L1 block {}: {e}",
                    c.number
                ))
            })?;
        }
        self.cursor = cursor.map(|c| (c.number, c.hash));
        self.deriver = deriver;
        self.dirty = false;
        Ok(())
    }

    /// Reads L1 up to block `to` (at most `max_step` blocks of it), after undoing any
    /// reorg of what was read before; calls `each` for every reorg and block derived.
    /// Returns the last L1 block read.
    pub fn step(
        &mut self,
        l1: &L1Client,
        blobs: &dyn BlobSource,
        to: u64,
        each: &mut dyn FnMut(Event<'_>) -> Result<(), DeriveError>,
    ) -> Result<Option<u64>, DeriveError> {
        if self.dirty {
            self.rebuild()?;
        }
        self.undo_reorg(l1, each)?;
        let from = self
            .cursor
            .map_or(self.config.from_l1_block, |(n, _)| n + 1);
        let to = to.min(from.saturating_add(self.config.max_step.max(1) - 1));
        let mut read = Vec::new();
        let mut derived = Vec::new();
        let mut parent = self.cursor.map(|(_, h)| h);
        let mut failed = None;
        for n in from..=to {
            let block = match l1.block_at(n, true) {
                Ok(Some(block)) => block,
                Ok(None) => break,
                Err(e) => {
                    failed = Some(e.into());
                    break;
                }
            };
            // A reorg while reading: store what came before it; the next step undoes it.
            if parent.is_some_and(|p| p != block.parent_hash) {
                break;
            }
            self.dirty = true;
            let blocks = match self.deriver.scan_block(l1, blobs, &block) {
                Ok(blocks) => blocks,
                Err(e) => {
                    // Everything is read before anything changes: nothing changed.
                    if matches!(e, DeriveError::L1(_) | DeriveError::Blobs { .. }) {
                        self.dirty = false;
                    }
                    failed = Some(e);
                    break;
                }
            };
            for d in &blocks {
                if let Err(e) = each(Event::Derived(d)) {
                    failed = Some(e);
                    break;
                }
            }
            if failed.is_some() {
                break;
            }
            derived.extend(blocks.into_iter().map(|d| StoredDerived {
                l1_block: d.l1_block,
                hash: d.hash,
                block: d.block,
            }));
            read.push(ReadL1 {
                number: n,
                hash: block.hash,
                assembler: self.deriver.assembler_snapshot(),
            });
            parent = Some(block.hash);
        }
        if !self.dirty || failed.is_none() {
            self.store
                .append(&read, &derived, self.config.keep_l1_blocks)?;
            self.dirty = false;
            if let Some(last) = read.last() {
                self.cursor = Some((last.number, last.hash));
            }
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(self.l1_cursor()),
        }
    }

    /// If the last L1 block read is no longer in the chain, goes back to the newest one
    /// that is.
    fn undo_reorg(
        &mut self,
        l1: &L1Client,
        each: &mut dyn FnMut(Event<'_>) -> Result<(), DeriveError>,
    ) -> Result<(), DeriveError> {
        let Some((n, hash)) = self.cursor else {
            return Ok(());
        };
        if l1.block_at(n, false)?.map(|b| b.hash) == Some(hash) {
            return Ok(());
        }
        let kept = self.store.l1_blocks_desc()?;
        let mut ancestor = None;
        for &k in &kept {
            let stored = self.store.l1_block(k)?.map(|b| b.hash);
            if stored.is_some() && l1.block_at(k, false)?.map(|b| b.hash) == stored {
                ancestor = Some(k);
                break;
            }
        }
        let oldest = kept.last().copied().unwrap_or(n);
        if ancestor.is_none() && !self.store.holds_first_read()? {
            return Err(DeriveError::DeepReorg {
                kept: kept.len() as u64,
                oldest,
            });
        }
        let removed = kept
            .iter()
            .filter(|&&k| ancestor.is_none_or(|a| k > a))
            .count() as u64;
        let dropped = self.store.rewind(ancestor)?;
        tracing::warn!(
            ancestor = ?ancestor,
            removed_l1_blocks = removed,
            dropped_l2_blocks = dropped,
            "an L1 reorg: going back"
        );
        if dropped > 0 {
            self.rebuild()?;
        } else {
            // No block to take back: only the unfinished channels and the cursor.
            let cursor = self.store.cursor()?;
            let snapshot = cursor.as_ref().map_or(&[][..], |c| &c.assembler[..]);
            self.deriver.restore_assembler(snapshot).map_err(|e| {
                StateError::Corrupt(format!("the unfinished channels after the reorg: {e}"))
            })?;
            self.cursor = cursor.map(|c| (c.number, c.hash));
        }
        each(Event::Reorg(Reorg {
            ancestor,
            removed_l1_blocks: removed,
            dropped_l2_blocks: dropped,
        }))
    }
}
