//! The sequencer loop: one named thread, optionally pinned, that orders and executes.
//!
//! ```text
//!  ring ──pop──▶ nonce check ──▶ revm ──▶ commit + diff ──▶ mini-block ──▶ chain queue
//!                     │ gap                                    (closed when the ring
//!                     ▼                                         drains or is full-size)
//!                 gap queue (bounded, held `nonce_hold`)
//! ```
//!
//! A mini-block whose ring has drained is held open instead while the log thread is still
//! busy with the ones before it ([`SequencerLoop::with_log_progress`]): under load,
//! mini-blocks grow by themselves.
//!
//! Per transaction this thread does no logging, takes no lock, makes no syscall (clocks are
//! read through the vDSO) and no heap allocation. revm's journal holds the state across
//! the whole mini-block (`transact_one` per transaction, `finalize` + commit once per
//! mini-block), so its maps and vectors are reused, and the accounts it loaded stay loaded
//! (cold) for the next mini-block ([`keep_warm`]). A closed mini-block's buffers come back
//! to the loop when their last user drops them ([`crate::recycle`]), and revm runs under
//! [`exec::SequencerHandler`], which reuses the first frame's input box that revm would
//! allocate per transaction. Measured: 0.00 heap allocations per transaction for plain
//! transfers and for contract calls that read and write storage, in full mini-blocks and
//! one transaction per mini-block. Still allocating, inside revm: a boxed copy of each
//! account loaded afresh (new, or beyond the 1 024 kept), a contract's sub-call frames and
//! logs, created code. Metric histograms are recorded on the log thread, not here. The
//! `alloc_per_tx` test measures this, with the Prometheus recorder installed, and fails on
//! one allocation per transaction.

use crate::{
    block::{BlockContext, BlockEnd, ChainEvent, MiniBlock},
    clock::{now_secs, now_us},
    config::SequencerConfig,
    diff::DiffLog,
    error::WalError,
    exec::{self, SequencerEvm},
    metrics::LoopMetrics,
    recycle::{Pool, Recycled},
    ring::{Consumer, WaitStrategy},
    tx::{ExecutedTx, PendingTx},
    wal::WalRecord,
};
use alloy_consensus::{Transaction as _, TxEnvelope};
use alloy_eips::eip2718::Decodable2718;
use alloy_primitives::{Address, B256, map::AddressMap};
use crossbeam_channel::Sender;
use revm::{
    ExecuteEvm,
    context::result::{EVMError, ExecutionResult},
    context_interface::ContextTr,
};
use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

/// Longest the loop waits for a transaction before re-checking the stop flag.
const STOP_POLL: Duration = Duration::from_millis(20);
/// While a mini-block is held for the log thread, how often the loop looks at its progress.
pub(crate) const HOLD_POLL: Duration = Duration::from_micros(20);
/// With `yield`, how often the loop re-checks whether a block seal started or ended.
const SEALING_POLL: Duration = Duration::from_millis(1);
/// With the `yield` strategy, how long without work before the loop parks instead.
const IDLE_BEFORE_PARK: Duration = Duration::from_millis(10);
/// How long each park lasts once idle (bounds the extra latency of the first transaction
/// after a quiet period).
const IDLE_PARK: Duration = Duration::from_micros(100);
/// With `yield`, the mean mini-block size (transactions, a moving average over about the
/// last eight) from which the loop counts as busy and parks in [`HOLD_POLL`] steps when
/// the ring is empty instead of yielding: under that load a transaction waits for a
/// mini-block anyway, and a yielding loop and log thread took ~20 % of a 2-core machine at
/// saturation, CPU that ingress needs. At 1 000 tx/s mini-blocks hold one transaction.
pub const BUSY_MINI_BLOCK_TXS: u32 = 8;

/// Most accounts kept loaded in revm's journal from one mini-block to the next.
///
/// Bounds the journal map (and the commit's walk over it, once per mini-block); beyond
/// it the map is emptied and every account is loaded afresh.
const WARM_ACCOUNTS: usize = 1024;

