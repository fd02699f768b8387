//! Lock-free multi-producer / single-consumer bounded ring buffer.
//!
//! This is the handoff between the many ingress tasks (producers) and the one
//! sequencer thread (consumer). It is a Vyukov bounded queue specialised for a
//! single consumer, in the Disruptor spirit: all storage is allocated up front,
//! positions are monotonically increasing sequence numbers mapped onto slots by
//! `position & mask`, and every slot carries its own atomic sequence *stamp*
//! that tells producers and the consumer whose turn it is.
//!
//! ```text
//!   producers ──CAS tail──▶ [ slot 0 | slot 1 | ... | slot cap-1 ] ──▶ consumer (local head)
//!                               stamp    stamp          stamp
//! ```
//!
//! * A producer reads the tail `t`, looks at slot `t & mask` and, if its stamp
//!   says "empty for position `t`", claims `t` with a CAS `t → t + 1` on the
//!   tail, writes the value and publishes it by storing stamp `t + 1`. If the
//!   stamp is *behind* `t` the slot still holds (or is about to hold) the item
//!   of position `t - capacity`: the ring is full and the push fails without
//!   claiming anything, so a full ring never overshoots.
//! * The consumer owns the head privately (it is the only reader). It pops
//!   position `h` when slot `h & mask` carries stamp `h + 1`, moves the value
//!   out and frees the slot for the next lap by storing stamp `h + capacity`.
//!   The head is also mirrored into a shared atomic, only for [`Producer::len`]
//!   metrics; [`Consumer::drain_into`] publishes it once per batch.
//! * The producer path is a handful of atomic instructions: no locks, no
//!   syscalls, no wakeups. The consumer waits with a [`WaitStrategy`]
//!   (spin / yield / bounded park); producers never unpark it.
//! * Cursors live in separate [`CachePadded`] atomics so the contended tail, the
//!   metrics head and the read-only slot table never share a cache line.
//!
//! # Invariants
//!
//! * **I1 (geometry)** — `capacity` is a power of two in `2..=MAX_CAPACITY`
//!   and `mask == capacity - 1`; position `p` always lives in slot
//!   `p & mask`, and the slot table never moves or changes length.
//! * **I2 (stamp protocol)** — for the slot of position `p`, stamp `== p`
//!   means *empty, reserved for the writer of `p`*, and stamp `== p + 1`
//!   means *full with the value of `p`*. A stamp only moves forward: `p → p + 1`
//!   by the producer that claimed `p`, and `p + 1 → p + capacity` by the
//!   consumer after taking the value (which is "empty for `p + capacity`").
//! * **I3 (single writer)** — a producer writes the slot of position `p` only
//!   after it observed stamp `== p` (Acquire) and then won the tail CAS
//!   `p → p + 1`. The tail's modification order makes that winner unique, and
//!   nobody else touches the cell until it stores stamp `p + 1`.
//! * **I4 (single reader)** — only the [`Consumer`] (not `Clone`, `&mut self`
//!   methods) reads slot cells, only for position `head` after observing stamp
//!   `== head + 1` (Acquire), moves the value out exactly once, then stores
//!   stamp `head + capacity` (Release) and advances `head`.
//! * **I5 (initialization)** — the cell of slot `i` holds an initialized value
//!   iff its stamp `s` satisfies `(s - 1) & mask == i` ("full"); it is
//!   uninitialized iff `s & mask == i` ("empty"). With `capacity >= 2` the two
//!   are disjoint. Writing a value is a plain move that cannot panic, so every
//!   claimed position is published (no "claimed forever" slots).
//! * **I6 (teardown)** — the [`Ring`] is shared through an `Arc` by all handles
//!   and dropped only after the last one; its `Drop` therefore has exclusive
//!   access and drops exactly the cells that I5 says are full.
//!
//! # Memory orderings
//!
//! * **O1** — producer's **Release** store of stamp `p + 1` (after writing the
//!   value) pairs with the consumer's **Acquire** load of that stamp: the value
//!   write happens-before the consumer's read (I2, I4).
//! * **O2** — consumer's **Release** store of stamp `p + capacity` (after moving
//!   the value out) pairs with the producer's **Acquire** load of the stamp
//!   before it claims `p + capacity`: the consumer's read happens-before the
//!   next write of that cell (I2, I3).
//! * **O3** — the tail load and the tail CAS are **Relaxed**: the tail only
//!   arbitrates *which* producer owns a position (atomicity of the RMW on one
//!   location, I3); no data is published through it, all data visibility goes
//!   through O1/O2.
//! * **O4** — the mirrored head is stored and loaded **Relaxed**: it only feeds
//!   the approximate `len()`; nothing synchronizes through it.
//! * **O5** — teardown relies on `Arc`'s own Release decrement / Acquire fence
//!   pairing, which makes every handle's operations happen-before `Drop` (I6);
//!   the stamps are then read Relaxed.
//!
//! # Example
//!
//! ```
//! use peregrine_sequencer::ring::{self, WaitStrategy};
//!
//! let (tx, mut rx) = ring::channel::<u64>(1024).unwrap();
//! let tx2 = tx.clone();
//! tx.try_push(1).unwrap();
//! tx2.try_push(2).unwrap();
//! let mut seen = Vec::new();
//! rx.drain_into(16, |v| seen.push(v));
//! assert_eq!(seen, [1, 2]);
//! assert_eq!(rx.pop_wait(WaitStrategy::Yield, Some(std::time::Instant::now())), None);
//! ```

#![allow(unsafe_code)]

