//! The chain service: applies mini-blocks to the read view, seals L2 blocks and stores them.
//!
//! Runs on its own named thread, off the sequencer core. Readers share [`Chain`]:
//! `pending` reads lock [`Chain::pending`] (one lock covers the state and the open
//! block's transactions, so a reader sees whole mini-blocks), through
//! [`Chain::pending_view`], which first waits for the view to show every mini-block a
//! client may already hold a promise for; `latest` reads open a redb read transaction
//! ([`Chain::reader`]) that pins one head.

use crate::feed::TxStatus;
use crate::view::{OpenView, ViewParts, ViewSeed, block_header};
use crate::{
    block::{BlockContext, BlockEnd},
    diff::StateDiff,
    error::StoreError,
    feed::Feed,
    hashes::BlockHashes,
    record::MiniBlockRecord,
    state::WorldState,
    store::{BlockWriter, Counters, Store, StoreReader, StoredBlock},
    tx::ExecutedTx,
};
use alloy_consensus::Header;
use alloy_primitives::{Address, B256, Bytes, map::B256Map};
use parking_lot::{Condvar, Mutex, RwLock, RwLockReadGuard};
use peregrine_preconf::{BlockSeal, SignedSeal};
use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

/// Sealed heads buffered for `newHeads` subscribers; a subscriber further behind is closed.
const HEADS_BUFFER: usize = 1024;
/// Sealed blocks (with their bodies) buffered for [`Chain::subscribe_sealed`] consumers;
/// one further behind is told it lagged and reads the store. Bounded: a block of 20 000
/// transfers is ~5 MB.
const SEALED_BUFFER: usize = 64;

/// A sealed block as [`Chain::subscribe_sealed`] hands it on: the seam the batcher (#10),
/// replicas (#9) and tests consume sealed blocks through.
#[derive(Debug)]
pub struct SealedBlock {
    /// The block, its transactions, senders and receipts, as stored.
    pub block: StoredBlock,
    /// The EIP-712 hashes of the block's signed mini-block headers, in order: what was
    /// promised, and what the batcher commits to on L1.
    pub mini_blocks: Vec<B256>,
    /// The sequencer's signed seal of the block.
    pub seal: SignedSeal,
}

/// Who vouches for a sealed block's hash.
#[derive(Debug)]
pub enum Sealer {
    /// The sequencer: signs each seal with its key.
    Key(peregrine_preconf::SequencerKey),
    /// A replica: the seal of the block being sealed, as the sequencer signed it, which
    /// the block built here must match exactly (set before each seal).
    Expect(Option<SignedSeal>),
}

/// Why a block cannot be sealed.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The block built here is not the one the sequencer sealed (a replica's check).
    #[error("sealed {ours:?}, but the sequencer signed {theirs:?}")]
    Mismatch {
        /// Built here.
        ours: Box<BlockSeal>,
        /// Signed by the sequencer.
        theirs: Box<Option<BlockSeal>>,
    },
}
/// Longest a `pending` read waits for the pending view to catch up with the mini-blocks
/// already announced ([`Chain::pending_view`]); past it the view is read as it is.
pub const PENDING_CATCH_UP: Duration = Duration::from_secs(1);

/// The executed but not yet sealed part of the chain.
#[derive(Debug, Default)]
pub struct OpenBlock {
    /// Context of the open block (`None` before its first mini-block).
    pub ctx: Option<BlockContext>,
    /// Its transactions so far.
    pub txs: Vec<ExecutedTx>,
    /// Index into `txs` by hash.
    pub by_hash: B256Map<usize>,
    /// Number of mini-blocks closed so far, all blocks together.
    pub mini_blocks: u64,
    /// Signed records of the open block's mini-blocks.
    pub records: Vec<Arc<MiniBlockRecord>>,
    /// The open block's views ([`crate::view`]), one per mini-block, in order.
    pub views: Vec<OpenView>,
    /// Index into `views` by hash.
    pub view_by_hash: B256Map<usize>,
}

impl OpenBlock {
    /// The view that first includes transaction `index` of the block: the one its
    /// receipt names until the seal.
    pub fn view_of_tx(&self, index: usize) -> Option<&OpenView> {
        let at = self
            .views
            .partition_point(|v| (v.parts.tx_count as usize) <= index);
        self.views.get(at)
    }

    /// The newest view (after the latest mini-block), if the block has one yet.
    pub fn newest_view(&self) -> Option<&OpenView> {
        self.views.last()
    }
}

/// The pending view: state after the latest mini-block, and the open block.
#[derive(Debug, Default)]
pub struct Pending {
    /// World state after the latest mini-block.
    pub state: WorldState,
    /// Transactions executed since the last sealed block.
    pub open: OpenBlock,
}