/// Prepares the journal's map for the next mini-block, after its changes were committed.
///
/// Accounts stay loaded, so a sender or recipient seen again does not cost a database
/// read and the boxed copy revm makes of a freshly loaded account (one heap allocation
/// each: two per transfer at low load, sender and recipient).
///
/// Each kept account is reset to what a fresh load of the committed state gives, and
/// marked cold: its fields equal the committed ones (the originals re-baselined in
/// place), no created/touched/self-destructed marks, and no storage slots (a slot is read
/// again from the committed state on its next access, so slot warmth and EIP-2200
/// originals are as for a fresh load). Deleted and empty accounts are dropped: a later
/// access loads them as not existing, as before. revm treats a cold account that is
/// already in its map exactly as it treats a newly loaded one (warm marking, access gas),
/// which is what it does between transactions within a mini-block.
fn keep_warm(state: &mut revm::state::EvmState) {
    if state.len() > WARM_ACCOUNTS {
        state.clear();
        return;
    }
    state.retain(|_, account| !account.is_selfdestructed() && !account.is_empty());
    for account in state.values_mut() {
        account.status = revm::state::AccountStatus::Cold;
        account.storage.clear();
        account.set_current_info_as_original();
    }
}

/// Idle buffers each recycling pool keeps ([`crate::recycle`]): enough to cover the
/// mini-blocks whose buffers come back at about the same time, few enough that idle
/// full-size vectors (up to ~600 KB each) stay a small amount of memory.
const RECYCLED_BUFFERS: usize = 16;

struct Gapped {
    tx: PendingTx,
    expires: Instant,
}

/// What [`SequencerLoop::replay`] did.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReplayStats {
    /// Mini-blocks re-executed.
    pub mini_blocks: u64,
    /// Transactions re-executed.
    pub transactions: u64,
    /// Block ends repeated.
    pub blocks: u64,
    /// Time the loop took to re-execute and close everything.
    pub elapsed: Duration,
    /// From the start of replay until the last replayed mini-block was signed, written
    /// (skipped: it is in the log already) and visible to reads (set by `Node::start`).
    pub until_visible: Duration,
}

/// Where the loop starts: the chain tip it continues from.
#[derive(Debug, Clone, Copy)]
pub struct LoopStart {
    /// The last sealed block's number.
    pub head_number: u64,
    /// The last sealed block's timestamp.
    pub head_timestamp: u64,
    /// The last sealed block's base fee.
    pub head_base_fee: u64,
    /// The last sealed block's gas used.
    pub head_gas_used: u64,
    /// Next global sequence number.
    pub next_seq: u64,
    /// Next mini-block number.
    pub next_mini_block: u64,
}

/// The sequencer loop's state. Build with [`SequencerLoop::new`], then [`SequencerLoop::run`].
pub struct SequencerLoop {
    cfg: SequencerConfig,
    consumer: Consumer<PendingTx>,
    evm: SequencerEvm,
    handler: exec::SequencerEvmHandler,
    out: Sender<ChainEvent>,
    stop: Arc<AtomicBool>,
    /// Set by the chain service while it seals a block (see [`SequencerLoop::with_sealing`]).
    sealing: Arc<AtomicBool>,
    /// The feed the log thread publishes to: how far it has got
    /// ([`SequencerLoop::with_log_progress`]).
    published: Option<Arc<crate::feed::Feed>>,
    /// Since when the open mini-block has been held for the log thread.
    held_since: Option<Instant>,
    /// Set while the loop parks between looks at the ring (a mini-block is held, or the
    /// loop is busy): read by the log thread, which then parks too.
    parking: Arc<AtomicBool>,
    /// Moving average of the transactions per mini-block, times 16 (see
    /// [`BUSY_MINI_BLOCK_TXS`]).
    mini_block_txs_x16: u32,
    block: BlockContext,
    block_gas_used: u64,
    block_txs: u32,
    block_logs: u64,
    deadline: Instant,
    next_seq: u64,
    next_mini: u64,
    /// The open mini-block's transactions and changes, in buffers that come back from
    /// the consumers of closed mini-blocks ([`crate::recycle`]).
    txs: Recycled<Vec<ExecutedTx>>,
    diff: Recycled<DiffLog>,
    tx_pool: Pool<Vec<ExecutedTx>>,
    diff_pool: Pool<DiffLog>,
    gapped: AddressMap<BTreeMap<u64, Gapped>>,
    gapped_total: usize,
    metrics: LoopMetrics,
}

