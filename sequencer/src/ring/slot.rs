//! One cell of the ring: a sequence stamp plus possibly-uninitialized storage.

#![allow(unsafe_code)]

use std::mem::MaybeUninit;

use super::sync::{AtomicUsize, UnsafeCell};

/// A slot of the ring.
///
/// `stamp` encodes the slot's state (see invariant I2 in the module docs):
/// `stamp == p` means "empty, waiting for the write of position `p`",
/// `stamp == p + 1` means "holds the value written for position `p`".
///
/// Aligned to a cache line so that two neighbouring slots never share one: the
/// producer filling slot `p + 1` must not invalidate the line the consumer is
/// reading slot `p` from (a 64-byte payload plus its stamp would otherwise
/// straddle two lines shared with both neighbours).
#[repr(align(64))]
pub(super) struct Slot<T> {
    /// Sequence stamp; the only synchronization point between the writer of a
    /// position and the consumer.
    pub(super) stamp: AtomicUsize,
    /// The payload, initialized exactly when the stamp says "full" (I5).
    value: UnsafeCell<MaybeUninit<T>>,
}

impl<T> Slot<T> {
    /// A slot that is empty and waiting for position `pos` (its index, I2).
    pub(super) fn new(pos: usize) -> Self {
        Self {
            stamp: AtomicUsize::new(pos),
            value: UnsafeCell::new(MaybeUninit::uninit()),
        }
    }

    /// Moves `value` into the slot.
    ///
    /// # Safety
    /// The caller must have exclusive write access to this slot: it won the
    /// tail CAS for the slot's current position after observing the "empty"
    /// stamp with Acquire (I3), and has not yet published it. The slot is then
    /// uninitialized (I5), so nothing is overwritten without being dropped.
    #[inline(always)]
    pub(super) unsafe fn write(&self, value: T) {
        // SAFETY: the caller guarantees exclusive access (I3), so no other
        // reference to the cell's contents exists while we write through it.
        self.value
            .with_mut(|ptr| unsafe { ptr.write(MaybeUninit::new(value)) });
    }

    /// Moves the value out of the slot, leaving it logically uninitialized.
    ///
    /// # Safety
    /// The caller must be the single consumer (I4), must have observed the
    /// "full" stamp for this slot's position with Acquire (so the value is
    /// initialized and the write happened-before, I2/I5), and must mark the
    /// slot empty afterwards without reading it again.
    #[inline(always)]
    pub(super) unsafe fn take(&self) -> T {
        // SAFETY: per the caller's contract the cell holds an initialized
        // value published to us by the Release/Acquire stamp pair (I2, I5) and
        // no producer touches it until we store the next "empty" stamp (I4).
        self.value.with(|ptr| unsafe { ptr.read().assume_init() })
    }

    /// Drops the value in place.
    ///
    /// # Safety
    /// The caller must have exclusive access to the whole ring (I6) and the
    /// stamp must say "full" (I5).
    pub(super) unsafe fn drop_value(&self) {
        // SAFETY: exclusive access (I6) and an initialized value (I5) are
        // guaranteed by the caller; the value is never touched again.
        self.value
            .with_mut(|ptr| unsafe { (*ptr).assume_init_drop() });
    }
}