/// The sealed head, cached for cheap reads.
#[derive(Debug, Clone)]
pub struct Head {
    /// Header of the head block.
    pub header: Header,
    /// Its hash.
    pub hash: B256,
}

/// Shared read access to the chain.
#[derive(Debug)]
pub struct Chain {
    /// Chain id.
    pub chain_id: u64,
    /// The pending view.
    pub pending: RwLock<Pending>,
    head: RwLock<Head>,
    store: Store,
    /// Recent block hashes.
    pub hashes: Arc<BlockHashes>,
    /// The live feed of signed mini-blocks.
    pub feed: Arc<Feed>,
    heads: tokio::sync::broadcast::Sender<Head>,
    sealed: tokio::sync::broadcast::Sender<Arc<SealedBlock>>,
    /// Hashes accepted by ingress but not yet executed or dropped (in the ring or the
    /// gap queue), with their senders, so that a resubmission is answered `already known`
    /// and [`Chain::pending_nonce`] counts them. Bounded by the ring capacity plus the gap
    /// queue bound.
    pub inflight: Mutex<crate::inflight::Inflight>,
    /// Writes a replica forwarded to its sequencer, counted in `inflight` until they are
    /// applied here or their deadline passes ([`Chain::note_forwarded`]), oldest first.
    forwarded: Mutex<std::collections::VecDeque<(Instant, B256)>>,
    /// Number of the next mini-block the pending view will apply.
    applied_next_mini: AtomicU64,
    /// Signalled after each mini-block is applied and each in-flight transaction is
    /// dropped or queued, for readers in [`Chain::pending_view`] and
    /// [`Chain::pending_nonce`].
    applied: (Mutex<()>, Condvar),
    /// The L2 blocks L1 vouches for, set by the batcher; unset without one.
    pub l1: L1Heads,
}

/// What L1 vouches for, and how far L2 runs ahead of it: set by the batcher. The `safe`
/// and `finalized` L2 blocks are those whose data is included on L1 at the batcher's
/// confirmation depth, and in a finalized L1 block; without a batcher nothing sets them
/// and both tags name the head, as before. The backlog (sealed data not yet in a signed
/// L1 transaction) past its limit makes ingress refuse new transactions until it drains
/// (`batcher.max-backlog`).
#[derive(Debug, Default)]
pub struct L1Heads {
    tracked: std::sync::atomic::AtomicBool,
    safe: AtomicU64,
    finalized: AtomicU64,
    backlog: AtomicU64,
    /// The limit while over it, else 0.
    over_limit: AtomicU64,
}

impl L1Heads {
    /// Records the batcher's view (it tracks L1 from now on).
    pub fn set(&self, safe: u64, finalized: u64) {
        self.safe.store(safe, Ordering::Release);
        self.finalized.store(finalized, Ordering::Release);
        self.tracked.store(true, Ordering::Release);
    }

    /// `(safe, finalized)`, or `None` when no batcher tracks L1.
    pub fn get(&self) -> Option<(u64, u64)> {
        self.tracked.load(Ordering::Acquire).then(|| {
            (
                self.safe.load(Ordering::Acquire),
                self.finalized.load(Ordering::Acquire),
            )
        })
    }

    /// Records the backlog (bytes) and whether it is over `limit` (a refusal starts past
    /// the limit and ends under three quarters of it).
    pub fn set_backlog(&self, bytes: u64, limit: u64) {
        self.backlog.store(bytes, Ordering::Release);
        let over = self.over_limit.load(Ordering::Acquire) != 0;
        if !over && bytes > limit {
            self.over_limit.store(limit.max(1), Ordering::Release);
        } else if over && bytes < limit / 4 * 3 {
            self.over_limit.store(0, Ordering::Release);
        }
    }

    /// `(backlog bytes, limit)` while the backlog is over its limit.
    pub fn backlog_over(&self) -> Option<(u64, u64)> {
        match self.over_limit.load(Ordering::Acquire) {
            0 => None,
            limit => Some((self.backlog.load(Ordering::Acquire), limit)),
        }
    }
}

impl Chain {
    /// A chain at `head` with `state`, over `store`, publishing on `feed`, whose next
    /// mini-block is `next_mini`.
    pub fn new(
        chain_id: u64,
        state: WorldState,
        head: Head,
        store: Store,
        hashes: Arc<BlockHashes>,
        feed: Arc<Feed>,
        next_mini: u64,
    ) -> Self {
        Self {
            chain_id,
            pending: RwLock::new(Pending {
                state,
                open: OpenBlock::default(),
            }),
            head: RwLock::new(head),
            store,
            hashes,
            feed,
            heads: tokio::sync::broadcast::channel(HEADS_BUFFER).0,
            sealed: tokio::sync::broadcast::channel(SEALED_BUFFER).0,
            inflight: Mutex::default(),
            forwarded: Mutex::default(),
            applied_next_mini: AtomicU64::new(next_mini),
            applied: (Mutex::new(()), Condvar::new()),
            l1: L1Heads::default(),
        }
    }