impl std::fmt::Debug for SequencerLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SequencerLoop")
            .field("block", &self.block)
            .field("next_seq", &self.next_seq)
            .finish_non_exhaustive()
    }
}

impl SequencerLoop {
    /// Prepares the loop to continue the chain after `start`.
    pub fn new(
        cfg: SequencerConfig,
        consumer: Consumer<PendingTx>,
        db: exec::SequencerDb,
        out: Sender<ChainEvent>,
        stop: Arc<AtomicBool>,
        start: LoopStart,
    ) -> Self {
        let base_fee = next_base_fee(
            start.head_gas_used,
            cfg.block_gas_limit,
            start.head_base_fee,
            cfg.min_base_fee,
        );
        let block = BlockContext {
            number: start.head_number + 1,
            timestamp: now_secs().max(start.head_timestamp),
            base_fee,
            gas_limit: cfg.block_gas_limit,
            beneficiary: Address::ZERO,
            prevrandao: exec::prevrandao(cfg.chain_id, start.head_number + 1),
        };
        let evm = exec::sequencer_evm(db, cfg.chain_id, &block);
        Self {
            deadline: Instant::now() + cfg.block_time,
            txs: Recycled::detached(Vec::with_capacity(cfg.max_mini_block_txs)),
            consumer,
            evm,
            handler: exec::SequencerEvmHandler::default(),
            out,
            stop,
            sealing: Arc::new(AtomicBool::new(false)),
            published: None,
            held_since: None,
            parking: Arc::new(AtomicBool::new(false)),
            mini_block_txs_x16: 0,
            block,
            block_gas_used: 0,
            block_txs: 0,
            block_logs: 0,
            next_seq: start.next_seq,
            next_mini: start.next_mini_block,
            diff: Recycled::detached(DiffLog::default()),
            tx_pool: Pool::new(RECYCLED_BUFFERS),
            diff_pool: Pool::new(RECYCLED_BUFFERS),
            gapped: AddressMap::default(),
            gapped_total: 0,
            metrics: LoopMetrics::new(),
            cfg,
        }
    }

    /// Shares the chain service's "sealing a block" flag. While it is set, the `yield`
    /// strategy parks in [`crate::ring::SEALING_PARK`] steps instead of yielding: a seal takes ~20 ms
    /// of CPU, and where cores are short a yielding loop and log thread keep the cores
    /// the woken RPC threads need. Traced on 2 cores, RPC threads waited up to 1.7 ms
    /// behind yielding threads during a seal.
    pub fn with_sealing(mut self, sealing: Arc<AtomicBool>) -> Self {
        self.sealing = sealing;
        self
    }

    /// Lets the loop see how far the log thread has got (the mini-blocks `feed` has
    /// published), so that while it is still busy with earlier ones the open mini-block
    /// is held, up to [`SequencerConfig::max_mini_block_hold`], and takes what arrives
    /// meanwhile: batching that grows with the load and costs nothing at low load. One
    /// atomic load per batch of transactions, not per transaction. `parking` is set while
    /// the loop parks between looks at the ring (a mini-block is held, or the loop is busy:
    /// [`BUSY_MINI_BLOCK_TXS`]), for the log thread, which then parks too.
    pub fn with_log_progress(
        mut self,
        feed: Arc<crate::feed::Feed>,
        parking: Arc<AtomicBool>,
    ) -> Self {
        self.published = Some(feed);
        self.parking = parking;
        self
    }

    /// Whether recent mini-blocks were large enough for the `yield` strategy to park
    /// instead ([`BUSY_MINI_BLOCK_TXS`]).
    fn busy(&self) -> bool {
        self.mini_block_txs_x16 >= BUSY_MINI_BLOCK_TXS * 16
    }

    /// Tells the log thread whether the loop parks between looks. The loop is the flag's
    /// only writer, so reading it says what it holds; it is stored only on change.
    fn set_parking(&self, parking: bool) {
        if self.parking.load(Ordering::Relaxed) != parking {
            self.parking.store(parking, Ordering::Relaxed);
        }
    }

