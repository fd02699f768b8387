//! Per-transaction bookkeeping during the measured run: one slot of atomics per transaction,
//! written once per event by whichever task observes it, read by the statistics after the
//! drain. No lock and no allocation per transaction; only failures (rare) take the
//! error book's lock.
//!
//! Invariants:
//! 1. A slot's times are stored before the state bit that announces them (`Release`), and
//!    read after loading that bit (`Acquire`).
//! 2. A transaction *finishes* once: the first of `DONE` or `FAILED` to be set. Only that
//!    call returns `true`, so closed-loop refills and per-account gates advance exactly once.

use crate::error::{ErrorClass, RpcFailure};
use parking_lot::Mutex;
use std::{
    collections::HashMap,
    sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering},
    time::Instant,
};

/// Handed to a sender (its intended time is set).
pub(crate) const DISPATCHED: u8 = 1;
/// Written to the socket.
pub(crate) const SENT: u8 = 2;
/// The node accepted it (a hash, a receipt, or EIP-7966 code 4).
pub(crate) const ACCEPTED: u8 = 4;
/// Confirmed: preconfirmation, sync receipt or polled receipt.
pub(crate) const DONE: u8 = 8;
/// Refused or lost.
pub(crate) const FAILED: u8 = 16;
/// The confirming receipt has status 0.
pub(crate) const REVERTED: u8 = 32;

/// The node's stage timestamps of a preconfirmation, µs since the epoch.
#[derive(Debug, Clone, Copy, Default, serde::Deserialize)]
pub(crate) struct Stamps {
    pub(crate) received: u64,
    pub(crate) ordered: u64,
    pub(crate) executed: u64,
    pub(crate) signed: u64,
    pub(crate) sent: u64,
}

/// The run's time base: nanoseconds since the start, and the wall clock at the start.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    pub(crate) start: Instant,
    pub(crate) start_epoch_us: u64,
}

impl Clock {
    pub(crate) fn start() -> Self {
        Clock {
            start: Instant::now(),
            start_epoch_us: crate::rpc::epoch_us(),
        }
    }

    pub(crate) fn ns(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.start).as_nanos() as u64
    }

    pub(crate) fn now_ns(&self) -> u64 {
        self.ns(Instant::now())
    }
}

/// One transaction's record.
#[derive(Debug, Default)]
pub(crate) struct Slot {
    pub(crate) intended_ns: AtomicU64,
    pub(crate) sent_ns: AtomicU64,
    pub(crate) done_ns: AtomicU64,
    /// Wall clock when the confirmation arrived at the client, µs since the epoch.
    pub(crate) arrival_epoch_us: AtomicU64,
    /// received, ordered, executed, signed, sent (0: none).
    pub(crate) stamps: [AtomicU64; 5],
    pub(crate) state: AtomicU8,
    /// 1 + index into the error book; 0: no error.
    pub(crate) error: AtomicU32,
}

/// A point-in-time copy of a slot.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SlotView {
    pub(crate) state: u8,
    pub(crate) intended_ns: u64,
    pub(crate) sent_ns: u64,
    pub(crate) done_ns: u64,
    pub(crate) arrival_epoch_us: u64,
    pub(crate) stamps: Option<Stamps>,
    pub(crate) error: Option<u32>,
}

impl SlotView {
    pub(crate) fn has(&self, bit: u8) -> bool {
        self.state & bit != 0
    }
}

/// Distinct error kinds seen, with counts and one full message each.
#[derive(Debug, Default)]
pub(crate) struct ErrorBook {
    index: HashMap<ErrorClass, u32>,
    pub(crate) entries: Vec<(ErrorClass, String, u64)>,
}

impl ErrorBook {
    pub(crate) fn record(&mut self, failure: &RpcFailure) -> u32 {
        let class = failure.class();
        let i = *self.index.entry(class.clone()).or_insert_with(|| {
            self.entries.push((class, failure.to_string(), 0));
            (self.entries.len() - 1) as u32
        });
        self.entries[i as usize].2 += 1;
        i
    }
}

/// All slots and counters of a run.
#[derive(Debug)]
pub(crate) struct Tracker {
    pub(crate) clock: Clock,
    slots: Box<[Slot]>,
    pub(crate) errors: Mutex<ErrorBook>,
    dispatched: AtomicU64,
    finished: AtomicU64,
    done: AtomicU64,
    failed: AtomicU64,
}