mod consumer;
mod error;
mod producer;
mod slot;
mod sync;
mod wait;

#[cfg(all(test, feature = "loom"))]
mod loom_tests;
#[cfg(all(test, not(feature = "loom")))]
mod tests;

use std::fmt;

use crossbeam_utils::CachePadded;

pub use consumer::Consumer;
pub use error::{ParseWaitStrategyError, RingError, RingFull};
pub use producer::Producer;
pub use wait::{DEFAULT_PARK_TIMEOUT, SEALING_PARK, WaitStrategy};

use slot::Slot;
use sync::{Arc, AtomicUsize, Ordering};

/// Largest capacity [`channel`] accepts (2^30 slots).
///
/// Far beyond any sensible handoff size; it also keeps every stamp difference
/// well inside `isize`, which the full/stale test relies on.
pub const MAX_CAPACITY: usize = 1 << 30;

/// Creates a ring with `capacity` slots and returns its two ends.
///
/// `capacity` must be a power of two in `2..=MAX_CAPACITY` (I1). All slots are
/// allocated here; pushing and popping never allocate.
///
/// # Errors
/// [`RingError`] when the capacity is out of range or not a power of two.
pub fn channel<T>(capacity: usize) -> Result<(Producer<T>, Consumer<T>), RingError> {
    let ring = Arc::new(Ring::with_capacity(capacity)?);
    Ok((Producer::new(Arc::clone(&ring)), Consumer::new(ring)))
}

/// Shared storage of a ring: the slot table and the cursors.
///
/// Not used directly: build one with [`channel`] (or [`Ring::channel`]) and
/// use the [`Producer`] / [`Consumer`] handles, which share it.
pub struct Ring<T> {
    /// Next position to claim (producers, CAS). Relaxed (O3).
    tail: CachePadded<AtomicUsize>,
    /// Mirror of the consumer's head, for `len()` only (O4).
    head: CachePadded<AtomicUsize>,
    /// The slots; `slots.len() == mask + 1` (I1). Read-only after creation.
    slots: Box<[Slot<T>]>,
    /// `capacity - 1` (I1).
    mask: usize,
}

// SAFETY: `Ring` hands out `T`s across threads, so it needs `T: Send`; no `&T`
// is ever shared between threads (values are moved in and moved out), so
// `T: Sync` is not required. Concurrent access to the cells is serialized by
// the stamp protocol: one writer per position (I3), one reader (I4), with
// happens-before edges O1/O2 between them, and teardown is exclusive (I6).
unsafe impl<T: Send> Sync for Ring<T> {}

// `Send` is derived automatically (`UnsafeCell<MaybeUninit<T>>: Send` iff
// `T: Send`), so no manual impl is needed for it.

impl<T> Ring<T> {
    /// Same as the free function [`channel`].
    ///
    /// # Errors
    /// [`RingError`] when the capacity is out of range or not a power of two.
    pub fn channel(capacity: usize) -> Result<(Producer<T>, Consumer<T>), RingError> {
        channel(capacity)
    }

    /// Validates `capacity` (I1) and allocates the slots, all empty.
    fn with_capacity(capacity: usize) -> Result<Self, RingError> {
        if capacity < 2 {
            return Err(RingError::CapacityTooSmall(capacity));
        }
        if !capacity.is_power_of_two() {
            return Err(RingError::CapacityNotPowerOfTwo(capacity));
        }
        if capacity > MAX_CAPACITY {
            return Err(RingError::CapacityTooLarge {
                requested: capacity,
                max: MAX_CAPACITY,
            });
        }
        let slots: Box<[Slot<T>]> = (0..capacity).map(Slot::new).collect();
        Ok(Self {
            tail: CachePadded::new(AtomicUsize::new(0)),
            head: CachePadded::new(AtomicUsize::new(0)),
            slots,
            mask: capacity - 1,
        })
    }

    /// Number of slots.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.mask + 1
    }

    /// Approximate number of items inside (claimed and not yet popped),
    /// clamped to `0..=capacity`. For metrics only.
    pub fn len(&self) -> usize {
        // O4: both loads Relaxed; the two cursors are not read atomically
        // together, hence the clamp.
        let head = self.head.load(Ordering::Relaxed);
        let tail = self.tail.load(Ordering::Relaxed);
        self.occupancy(head, tail)
    }

    /// Whether [`len`](Self::len) is zero (same approximation).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `tail - head` clamped to `0..=capacity` (wrapping-safe).
    #[inline]
    fn occupancy(&self, head: usize, tail: usize) -> usize {
        let diff = tail.wrapping_sub(head) as isize;
        diff.clamp(0, self.capacity() as isize) as usize
    }

    /// The slot of position `pos` (I1).
    #[inline(always)]
    fn slot(&self, pos: usize) -> &Slot<T> {
        &self.slots[pos & self.mask]
    }
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        if !std::mem::needs_drop::<T>() {
            return;
        }
        for (index, slot) in self.slots.iter().enumerate() {
            // O5: `&mut self` after the last `Arc` is gone; Relaxed suffices.
            let stamp = slot.stamp.load(Ordering::Relaxed);
            if stamp.wrapping_sub(1) & self.mask == index {
                // SAFETY: the stamp says "full" so the cell is initialized
                // (I5), and `Drop` has exclusive access to the ring (I6).
                unsafe { slot.drop_value() };
            }
        }
    }
}

impl<T> fmt::Debug for Ring<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ring")
            .field("capacity", &self.capacity())
            .field("len", &self.len())
            .finish()
    }
}