    /// Whether to hold the open mini-block for the log thread (see
    /// [`SequencerLoop::with_log_progress`]) rather than close it now.
    fn hold_open(&mut self, now: Instant) -> bool {
        let Some(feed) = &self.published else {
            return false;
        };
        if self.txs.is_empty()
            || self.cfg.max_mini_block_hold.is_zero()
            || self.txs.len() >= self.cfg.max_mini_block_txs
            || feed.announced_next() >= self.next_mini
        {
            return false;
        }
        let since = *self.held_since.get_or_insert(now);
        self.set_parking(true);
        now.duration_since(since) < self.cfg.max_mini_block_hold
    }

    /// Runs until the stop flag is set and the ring is drained; closes the last block.
    pub fn run(mut self) {
        let mut last_work = Instant::now();
        loop {
            let stopping = self.stop.load(Ordering::Acquire);
            let now = Instant::now();
            if now >= self.deadline {
                self.close_block();
            }
            if stopping && self.consumer.is_empty() {
                self.close_mini_block();
                self.close_block();
                return;
            }
            let mut wait_until = self.deadline.min(now + STOP_POLL);
            // `yield` keeps yielding while traffic flows, then parks in short steps once
            // quiet, so an idle node does not keep a core busy; while a block seals it
            // parks in shorter ones (`with_sealing`), and looks at the flag again every
            // millisecond. `busy-spin` and `park` are taken as configured.
            let strategy = match self.cfg.wait_strategy {
                WaitStrategy::Yield if now.duration_since(last_work) > IDLE_BEFORE_PARK => {
                    WaitStrategy::Park(IDLE_PARK)
                }
                WaitStrategy::Yield => {
                    wait_until = wait_until.min(now + SEALING_POLL);
                    WaitStrategy::Yield.while_sealing(self.sealing.load(Ordering::Relaxed))
                }
                other => other,
            };
            // A mini-block is held: the log thread is busy for a while yet, so sleep (a
            // transaction arriving meanwhile is held anyway, and a yielding loop would take
            // the cores ingress needs), and look at its progress soon. The same when busy:
            // mini-blocks are large, so a transaction waits for its mini-block anyway.
            let park = self.held_since.is_some()
                || (self.busy() && matches!(strategy, WaitStrategy::Yield));
            self.set_parking(park);
            let strategy = if park {
                wait_until = wait_until.min(now + HOLD_POLL);
                WaitStrategy::Park(HOLD_POLL)
            } else {
                strategy
            };
            if let Some(tx) = self.consumer.pop_wait(strategy, Some(wait_until)) {
                self.process(tx);
                while self.txs.len() < self.cfg.max_mini_block_txs {
                    match self.consumer.try_pop() {
                        Some(tx) => self.process(tx),
                        None => break,
                    }
                }
                last_work = Instant::now();
                if !self.hold_open(last_work) {
                    self.close_mini_block();
                }
            } else if self.held_since.is_some() && !self.hold_open(Instant::now()) {
                self.close_mini_block();
            }
            if self.gapped_total > 0 {
                self.expire_gapped(Instant::now());
            }
        }
    }

    fn emit(&self, event: ChainEvent) {
        // The chain service only stops after this loop; a send error means it died,
        // and the node is shutting down anyway.
        let _ = self.out.send(event);
    }

    fn drop_tx(&self, tx: &PendingTx, reason: String) {
        self.emit(ChainEvent::Dropped {
            hash: tx.hash,
            parties: crate::block::Parties::of(tx),
            reason,
        });
    }

    /// Orders one transaction: executes it now, holds it for a nonce gap, or drops it.
    fn process(&mut self, tx: PendingTx) {
        let expected = self.next_nonce(&tx.sender);
        let nonce = tx.nonce();
        if nonce < expected {
            let reason = format!("nonce too low: next nonce {expected}, tx nonce {nonce}");
            self.drop_tx(&tx, reason);
            return;
        }
        if nonce > expected {
            self.hold(tx, expected);
            return;
        }
        let sender = tx.sender;
        if self.execute(tx) {
            self.release_gapped(sender, nonce + 1);
        }
    }

    /// The sender's next nonce: from the journal when the sender was touched in the open
    /// mini-block (its state is committed when the mini-block closes), else from the state.
    fn next_nonce(&self, sender: &Address) -> u64 {
        let journal = &self.evm.ctx.journaled_state.inner.state;
        match journal.get(sender) {
            Some(account) => account.info.nonce,
            None => self
                .evm
                .ctx
                .journaled_state
                .database
                .state
                .account(sender)
                .map_or(0, |a| a.nonce),
        }
    }