impl Tracker {
    pub(crate) fn new(clock: Clock, count: usize) -> Self {
        Tracker {
            clock,
            slots: (0..count).map(|_| Slot::default()).collect(),
            errors: Mutex::new(ErrorBook::default()),
            dispatched: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            done: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    pub(crate) fn dispatched(&self, i: u32, intended_ns: u64) {
        let s = &self.slots[i as usize];
        s.intended_ns.store(intended_ns, Ordering::Relaxed);
        s.state.fetch_or(DISPATCHED, Ordering::Release);
        self.dispatched.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn sent(&self, i: u32, at: Instant) {
        let s = &self.slots[i as usize];
        s.sent_ns.store(self.clock.ns(at), Ordering::Relaxed);
        s.state.fetch_or(SENT, Ordering::Release);
    }

    pub(crate) fn accepted(&self, i: u32) {
        self.slots[i as usize]
            .state
            .fetch_or(ACCEPTED, Ordering::Release);
    }

    /// Records the confirmation; `true` if this finished the transaction.
    pub(crate) fn completed(
        &self,
        i: u32,
        at: Instant,
        arrival_epoch_us: u64,
        stamps: Option<Stamps>,
        succeeded: bool,
    ) -> bool {
        let s = &self.slots[i as usize];
        if s.state.load(Ordering::Acquire) & (DONE | FAILED) != 0 {
            return false;
        }
        s.done_ns.store(self.clock.ns(at), Ordering::Relaxed);
        s.arrival_epoch_us
            .store(arrival_epoch_us, Ordering::Relaxed);
        if let Some(st) = stamps {
            for (slot, v) in
                s.stamps
                    .iter()
                    .zip([st.received, st.ordered, st.executed, st.signed, st.sent])
            {
                slot.store(v, Ordering::Relaxed);
            }
        }
        let bits = ACCEPTED | DONE | if succeeded { 0 } else { REVERTED };
        let before = s.state.fetch_or(bits, Ordering::AcqRel);
        let first = before & (DONE | FAILED) == 0;
        if first {
            self.finished.fetch_add(1, Ordering::Relaxed);
            self.done.fetch_add(1, Ordering::Relaxed);
        }
        first
    }

    /// Records a failure; `true` if this finished the transaction.
    pub(crate) fn failed(&self, i: u32, at: Instant, failure: &RpcFailure) -> bool {
        let s = &self.slots[i as usize];
        if s.state.load(Ordering::Acquire) & (DONE | FAILED) != 0 {
            return false;
        }
        let e = self.errors.lock().record(failure);
        s.error.store(e + 1, Ordering::Relaxed);
        s.done_ns.store(self.clock.ns(at), Ordering::Relaxed);
        let bits = FAILED | if failure.was_accepted() { ACCEPTED } else { 0 };
        let before = s.state.fetch_or(bits, Ordering::AcqRel);
        let first = before & (DONE | FAILED) == 0;
        if first {
            self.finished.fetch_add(1, Ordering::Relaxed);
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
        first
    }

    pub(crate) fn view(&self, i: usize) -> SlotView {
        let s = &self.slots[i];
        let state = s.state.load(Ordering::Acquire);
        let stamps = [
            s.stamps[0].load(Ordering::Relaxed),
            s.stamps[1].load(Ordering::Relaxed),
            s.stamps[2].load(Ordering::Relaxed),
            s.stamps[3].load(Ordering::Relaxed),
            s.stamps[4].load(Ordering::Relaxed),
        ];
        SlotView {
            state,
            intended_ns: s.intended_ns.load(Ordering::Relaxed),
            sent_ns: s.sent_ns.load(Ordering::Relaxed),
            done_ns: s.done_ns.load(Ordering::Relaxed),
            arrival_epoch_us: s.arrival_epoch_us.load(Ordering::Relaxed),
            stamps: (stamps[0] != 0).then_some(Stamps {
                received: stamps[0],
                ordered: stamps[1],
                executed: stamps[2],
                signed: stamps[3],
                sent: stamps[4],
            }),
            error: match s.error.load(Ordering::Relaxed) {
                0 => None,
                e => Some(e - 1),
            },
        }
    }

    /// (dispatched, finished, done, failed) so far.
    pub(crate) fn counts(&self) -> (u64, u64, u64, u64) {
        (
            self.dispatched.load(Ordering::Relaxed),
            self.finished.load(Ordering::Relaxed),
            self.done.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transaction_finishes_once() {
        let t = Tracker::new(Clock::start(), 2);
        t.dispatched(0, 5);
        t.sent(0, Instant::now());
        assert!(t.completed(0, Instant::now(), 1, None, true));
        assert!(!t.completed(0, Instant::now(), 1, None, true));
        assert!(!t.failed(0, Instant::now(), &RpcFailure::Transport("x".into())));
        let fail = RpcFailure::Rpc {
            code: 4,
            message: "not preconfirmed in 2000 ms".into(),
        };
        assert!(t.failed(1, Instant::now(), &fail));
        assert!(!t.completed(1, Instant::now(), 1, None, true));
        assert_eq!(t.counts(), (1, 2, 1, 1));
        let v = t.view(1);
        assert!(v.has(FAILED) && v.has(ACCEPTED) && !v.has(DONE));
        assert_eq!(v.error, Some(0));
        assert_eq!(t.errors.lock().entries[0].2, 1);
        assert!(t.view(0).has(DONE));
    }
}