    /// The pending view, once it shows every mini-block a client may have been told about.
    ///
    /// Read-your-writes: a client that got a preconfirmation (a sync receipt, a
    /// subscription item) and then reads at `pending` sees what was promised. The log
    /// thread announces a mini-block before the chain service applies it to this view
    /// (microseconds later, or after the block seal it is busy with), so a read in that
    /// window waits for it, at most [`PENDING_CATCH_UP`].
    pub fn pending_view(&self) -> RwLockReadGuard<'_, Pending> {
        let target = self.feed.announced_next();
        if self.applied_next_mini_block() < target {
            let deadline = Instant::now() + PENDING_CATCH_UP;
            let (lock, signal) = &self.applied;
            let mut guard = lock.lock();
            while self.applied_next_mini_block() < target {
                if signal.wait_until(&mut guard, deadline).timed_out() {
                    tracing::warn!(
                        target,
                        applied = self.applied_next_mini_block(),
                        "pending view still behind the announced mini-blocks; read as it is"
                    );
                    break;
                }
            }
        }
        self.pending.read()
    }

    /// A receiver of every block sealed from now on.
    pub fn subscribe_heads(&self) -> tokio::sync::broadcast::Receiver<Head> {
        self.heads.subscribe()
    }

    /// A receiver of every block sealed from now on, with its body and the hashes of its
    /// signed mini-blocks, in order, empty blocks included. Sent after the block is in
    /// redb (readable, not yet durable: that waits for the checkpoint). A receiver more
    /// than 64 blocks behind gets `Lagged` and reads what it missed from the store.
    pub fn subscribe_sealed(&self) -> tokio::sync::broadcast::Receiver<Arc<SealedBlock>> {
        self.sealed.subscribe()
    }

    /// Number of the next mini-block the pending view will apply (all before it are
    /// visible to `pending` reads).
    pub fn applied_next_mini_block(&self) -> u64 {
        self.applied_next_mini.load(Ordering::Acquire)
    }

    /// The last sealed block.
    pub fn head(&self) -> Head {
        self.head.read().clone()
    }

    /// The replication stream's seal of sealed block `number` (`None` for block 0 and for
    /// blocks not sealed yet).
    pub fn seal_item(&self, number: u64) -> Result<Option<crate::stream::SealItem>, StoreError> {
        let reader = self.reader()?;
        let (Some(seal), Some(header)) = (reader.seal(number)?, reader.header(number)?) else {
            return Ok(None);
        };
        Ok(Some(crate::stream::SealItem::new(
            &seal,
            crate::view::context_of(&header),
            self.feed.next_number(),
        )))
    }

    /// A consistent read view of the sealed chain and its head state.
    pub fn reader(&self) -> Result<StoreReader, StoreError> {
        self.store.reader()
    }

    /// A signed mini-block record by number: from the recent window in memory, else from
    /// the open block (every mini-block not sealed yet, however many), else from redb.
    pub fn mini_block(&self, number: u64) -> Result<Option<Arc<MiniBlockRecord>>, StoreError> {
        if let Some(r) = self.feed.recent(number) {
            return Ok(Some(r));
        }
        {
            // A seal moves the open block's records out only once redb holds them.
            let pending = self.pending_view();
            let records = &pending.open.records;
            if let Some(r) = records.first().and_then(|first| {
                let i = number.checked_sub(first.number())?;
                records.get(usize::try_from(i).ok()?)
            }) {
                return Ok(Some(r.clone()));
            }
        }
        Ok(self.store.reader()?.mini_block(number)?.map(Arc::new))
    }

    /// The mini-block record that preconfirmed `hash`, and its index there.
    pub fn preconfirmed(
        &self,
        hash: &B256,
    ) -> Result<Option<(Arc<MiniBlockRecord>, usize)>, StoreError> {
        {
            // Every announced mini-block is in the open block until redb holds it.
            let pending = self.pending_view();
            if let Some(&at) = pending.open.by_hash.get(hash) {
                let mut first = 0;
                for record in &pending.open.records {
                    let len = record.transactions.len();
                    if at < first + len {
                        return Ok(Some((record.clone(), at - first)));
                    }
                    first += len;
                }
            }
        }
        let reader = self.store.reader()?;
        let Some((number, index)) = reader.tx_mini_block(hash)? else {
            return Ok(None);
        };
        Ok(reader
            .mini_block(number)?
            .map(|r| (Arc::new(r), index as usize)))
    }

    /// The hash of sealed block `number`, waiting (at most `wait`) for one being sealed:
    /// a block's hash is known a fraction of a millisecond into its seal, before redb
    /// has it. `None` if it is not sealed within `wait`, or does not exist.
    pub fn sealed_hash(&self, number: u64, wait: Duration) -> Result<Option<B256>, StoreError> {
        let head = self.head();
        if head.header.number == number {
            return Ok(Some(head.hash));
        }
        if number < head.header.number {
            return Ok(match self.hashes.get(number) {
                Some(hash) => Some(hash),
                None => self.reader()?.header(number)?.map(|h| h.hash_slow()),
            });
        }
        Ok(self.hashes.wait_within(number, wait))
    }

    /// The hash and timestamp of the block view that ends with mini-block `record`
    /// ([`crate::view`]): the block a receipt from that mini-block names until its block
    /// seals. For a live record this is one keccak (and, in the first instants of a
    /// block, a wait for the parent's seal, bounded by [`PENDING_CATCH_UP`]); a record
    /// read back from the store has its view rebuilt from the open block or the sealed
    /// one. `None` if the parent does not seal in time, or the block is gone.
    pub fn view_of(&self, record: &MiniBlockRecord) -> Result<Option<(B256, u64)>, StoreError> {
        if let Some(seed) = record.view.get(PENDING_CATCH_UP) {
            let parent = record.block_number().saturating_sub(1);
            let Some(parent) = self.sealed_hash(parent, PENDING_CATCH_UP)? else {
                tracing::warn!(
                    block = record.block_number(),
                    "the parent block is still not sealed; no view hash"
                );
                return Ok(None);
            };
            let hash = seed.header(parent, record.hash).hash_slow();
            return Ok(Some((hash, seed.ctx.timestamp)));
        }
        {
            let pending = self.pending_view();
            if let Some(view) = pending
                .open
                .views
                .iter()
                .find(|v| v.mini_block == record.number())
            {
                return Ok(Some((view.hash, view.header.timestamp)));
            }
        }
        let reader = self.reader()?;
        let (Some(block), Some(last)) = (
            reader.block(record.block_number())?,
            record.transactions.last(),
        ) else {
            return Ok(None);
        };
        let covers = (last.block_index as usize + 1).min(block.txs.len());
        let seed = ViewSeed {
            ctx: crate::view::context_of(&block.header),
            parts: ViewParts::over(&block.txs[..covers], &block.receipts[..covers]),
        };
        let hash = seed
            .header(block.header.parent_hash, record.hash)
            .hash_slow();
        Ok(Some((hash, block.header.timestamp)))
    }

    /// Waits until `hash`, if ingress accepted it, has been executed, queued for a nonce
    /// gap or dropped: microseconds, at most [`PENDING_CATCH_UP`]. A client that asks for
    /// a receipt right after `eth_sendRawTransaction` answered then finds it.
    pub fn await_ordered(&self, hash: &B256) {
        if !self.inflight.lock().contains(hash) {
            return;
        }
        let deadline = Instant::now() + PENDING_CATCH_UP;
        let (lock, signal) = &self.applied;
        let mut guard = lock.lock();
        while self.inflight.lock().contains(hash)
            && !matches!(self.tx_status(hash), Some(TxStatus::Queued { .. }))
        {
            if signal.wait_until(&mut guard, deadline).timed_out() {
                break;
            }
        }
    }

    /// The status of a transaction that was queued or dropped.
    pub fn tx_status(&self, hash: &B256) -> Option<TxStatus> {
        self.feed.status(hash)
    }

    /// A replica's write, forwarded to its sequencer and accepted there (`tx` from
    /// `sender`): until the replica applies it, or for at most `hold`, it counts as in
    /// flight here, so the sender's next nonce counts it and a receipt asked for at once
    /// waits for it ([`Chain::pending_nonce`], [`Chain::await_ordered`]): read-your-writes
    /// through a replica.
    pub fn note_forwarded(
        &self,
        tx: &alloy_consensus::TxEnvelope,
        sender: Address,
        hold: Duration,
    ) -> Result<(), StoreError> {
        use alloy_consensus::Transaction as _;
        let hash = *tx.tx_hash();
        let now = Instant::now();
        {
            let mut forwarded = self.forwarded.lock();
            let mut inflight = self.inflight.lock();
            while let Some(&(deadline, old)) = forwarded.front()
                && deadline <= now
            {
                forwarded.pop_front();
                inflight.remove(&old);
            }
            let fees = crate::inflight::Fees {
                max_fee: tx.max_fee_per_gas(),
                tip: tx
                    .max_priority_fee_per_gas()
                    .unwrap_or(tx.max_fee_per_gas()),
            };
            if inflight.insert(hash, sender, tx.nonce(), fees).is_err() {
                return Ok(());
            }
            forwarded.push_back((now + hold, hash));
        }
        // The stream may have been faster than the sequencer's answer: then it is
        // applied already (in the open block, or sealed), and nothing will remove it.
        let applied = self.pending.read().open.by_hash.contains_key(&hash)
            || self.reader()?.tx_location(&hash)?.is_some();
        if applied {
            self.end_inflight(&hash);
        }
        Ok(())
    }

    /// Forgets an in-flight hash (dropped, or refused by the ring).
    pub(crate) fn end_inflight(&self, hash: &B256) {
        self.inflight.lock().remove(hash);
        self.signal_applied();
    }

    /// Wakes the readers waiting in [`Chain::pending_view`] and [`Chain::pending_nonce`].
    /// They check under this lock, so taking it after the change means none can miss it.
    fn signal_applied(&self) {
        let (lock, signal) = &self.applied;
        drop(lock.lock());
        signal.notify_all();
    }

    /// The next nonce of `address` at `pending`, counting the transactions of it that
    /// ingress accepted before this call (as geth counts its pool's): a wallet that sends
    /// with `eth_sendRawTransaction` and at once asks for its next nonce gets the one
    /// after. Those still in the ring are waited for, microseconds, at most
    /// [`PENDING_CATCH_UP`]; one held for a nonce gap is not counted (geth neither).
    pub fn pending_nonce(&self, address: &Address) -> u64 {
        let mut waiting: Vec<B256> = self.inflight.lock().hashes_of(address);
        if !waiting.is_empty() {
            let deadline = Instant::now() + PENDING_CATCH_UP;
            let (lock, signal) = &self.applied;
            let mut guard = lock.lock();
            loop {
                {
                    let inflight = self.inflight.lock();
                    waiting.retain(|hash| inflight.contains(hash));
                }
                waiting
                    .retain(|hash| !matches!(self.tx_status(hash), Some(TxStatus::Queued { .. })));
                if waiting.is_empty() {
                    break;
                }
                if signal.wait_until(&mut guard, deadline).timed_out() {
                    tracing::warn!(
                        %address,
                        in_flight = waiting.len(),
                        "transactions still not ordered; pending nonce read as it is"
                    );
                    break;
                }
            }
        }
        self.pending_view()
            .state
            .account(address)
            .map_or(0, |a| a.nonce)
    }
}