    fn hold(&mut self, tx: PendingTx, expected: u64) {
        let (own, replacing) = self
            .gapped
            .get(&tx.sender)
            .map_or((0, false), |q| (q.len(), q.contains_key(&tx.nonce())));
        if !replacing
            && (own >= self.cfg.max_queued_per_sender
                || (self.gapped_total >= self.cfg.max_queued_total && !self.evict_for(own)))
        {
            let reason = format!(
                "nonce gap: sender's next nonce is {expected}, and the queue for future nonces is full"
            );
            self.drop_tx(&tx, reason);
            return;
        }
        let queue = self.gapped.entry(tx.sender).or_default();
        let hash = tx.hash;
        let replaced = queue.insert(
            tx.nonce(),
            Gapped {
                tx,
                expires: Instant::now() + self.cfg.nonce_hold,
            },
        );
        if let Some(old) = replaced {
            self.drop_tx(
                &old.tx,
                "replaced by a transaction with the same nonce".into(),
            );
        } else {
            self.gapped_total += 1;
        }
        self.emit(ChainEvent::Queued {
            hash,
            missing_nonce: expected,
        });
    }

    /// Makes room in the full gap queue for a sender that holds `own`: drops the highest
    /// nonce of the sender holding the most, if that is more than `own + 1`, so that one
    /// sender (or a few) cannot take the queue from everyone else. False if no sender
    /// holds more than its share.
    fn evict_for(&mut self, own: usize) -> bool {
        let Some((&victim, queue)) = self.gapped.iter_mut().max_by_key(|(_, q)| q.len()) else {
            return false;
        };
        if queue.len() <= own + 1 {
            return false;
        }
        let Some((_, evicted)) = queue.pop_last() else {
            return false;
        };
        if queue.is_empty() {
            self.gapped.remove(&victim);
        }
        self.gapped_total -= 1;
        self.drop_tx(
            &evicted.tx,
            "nonce gap: evicted from the full gap queue (sequencer.max-queued-total) to make \
             room for a sender holding fewer"
                .into(),
        );
        true
    }

    fn release_gapped(&mut self, sender: Address, mut next: u64) {
        while self.gapped_total > 0 {
            let Some(queue) = self.gapped.get_mut(&sender) else {
                return;
            };
            let Some(entry) = queue.remove(&next) else {
                return;
            };
            if queue.is_empty() {
                self.gapped.remove(&sender);
            }
            self.gapped_total -= 1;
            if !self.execute(entry.tx) {
                return;
            }
            next += 1;
        }
    }

    fn expire_gapped(&mut self, now: Instant) {
        let mut expired = Vec::new();
        self.gapped.retain(|_, queue| {
            queue.retain(|_, g| {
                let keep = g.expires > now;
                if !keep {
                    expired.push((g.tx.hash, crate::block::Parties::of(&g.tx)));
                }
                keep
            });
            !queue.is_empty()
        });
        self.gapped_total -= expired.len();
        for (hash, parties) in expired {
            self.emit(ChainEvent::Dropped {
                hash,
                parties,
                reason: "nonce gap: the missing nonce did not arrive within the hold time".into(),
            });
        }
    }

    /// Executes `tx` and appends it to the open mini-block. Returns false if dropped.
    fn execute(&mut self, tx: PendingTx) -> bool {
        if tx.tx_env.gas_limit > self.block.gas_limit - self.block_gas_used {
            // The block is full: close it early and open the next one.
            self.close_mini_block();
            self.close_block();
        }
        let parties = crate::block::Parties::of(&tx);
        match self.execute_at(tx, now_us(), None) {
            Ok(()) => true,
            Err((hash, reason)) => {
                self.emit(ChainEvent::Dropped {
                    hash,
                    parties,
                    reason,
                });
                false
            }
        }
    }

