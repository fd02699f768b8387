//! The consumer handle: exactly one, owned by the sequencer thread.

#![allow(unsafe_code)]

use std::fmt;
use std::time::Instant;

use super::Ring;
use super::sync::{Arc, Ordering};
use super::wait::WaitStrategy;

/// How many busy-spin steps [`Consumer::pop_wait`] takes between two looks at
/// the clock (reading the clock costs about as much as a handoff).
const SPINS_PER_CLOCK_CHECK: u32 = 64;

/// Receiving end of the ring. There is exactly one (it is not `Clone`), and
/// every operation takes `&mut self`, which is what makes the head private
/// (invariant I4).
pub struct Consumer<T> {
    ring: Arc<Ring<T>>,
    /// Next position to pop; authoritative copy (the ring's `head` is a
    /// mirror for metrics, O4).
    head: usize,
}

impl<T> Consumer<T> {
    pub(super) fn new(ring: Arc<Ring<T>>) -> Self {
        Self { ring, head: 0 }
    }

    /// Pops the oldest item if one is ready, without waiting.
    ///
    /// Returns `None` when the ring is empty or when the next position is
    /// claimed by a producer that has not finished writing it yet.
    #[inline]
    pub fn try_pop(&mut self) -> Option<T> {
        let value = self.pop_unpublished()?;
        // O4: metrics mirror only.
        self.ring.head.store(self.head, Ordering::Relaxed);
        Some(value)
    }

    /// Pops up to `max` ready items, calling `f` on each in order, and returns
    /// how many were popped. Stops early at the first position not yet
    /// published. The shared head mirror is updated once per batch.
    ///
    /// If `f` panics, the item it was given is dropped by the unwinding and
    /// the ring stays consistent (the head is advanced before `f` runs).
    #[inline]
    pub fn drain_into(&mut self, max: usize, mut f: impl FnMut(T)) -> usize {
        let mut popped = 0;
        while popped < max {
            let Some(value) = self.pop_unpublished() else {
                break;
            };
            popped += 1;
            f(value);
        }
        if popped > 0 {
            // O4: one store per batch.
            self.ring.head.store(self.head, Ordering::Relaxed);
        }
        popped
    }

    /// Pops one item, idling with `strategy` while the ring is empty, until
    /// `deadline` (forever when `None`). Returns `None` once the deadline has
    /// passed with the ring still empty; a deadline in the past makes this a
    /// single poll.
    pub fn pop_wait(&mut self, strategy: WaitStrategy, deadline: Option<Instant>) -> Option<T> {
        let mut spins = 0u32;
        loop {
            if let Some(value) = self.try_pop() {
                return Some(value);
            }
            let budget = match deadline {
                None => None,
                Some(deadline) => {
                    if strategy == WaitStrategy::BusySpin {
                        spins = spins.wrapping_add(1);
                        if spins % SPINS_PER_CLOCK_CHECK != 1 {
                            strategy.idle(None);
                            continue;
                        }
                    }
                    let now = Instant::now();
                    if now >= deadline {
                        return None;
                    }
                    Some(deadline - now)
                }
            };
            strategy.idle(budget);
        }
    }

    /// Whether no position is claimed and not yet popped (`len() == 0`).
    ///
    /// Conservative for shutdown drains: while a producer is between claiming
    /// a slot and publishing it, this is `false` even though `try_pop` still
    /// returns `None` for that short moment.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of claimed, not yet popped positions (clamped to capacity).
    /// Exact head, approximate tail (producers may be mid-push).
    pub fn len(&self) -> usize {
        // O3: Relaxed; see `Ring::occupancy` for the clamp.
        let tail = self.ring.tail.load(Ordering::Relaxed);
        self.ring.occupancy(self.head, tail)
    }

    /// Number of slots.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.ring.capacity()
    }

    /// Pops the item at `head` if published, advancing the private head but
    /// not the shared mirror.
    #[inline(always)]
    fn pop_unpublished(&mut self) -> Option<T> {
        let ring = &*self.ring;
        let head = self.head;
        let slot = ring.slot(head);
        // O1: Acquire pairs with the producer's Release "full" stamp.
        let stamp = slot.stamp.load(Ordering::Acquire);
        if stamp != head.wrapping_add(1) {
            // Empty for `head` (I2): nothing published yet.
            debug_assert_eq!(stamp, head, "corrupt stamp (I2)");
            return None;
        }
        // SAFETY: we are the single consumer (I4, `&mut self`), and we observed
        // stamp == head + 1 with Acquire, so the cell holds the initialized
        // value of position `head` whose write happens-before us (I2, I5, O1).
        let value = unsafe { slot.take() };
        // O2: Release hands the emptied cell to the writer of the next lap.
        slot.stamp
            .store(head.wrapping_add(ring.capacity()), Ordering::Release);
        self.head = head.wrapping_add(1);
        Some(value)
    }
}

impl<T> fmt::Debug for Consumer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("capacity", &self.capacity())
            .field("head", &self.head)
            .field("len", &self.len())
            .finish()
    }
}