/// What a [`ChainService`] starts from, besides its chain.
#[derive(Debug)]
pub struct ServiceSetup {
    /// Where numbering goes on (the store's).
    pub counters: Counters,
    /// The last stored mini-block's hash.
    pub last_mini_hash: B256,
    /// Sealed blocks between durable commits.
    pub checkpoint_blocks: u64,
    /// Signs or checks each seal.
    pub sealer: Sealer,
    /// Where a fatal failure is recorded.
    pub fault: crate::fault::Fault,
    /// The node's stop flag, set on a failure.
    pub stop: Arc<AtomicBool>,
    /// The last block made durable (shared with the write-ahead log, on a sequencer).
    pub checkpoint: Arc<AtomicU64>,
    /// Set while a block seals (read by the sequencer's hot threads).
    pub sealing: Arc<AtomicBool>,
}

/// The thread behind [`Chain`]: applies signed mini-blocks to the read view and seals
/// blocks. Driven by the sequencer's log thread's output, or by a replica's stream.
pub struct ChainService {
    pub(crate) chain: Arc<Chain>,
    pub(crate) counters: Counters,
    pub(crate) block_diff: StateDiff,
    pub(crate) metrics: crate::metrics::ChainMetrics,
    /// The last block committed to redb: the write-ahead log's checkpoint.
    pub(crate) checkpoint: Arc<AtomicU64>,
    /// Set while a block seals, so the sequencer's loop and log thread stop yielding the
    /// cores the promise path needs (`SequencerLoop::with_sealing`).
    pub(crate) sealing: Arc<AtomicBool>,
    /// The open block's redb transaction: its mini-blocks go in [`WRITE_AHEAD`] at a time
    /// as they are applied, so a seal writes only the rest, the block, the state and the
    /// commit (at 1k TPS, mini-block records and their index were half of a seal's CPU).
    pub(crate) writer: Option<BlockWriter>,
    /// Applied mini-blocks not yet in `writer`, with the hashes of their views.
    pub(crate) unwritten: Vec<(Arc<MiniBlockRecord>, B256)>,
    /// Sealed blocks between checkpoints (the sequencer's `checkpoint_blocks`).
    pub(crate) checkpoint_blocks: u64,
    /// Blocks committed since the last checkpoint, not yet durable in redb.
    pub(crate) unsynced: u64,
    /// Where a fatal failure is recorded ([`crate::fault::Fault`]).
    pub(crate) fault: crate::fault::Fault,
    /// The node's stop flag: set on a failure, so intake stops at once.
    pub(crate) stop: Arc<AtomicBool>,
    /// Signs (or, on a replica, checks) each block's seal.
    pub(crate) sealer: Sealer,
    /// Hash of the last mini-block applied (zero before the first).
    pub(crate) last_mini_hash: B256,
}