    /// Executes `tx`, taken from the ring at `ordered_us`, and appends it to the open
    /// mini-block; `executed_us` is the recorded execution time on replay, else now.
    /// Returns the hash and the reason when execution refuses it.
    fn execute_at(
        &mut self,
        tx: PendingTx,
        ordered_us: u64,
        executed_us: Option<u64>,
    ) -> Result<(), (B256, String)> {
        let PendingTx {
            hash,
            sender,
            envelope,
            tx_env,
            received_us,
        } = tx;
        // `transact_one` keeps the state in revm's journal across the mini-block (its
        // per-transaction parts are cleared in place); `close_mini_block` finalizes and
        // commits once. One state map per mini-block instead of one per transaction.
        let result = match exec::transact(&mut self.evm, &mut self.handler, tx_env) {
            Ok(result) => result,
            Err(EVMError::Transaction(invalid)) => return Err((hash, invalid.to_string())),
            Err(other) => return Err((hash, format!("execution failed: {other}"))),
        };
        let gas_used = result.tx_gas_used();
        self.block_gas_used += gas_used;
        let contract_address = match &result {
            ExecutionResult::Success { .. } if envelope.is_create() => {
                Some(sender.create(envelope.nonce()))
            }
            _ => None,
        };
        let receipt = exec::receipt(envelope.tx_type(), &result, self.block_gas_used);
        let receipt_logs = result.logs().len() as u64;
        let effective_gas_price = envelope.effective_gas_price(Some(self.block.base_fee));
        self.txs.push(ExecutedTx {
            seq: self.next_seq,
            hash,
            sender,
            envelope,
            receipt,
            gas_used,
            effective_gas_price,
            contract_address,
            index_in_block: self.block_txs,
            first_log_index: self.block_logs,
            received_us,
            ordered_us,
            executed_us: executed_us.unwrap_or_else(now_us),
        });
        self.next_seq += 1;
        self.block_txs += 1;
        self.block_logs += receipt_logs;
        Ok(())
    }

    fn close_mini_block(&mut self) {
        self.close_mini_block_at(None, None);
    }

    /// Closes the open mini-block at `closed_us` (the recorded time on replay), or now;
    /// `signed_us` is the recorded signing time on replay.
    fn close_mini_block_at(&mut self, closed_us: Option<u64>, signed_us: Option<u64>) {
        self.held_since = None;
        // Move the journal's state (every account the mini-block loaded) into our state
        // and the diff, even if every transaction was dropped (then nothing is touched).
        let mut changes = self.evm.finalize();
        let db = self.evm.ctx.db_mut();
        db.state.commit(&changes, &mut self.diff);
        // Give the map back to the journal, its capacity reused, with the accounts it holds
        // kept loaded (cold) for the next mini-block when there are not too many.
        keep_warm(&mut changes);
        self.evm.ctx.journaled_state.inner.state = changes;
        if self.txs.is_empty() {
            return;
        }
        // The next buffers come back from earlier mini-blocks, with their capacity. A new
        // vector (the pool is empty at start-up) is sized like this mini-block: it follows
        // the load, and at low load stays small (a full-size one would be ~600 KB, an
        // mmap/munmap pair per mini-block).
        let mut next = self.tx_pool.take();
        if next.capacity() == 0 {
            next.reserve(self.txs.len());
        }
        let txs = std::mem::replace(&mut self.txs, next);
        // Moving average over ~8 mini-blocks, times 16: x += (16 n - x) / 8.
        let n = txs.len().min(1 << 16) as u32;
        self.mini_block_txs_x16 = self.mini_block_txs_x16 - self.mini_block_txs_x16 / 8 + 2 * n;
        let first_seq = txs[0].seq;
        let closed_us = closed_us.unwrap_or_else(now_us);
        let m = &self.metrics;
        m.mini_blocks.increment(1);
        m.executed.increment(txs.len() as u64);
        m.ring_occupancy.set(self.consumer.len() as f64);
        m.nonce_queue.set(self.gapped_total as f64);
        let mini = MiniBlock {
            number: self.next_mini,
            block: self.block,
            first_seq,
            txs,
            diff: std::mem::replace(&mut self.diff, self.diff_pool.take()),
            closed_us,
            signed_us,
        };
        self.next_mini += 1;
        self.emit(ChainEvent::MiniBlock(mini));
    }

