//! The live feed of signed mini-blocks: a broadcast for subscribers, the waiters of
//! `eth_sendRawTransactionSync`, and a bounded window of recent records for replay.

use crate::{
    block::Parties,
    record::{MiniBlockRecord, SignedMiniBlock},
    tx::ExecutedTx,
};
use alloy_primitives::{Address, B256, map::B256Map};
use parking_lot::Mutex;
use std::{
    collections::VecDeque,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
};
use tokio::sync::{broadcast, oneshot};

/// Default number of mini-blocks the broadcast buffers for subscribers. A subscriber that
/// falls further behind is told it lagged and closed (it resumes with `fromMiniBlock`):
/// bounded so a stalled consumer costs memory only up to this, never the sequencer time.
pub const DEFAULT_FEED_CAPACITY: usize = 8192;
/// Default number of recent records kept in memory for replay (older ones come from redb).
pub const DEFAULT_RECENT_MINI_BLOCKS: usize = 8192;

/// What an `eth_sendRawTransactionSync` caller learns about its transaction.
#[derive(Debug, Clone)]
pub enum WaitOutcome {
    /// Preconfirmed in this mini-block, at this index.
    Preconfirmed {
        /// The signed mini-block.
        record: Arc<MiniBlockRecord>,
        /// Index in it.
        index: usize,
        /// The executed transaction (for its full receipt).
        tx: Box<ExecutedTx>,
        /// The block it will be sealed in.
        block: crate::block::BlockContext,
    },
    /// Held for a nonce gap.
    Queued {
        /// The nonce the sender must use first.
        missing_nonce: u64,
    },
    /// Dropped by the sequencer.
    Dropped {
        /// Why.
        reason: String,
    },
}

/// A transaction accepted at ingress that the sequencer dropped (a nonce gap that never
/// closed, a replacement, an eviction from the full gap queue, a refusal at execution).
#[derive(Debug, Clone)]
pub struct DropNotice {
    /// Its hash.
    pub hash: B256,
    /// Its sender and recipient.
    pub parties: Parties,
    /// Why.
    pub reason: String,
}

/// Callers waiting per transaction, by waiter id.
type Waiters = B256Map<Vec<(u64, oneshot::Sender<WaitOutcome>)>>;

/// How many dropped/queued transaction statuses are remembered (oldest forgotten first).
/// Bounded so a flood of bad transactions cannot grow memory.
const STATUS_MEMORY: usize = 16_384;

/// What happened to a transaction that is not (yet) in a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxStatus {
    /// Waiting for a nonce gap to close.
    Queued {
        /// The nonce the sender must use first.
        missing_nonce: u64,
    },
    /// Dropped by the sequencer.
    Dropped {
        /// Why.
        reason: String,
    },
}

#[derive(Debug, Default)]
struct Statuses {
    map: B256Map<TxStatus>,
    order: VecDeque<B256>,
}

/// The feed (shared by the signer thread and the RPC server).
#[derive(Debug)]
pub struct Feed {
    sequencer: Address,
    live: broadcast::Sender<Arc<MiniBlockRecord>>,
    /// Dropped transactions, for `preconfirmations` subscribers.
    drops: broadcast::Sender<Arc<DropNotice>>,
    /// Callers waiting per transaction (several may wait for the same one), by waiter id.
    waiters: Mutex<Waiters>,
    waiting: AtomicUsize,
    next_waiter: AtomicU64,
    recent: Mutex<VecDeque<Arc<MiniBlockRecord>>>,
    recent_cap: usize,
    /// Number of the next mini-block to be published.
    next: AtomicU64,
    /// Number of the next mini-block no client has been told about: set as publishing
    /// starts, before any waiter or subscriber hears of it.
    announced: AtomicU64,
    /// Queued and dropped transactions, recorded before anyone is told of them, so a
    /// client that hears of a drop and asks `peregrine_getTransactionStatus` is answered
    /// the same.
    statuses: Mutex<Statuses>,
}

impl Feed {
    /// A feed of `sequencer`'s records, buffering `capacity` for subscribers, keeping the
    /// `recent` newest, starting at mini-block `next`.
    pub fn new(sequencer: Address, capacity: usize, recent: usize, next: u64) -> Self {
        Self {
            sequencer,
            live: broadcast::channel(capacity.max(1)).0,
            drops: broadcast::channel(capacity.max(1)).0,
            waiters: Mutex::new(B256Map::default()),
            waiting: AtomicUsize::new(0),
            next_waiter: AtomicU64::new(0),
            recent: Mutex::new(VecDeque::with_capacity(recent)),
            recent_cap: recent,
            next: AtomicU64::new(next),
            announced: AtomicU64::new(next),
            statuses: Mutex::new(Statuses::default()),
        }
    }

    /// What happened to a transaction that was queued or dropped.
    pub fn status(&self, hash: &B256) -> Option<TxStatus> {
        self.statuses.lock().map.get(hash).cloned()
    }

    fn set_status(&self, hash: B256, status: TxStatus) {
        let mut s = self.statuses.lock();
        if s.map.insert(hash, status).is_none() {
            s.order.push_back(hash);
            if s.order.len() > STATUS_MEMORY
                && let Some(old) = s.order.pop_front()
            {
                s.map.remove(&old);
            }
        }
    }