/// How many applied mini-blocks go into redb together ahead of the seal. One at a time
/// added ~4 ms a second to this thread's CPU at 1k TPS (each write opens the tables again,
/// on cold caches); 64 at a time costs about what writing them all at the seal did, in
/// bursts of ~0.25 ms. The seal's wall time went from 18-24 ms to 12-14 ms.
const WRITE_AHEAD: usize = 64;

impl ChainService {
    /// A service over `chain`.
    pub fn new(chain: Arc<Chain>, setup: ServiceSetup) -> Self {
        Self {
            chain,
            counters: setup.counters,
            block_diff: StateDiff::default(),
            metrics: crate::metrics::ChainMetrics::new(),
            checkpoint: setup.checkpoint,
            sealing: setup.sealing,
            writer: None,
            unwritten: Vec::new(),
            checkpoint_blocks: setup.checkpoint_blocks.max(1),
            unsynced: 0,
            fault: setup.fault,
            stop: setup.stop,
            sealer: setup.sealer,
            last_mini_hash: setup.last_mini_hash,
        }
    }

    /// The chain it builds.
    pub fn chain(&self) -> &Arc<Chain> {
        &self.chain
    }

    /// Runs `drive`, which feeds this service until its source hangs up, then makes the
    /// last blocks durable, so a clean stop replays nothing. The block hashes are closed
    /// when it ends, however it ends. A store failure inside `drive` ends the thread
    /// ([`ChainService::fail`]).
    pub fn run(mut self, drive: impl FnOnce(&mut Self)) {
        /// Closes the block hashes when this thread ends, however it ends.
        struct CloseHashes(Arc<crate::hashes::BlockHashes>);
        impl Drop for CloseHashes {
            fn drop(&mut self) {
                self.0.close();
            }
        }
        let _close = CloseHashes(self.chain.hashes.clone());
        drive(&mut self);
        if self.unsynced > 0
            && let Err(e) = self.checkpoint()
        {
            tracing::error!(error = %e, "cannot make the last blocks durable; the write-ahead log still holds them");
        }
    }

