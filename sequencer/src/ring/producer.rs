//! The producer handle: many of them, any thread, lock-free `try_push`.

#![allow(unsafe_code)]

use std::fmt;

use super::Ring;
use super::error::RingFull;
use super::sync::{Arc, Ordering, spin_loop};

/// Sending end of the ring. Cheap to clone; every clone may push concurrently.
///
/// `try_push` is lock-free and never blocks, allocates or makes a syscall: it
/// either claims a slot or reports [`RingFull`] immediately.
pub struct Producer<T> {
    ring: Arc<Ring<T>>,
}

impl<T> Producer<T> {
    pub(super) fn new(ring: Arc<Ring<T>>) -> Self {
        Self { ring }
    }

    /// Pushes `value`, or gives it back in [`RingFull`] when all `capacity`
    /// slots are taken (claimed by a producer and not yet popped).
    ///
    /// A full ring is detected without claiming anything, so a failed push
    /// leaves no trace. Items pushed by one producer handle (or, generally,
    /// pushes ordered by happens-before) are popped in push order.
    ///
    /// # Errors
    /// [`RingFull`] carrying `value` when the ring is full.
    #[inline]
    pub fn try_push(&self, value: T) -> Result<(), RingFull<T>> {
        let ring = &*self.ring;
        // O3: Relaxed, the tail only arbitrates ownership.
        let mut tail = ring.tail.load(Ordering::Relaxed);
        loop {
            let slot = ring.slot(tail);
            // O2: Acquire pairs with the consumer's Release "empty" stamp.
            let stamp = slot.stamp.load(Ordering::Acquire);
            // Signed distance between the slot's stamp and our position; a
            // wrapping difference interpreted as isize (|diff| < MAX_CAPACITY
            // is far below isize::MAX, I1).
            let diff = stamp.wrapping_sub(tail) as isize;
            if diff == 0 {
                // Empty for `tail` (I2): try to claim it (O3).
                match ring.tail.compare_exchange_weak(
                    tail,
                    tail.wrapping_add(1),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        // SAFETY: we saw stamp == tail with Acquire and won the
                        // CAS tail -> tail + 1, so we are the unique writer of
                        // this slot until we publish it (I3) and the cell is
                        // uninitialized (I5).
                        unsafe { slot.write(value) };
                        // O1: Release publishes the value to the consumer.
                        slot.stamp.store(tail.wrapping_add(1), Ordering::Release);
                        return Ok(());
                    }
                    Err(current) => {
                        tail = current;
                        spin_loop();
                    }
                }
            } else if diff < 0 {
                // The slot still belongs to position `tail - capacity`, which
                // is claimed but not popped yet: head <= tail - capacity, and
                // the real tail is >= our `tail`, so the ring is full (I2).
                return Err(RingFull(value));
            } else {
                // Another producer already claimed `tail`: reload and retry.
                spin_loop();
                tail = ring.tail.load(Ordering::Relaxed);
            }
        }
    }

    /// Number of slots.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.ring.capacity()
    }

    /// Approximate number of items in the ring (for metrics): the consumer
    /// publishes its head once per pop / per [`drain_into`] batch.
    ///
    /// [`drain_into`]: super::Consumer::drain_into
    pub fn len(&self) -> usize {
        self.ring.len()
    }

    /// Whether [`len`](Self::len) is zero (same approximation).
    pub fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }
}

// Manual impl: cloning a handle must not require `T: Clone`.
impl<T> Clone for Producer<T> {
    fn clone(&self) -> Self {
        Self {
            ring: Arc::clone(&self.ring),
        }
    }
}

impl<T> fmt::Debug for Producer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Producer")
            .field("capacity", &self.capacity())
            .field("len", &self.len())
            .finish()
    }
}