    /// The address that signs mini-block headers.
    pub fn sequencer(&self) -> Address {
        self.sequencer
    }

    /// A receiver of every mini-block published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<MiniBlockRecord>> {
        self.live.subscribe()
    }

    /// Number of the next mini-block to be published (all below it are published).
    pub fn next_number(&self) -> u64 {
        self.next.load(Ordering::Acquire)
    }

    /// Number of the next mini-block no client has been told about (every one below it
    /// may be known to a client). [`crate::Chain::pending_view`] waits until the pending
    /// view has applied all of them.
    pub fn announced_next(&self) -> u64 {
        self.announced.load(Ordering::Acquire)
    }

    /// A recent record by number, if still in the in-memory window.
    pub fn recent(&self, number: u64) -> Option<Arc<MiniBlockRecord>> {
        let recent = self.recent.lock();
        let first = recent.front()?.number();
        recent.get(number.checked_sub(first)? as usize).cloned()
    }

    /// Registers interest in `hash` (before submitting it, so the outcome cannot be
    /// missed). Returns the waiter's id (for [`Feed::cancel`]) and its receiver.
    pub fn wait_for(&self, hash: B256) -> (u64, oneshot::Receiver<WaitOutcome>) {
        let (tx, rx) = oneshot::channel();
        let id = self.next_waiter.fetch_add(1, Ordering::Relaxed);
        self.waiters.lock().entry(hash).or_default().push((id, tx));
        self.waiting.fetch_add(1, Ordering::AcqRel);
        (id, rx)
    }

    /// Forgets one waiter (timeout or refused submission); others for the same hash stay.
    pub fn cancel(&self, hash: &B256, id: u64) {
        let mut waiters = self.waiters.lock();
        if let Some(list) = waiters.get_mut(hash) {
            let before = list.len();
            list.retain(|(i, _)| *i != id);
            self.waiting
                .fetch_sub(before - list.len(), Ordering::AcqRel);
            if list.is_empty() {
                waiters.remove(hash);
            }
        }
    }

    fn take(
        &self,
        waiters: &mut B256Map<Vec<(u64, oneshot::Sender<WaitOutcome>)>>,
        hash: &B256,
    ) -> Vec<oneshot::Sender<WaitOutcome>> {
        match waiters.remove(hash) {
            Some(list) => {
                self.waiting.fetch_sub(list.len(), Ordering::AcqRel);
                list.into_iter().map(|(_, tx)| tx).collect()
            }
            None => Vec::new(),
        }
    }

    fn resolve(&self, hash: &B256, outcome: impl Fn() -> WaitOutcome) {
        if self.waiting.load(Ordering::Acquire) == 0 {
            return;
        }
        let taken = self.take(&mut self.waiters.lock(), hash);
        for tx in taken {
            let _ = tx.send(outcome());
        }
    }

    /// Publishes a signed mini-block to subscribers and waiters (the sequencer's log
    /// thread once it is durable; a replica once it is applied).
    pub fn publish(&self, signed: &SignedMiniBlock) {
        let record = &signed.record;
        self.announced.store(record.number() + 1, Ordering::Release);
        if self.waiting.load(Ordering::Acquire) > 0 {
            let mut waiters = self.waiters.lock();
            for (i, tx) in signed.mini.txs.iter().enumerate() {
                for w in self.take(&mut waiters, &tx.hash) {
                    let _ = w.send(WaitOutcome::Preconfirmed {
                        record: record.clone(),
                        index: i,
                        tx: Box::new(tx.clone()),
                        block: signed.mini.block,
                    });
                }
            }
        }
        {
            let mut recent = self.recent.lock();
            if recent.len() >= self.recent_cap {
                recent.pop_front();
            }
            recent.push_back(record.clone());
        }
        self.next.store(record.number() + 1, Ordering::Release);
        // No receiver is not an error: nobody subscribed.
        let _ = self.live.send(record.clone());
    }

    /// A transaction waits for a nonce gap: its status, and its sync waiter's answer.
    pub fn queued(&self, hash: &B256, missing_nonce: u64) {
        self.set_status(*hash, TxStatus::Queued { missing_nonce });
        self.resolve(hash, || WaitOutcome::Queued { missing_nonce });
    }

    /// A transaction was dropped: its status, its waiter's answer, and a drop notice.
    pub fn dropped(&self, hash: &B256, parties: Parties, reason: &str) {
        self.set_status(
            *hash,
            TxStatus::Dropped {
                reason: reason.to_string(),
            },
        );
        self.resolve(hash, || WaitOutcome::Dropped {
            reason: reason.to_string(),
        });
        // No receiver is not an error: nobody subscribed.
        let _ = self.drops.send(Arc::new(DropNotice {
            hash: *hash,
            parties,
            reason: reason.to_string(),
        }));
    }

    /// A receiver of every transaction dropped from now on.
    pub fn subscribe_drops(&self) -> broadcast::Receiver<Arc<DropNotice>> {
        self.drops.subscribe()
    }
}