    /// Stops the node on a storage failure: the chain cannot advance.
    pub fn fail(&self, why: String) -> ! {
        crate::fault::fail_thread(&self.fault, &self.stop, why)
    }

    /// Seals the open block as `end` says, the sealing flag raised meanwhile, and stops
    /// the node if it cannot be stored. (The checkpoint runs under the flag too: it is CPU
    /// as well as a wait for the disk, ~15 ms of this thread's CPU for eight blocks of 500
    /// transactions, and without the flag, at nice 10 beside two polling threads, one took
    /// up to 3 s.)
    pub fn end_block(&mut self, end: BlockEnd) {
        self.sealing.store(true, Ordering::Relaxed);
        let sealed = self.seal_and_checkpoint(end);
        self.sealing.store(false, Ordering::Relaxed);
        if let Err(e) = sealed {
            self.fail(format!("cannot store sealed block: {e}"));
        }
    }

    /// A transaction was queued for a nonce gap (its status was set where it was
    /// announced, the feed).
    pub fn queued(&mut self) {
        self.metrics.queued.increment(1);
        self.chain.signal_applied();
    }

    /// A transaction the sequencer accepted was dropped.
    pub fn dropped(&mut self, hash: &B256, reason: &str) {
        self.chain.end_inflight(hash);
        self.metrics.dropped(reason);
        tracing::debug!(%hash, %reason, "transaction dropped");
    }