    /// Re-executes the log's records after the checkpoint through the same path as live
    /// transactions, repeating every recorded decision: the same mini-block boundaries,
    /// block contexts, block ends and timestamps. Signatures are deterministic (RFC 6979),
    /// so the mini-blocks, receipts and signed headers come out bit-identical; any
    /// difference is reported as an error instead of continuing on a diverged chain.
    pub fn replay(&mut self, records: Vec<WalRecord>) -> Result<ReplayStats, WalError> {
        let started = Instant::now();
        let mut stats = ReplayStats::default();
        let diverged = |what: String| WalError::Replay(what);
        for record in records {
            match record {
                WalRecord::MiniBlock(m) => {
                    self.replay_context(&m.block)?;
                    if m.number != self.next_mini || m.first_seq != self.next_seq {
                        return Err(diverged(format!(
                            "the log holds mini-block {} (first sequence {}) where mini-block {} \
                             (first sequence {}) comes next: records are missing",
                            m.number, m.first_seq, self.next_mini, self.next_seq
                        )));
                    }
                    for t in m.txs {
                        if t.seq != self.next_seq {
                            return Err(diverged(format!(
                                "mini-block {} holds sequence {} where {} comes next",
                                m.number, t.seq, self.next_seq
                            )));
                        }
                        let envelope =
                            TxEnvelope::decode_2718(&mut t.raw.as_ref()).map_err(|e| {
                                diverged(format!("sequence {} does not decode: {e}", t.seq))
                            })?;
                        let tx = PendingTx::new(envelope, t.sender, t.received_us);
                        self.execute_at(tx, t.ordered_us, Some(t.executed_us))
                            .map_err(|(hash, why)| {
                                diverged(format!(
                                    "transaction {hash} (sequence {}) was refused on replay: {why}",
                                    t.seq
                                ))
                            })?;
                        stats.transactions += 1;
                    }
                    self.close_mini_block_at(Some(m.closed_us), Some(m.signed_us));
                    stats.mini_blocks += 1;
                }
                WalRecord::BlockEnd(end) => {
                    self.replay_context(&end.ctx)?;
                    if end.gas_used != self.block_gas_used {
                        return Err(diverged(format!(
                            "block {} used {} gas, replay used {}",
                            end.ctx.number, end.gas_used, self.block_gas_used
                        )));
                    }
                    self.close_block();
                    stats.blocks += 1;
                }
            }
        }
        self.deadline = Instant::now() + self.cfg.block_time;
        stats.elapsed = started.elapsed();
        Ok(stats)
    }

    /// Makes `ctx` (a recorded block context) the open block's. A block opened live at
    /// start-up took its timestamp from the clock; the log's is the one that counted.
    fn replay_context(&mut self, ctx: &BlockContext) -> Result<(), WalError> {
        if *ctx == self.block {
            return Ok(());
        }
        if ctx.number != self.block.number || self.block_txs > 0 {
            return Err(WalError::Replay(format!(
                "the log continues block {} with context {ctx:?}, but block {} is open with {:?}",
                ctx.number, self.block.number, self.block
            )));
        }
        self.block = *ctx;
        self.evm.set_block(exec::block_env(&self.block));
        Ok(())
    }

    fn close_block(&mut self) {
        self.close_mini_block();
        self.metrics.block_size.record(f64::from(self.block_txs));
        self.metrics.block_gas.record(self.block_gas_used as f64);
        self.emit(ChainEvent::BlockEnd(BlockEnd {
            ctx: self.block,
            gas_used: self.block_gas_used,
        }));
        let number = self.block.number + 1;
        self.block = BlockContext {
            number,
            timestamp: now_secs().max(self.block.timestamp),
            base_fee: next_base_fee(
                self.block_gas_used,
                self.block.gas_limit,
                self.block.base_fee,
                self.cfg.min_base_fee,
            ),
            gas_limit: self.cfg.block_gas_limit,
            beneficiary: self.block.beneficiary,
            prevrandao: exec::prevrandao(self.cfg.chain_id, number),
        };
        self.evm.set_block(exec::block_env(&self.block));
        self.block_gas_used = 0;
        self.block_txs = 0;
        self.block_logs = 0;
        let now = Instant::now();
        self.deadline += self.cfg.block_time;
        if self.deadline <= now {
            self.deadline = now + self.cfg.block_time;
        }
    }
}

pub use peregrine_chain::block::next_base_fee;