    /// Applies one signed mini-block to the read view and the open block.
    pub fn apply(&mut self, signed: Arc<crate::record::SignedMiniBlock>) {
        let mini = &signed.mini;
        let diff = &signed.record.state_diff;
        self.block_diff.merge(diff);
        self.counters.next_mini_block = mini.number + 1;
        self.last_mini_hash = signed.record.hash;
        if let Some(last) = mini.txs.last() {
            self.counters.next_seq = last.seq + 1;
        }
        let hashes: Vec<B256> = mini.txs.iter().map(|t| t.hash).collect();
        let view = self.view(&signed);
        let view_hash = view.hash;
        {
            let mut pending = self.chain.pending.write();
            pending.state.apply(diff);
            let open = &mut pending.open;
            open.ctx = Some(mini.block);
            open.mini_blocks += 1;
            open.records.push(signed.record.clone());
            for tx in &mini.txs {
                open.by_hash.insert(tx.hash, open.txs.len());
                open.txs.push(tx.clone());
            }
            open.view_by_hash.insert(view.hash, open.views.len());
            open.views.push(view);
        }
        // Only now that they are visible in the open block do they leave the in-flight
        // set, so a duplicate is caught by one check or the other at every moment.
        self.chain
            .applied_next_mini
            .store(mini.number + 1, Ordering::Release);
        {
            let mut inflight = self.chain.inflight.lock();
            for hash in &hashes {
                inflight.remove(hash);
            }
        }
        // Readers waiting in `pending_view` and `pending_nonce` check under the signal's
        // lock: taking it after both changes means none can miss the signal.
        self.chain.signal_applied();
        // Last: readers and the promise path do not wait for redb. Nothing reads it from
        // there before the seal commits.
        self.unwritten.push((signed.record.clone(), view_hash));
        if self.unwritten.len() >= WRITE_AHEAD {
            match self.write_ahead() {
                Ok(writer) => self.writer = Some(writer),
                Err(e) => self.fail(format!("cannot store mini-blocks: {e}")),
            }
        }
    }

    /// The view that ends with `signed`: its parts come from the log thread (computed
    /// there, before publication, for the sync receipt); the parent is the head, sealed
    /// before this block's first mini-block reached this thread.
    fn view(&self, signed: &crate::record::SignedMiniBlock) -> OpenView {
        let record = &signed.record;
        let head = self.chain.head();
        if head.header.number + 1 != record.block_number() {
            self.fail(format!(
                "mini-block {} of block {} applied on head {}",
                record.number(),
                record.block_number(),
                head.header.number
            ));
        }
        let seed = match record.view.get(std::time::Duration::ZERO) {
            Some(seed) => seed,
            None => {
                // Not from the log thread (a test's record): built from the open block.
                let pending = self.chain.pending.read();
                let open = &pending.open;
                let txs = open.txs.iter().chain(signed.mini.txs.iter());
                let (envelopes, receipts): (Vec<_>, Vec<_>) =
                    txs.map(|t| (t.envelope.clone(), t.receipt.clone())).unzip();
                ViewSeed {
                    ctx: signed.mini.block,
                    parts: ViewParts::over(&envelopes, &receipts),
                }
            }
        };
        let header = seed.header(head.hash, record.hash);
        OpenView {
            hash: header.hash_slow(),
            header,
            parts: seed.parts,
            mini_block: record.number(),
        }
    }

    /// Moves the applied mini-blocks into the open block's redb transaction (opened if
    /// need be), and returns it.
    fn write_ahead(&mut self) -> Result<BlockWriter, StoreError> {
        let mut writer = match self.writer.take() {
            Some(writer) => writer,
            None => self.chain.store.begin_block()?,
        };
        writer.add_mini_blocks(self.unwritten.iter().map(|(r, v)| (r.as_ref(), Some(*v))))?;
        self.unwritten.clear();
        Ok(writer)
    }

    /// Makes the blocks sealed so far durable; log segments they cover may then go.
    ///
    /// Outside a seal (a stop) the open block's pending redb transaction is abandoned
    /// first: its mini-blocks were never durable (the write-ahead log, or on a replica the
    /// stream, brings them back), and redb takes one write transaction at a time, so
    /// keeping it would make this wait for itself forever.
    pub fn checkpoint(&mut self) -> Result<(), StoreError> {
        drop(self.writer.take());
        let started = std::time::Instant::now();
        self.chain.store.persist()?;
        self.unsynced = 0;
        self.checkpoint
            .store(self.chain.head().header.number, Ordering::Release);
        self.metrics
            .checkpoint
            .record(started.elapsed().as_secs_f64());
        Ok(())
    }

    /// Seals the open block, then makes the blocks durable if a checkpoint is due.
    pub fn seal_and_checkpoint(&mut self, end: BlockEnd) -> Result<(), SealError> {
        self.seal(end)?;
        if self.unsynced >= self.checkpoint_blocks {
            self.checkpoint()?;
        }
        Ok(())
    }

    fn seal(&mut self, end: BlockEnd) -> Result<(), SealError> {
        let started = std::time::Instant::now();
        let parent = self.chain.head();
        // This thread is the only writer of `pending`, so the state root and the block are
        // computed under a read lock, while ingress checks and `pending` reads go on. The
        // write lock is held only to bring the written contracts' storage roots up to date
        // and to move the account trie out and back (`RootWork`). (Hashing the account
        // trie under the write lock held ingress up 1-10 ms a block at ~23k tx/s, and
        // cloning the transactions under it 0.3-1.5 ms.)
        let state_root = {
            let started = std::time::Instant::now();
            let mut work = self.chain.pending.write().state.begin_root();
            let root = work.root(&self.chain.pending.read().state);
            self.chain.pending.write().state.end_root(work);
            self.metrics
                .state_root
                .record(started.elapsed().as_secs_f64());
            root
        };
        let (block, records) = {
            let pending = self.chain.pending.read();
            let open = &pending.open;
            let txs = &open.txs;
            // The newest view's tries cover the whole block: the seal reuses them.
            let parts = match open.views.last() {
                Some(view)
                    if view.parts.tx_count as usize == txs.len()
                        && view.parts.gas_used == end.gas_used =>
                {
                    view.parts
                }
                None if txs.is_empty() => ViewParts::default(),
                _ => {
                    tracing::error!(
                        block = end.ctx.number,
                        "the open block's views do not cover its transactions; sealing from scratch"
                    );
                    let (envelopes, receipts): (Vec<_>, Vec<_>) = txs
                        .iter()
                        .map(|t| (t.envelope.clone(), t.receipt.clone()))
                        .unzip();
                    ViewParts {
                        gas_used: end.gas_used,
                        ..ViewParts::over(&envelopes, &receipts)
                    }
                }
            };
            let header = block_header(parent.hash, &end.ctx, &parts, state_root, Bytes::new());
            (StoredBlock::new(header, txs), open.records.len())
        };
        let (hash, sealed) = (block.hash, block.txs.len());
        let seal = BlockSeal {
            chainId: self.chain.chain_id,
            blockNumber: block.header.number,
            blockHash: hash,
            stateRoot: state_root,
            nextMiniBlock: self.counters.next_mini_block,
            lastMiniBlockHash: self.last_mini_hash,
        };
        let seal = match &mut self.sealer {
            Sealer::Key(key) => SignedSeal {
                seal,
                signature: key.sign_digest(seal.signing_hash()),
            },
            Sealer::Expect(expected) => match expected.take() {
                Some(theirs) if theirs.seal == seal => theirs,
                theirs => {
                    return Err(SealError::Mismatch {
                        ours: Box::new(seal),
                        theirs: Box::new(theirs.map(|t| t.seal)),
                    });
                }
            },
        };
        // Known now, a fraction of a millisecond into the seal: the next block's views
        // (and sync receipts naming them) need it, and need not wait for redb.
        self.chain.hashes.insert(block.header.number, hash);
        let diff = std::mem::take(&mut self.block_diff);
        // Readable at once, durable at the next checkpoint: until then the write-ahead
        // log keeps the block's records.
        let mut writer = self.write_ahead()?;
        writer.add_seal(&seal)?;
        writer.defer_sync()?;
        writer.commit(&block, &diff, self.counters, self.chain.chain_id)?;
        self.unsynced += 1;
        if let Err(e) = self.chain.store.start_writeback() {
            // The checkpoint syncs anyway: only its duration is at stake.
            tracing::warn!(error = %e, "cannot start writing the block to disk");
        }
        let head = Head {
            header: block.header.clone(),
            hash,
        };
        // Only this block's transactions leave the open block; they stayed readable there
        // until the store had them. The head moves under the same lock, so a reader
        // holding the pending view sees the block open or sealed, never both or neither.
        // They are dropped after the lock is released.
        let (sealed_txs, sealed_records, sealed_views, accounts) = {
            let mut pending = self.chain.pending.write();
            *self.chain.head.write() = head.clone();
            let open = &mut pending.open;
            let rest = open.txs.split_off(sealed);
            let sealed_txs = std::mem::replace(&mut open.txs, rest);
            let rest = open.records.split_off(records);
            let sealed_records = std::mem::replace(&mut open.records, rest);
            let sealed_views = std::mem::take(&mut open.views);
            open.by_hash.clear();
            for (i, tx) in open.txs.iter().enumerate() {
                open.by_hash.insert(tx.hash, i);
            }
            open.view_by_hash.clear();
            open.ctx = None;
            (
                sealed_txs,
                sealed_records,
                sealed_views,
                pending.state.len(),
            )
        };
        // No subscriber is not an error.
        let _ = self.chain.heads.send(head);
        if self.chain.sealed.receiver_count() > 0 {
            let mini_blocks = sealed_records.iter().map(|r| r.hash).collect();
            let _ = self.chain.sealed.send(Arc::new(SealedBlock {
                block,
                mini_blocks,
                seal,
            }));
        }
        drop((sealed_txs, sealed_records, sealed_views));
        self.metrics.seal.record(started.elapsed().as_secs_f64());
        self.metrics.head.set(end.ctx.number as f64);
        self.metrics.accounts.set(accounts as f64);
        Ok(())
    }
}
