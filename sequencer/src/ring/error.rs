//! Error types of the ring buffer.

use std::fmt;

/// Why [`channel`](super::channel) refused to build a ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RingError {
    /// The requested capacity is below the minimum of 2 slots.
    #[error("ring capacity {0} is too small: the minimum is 2")]
    CapacityTooSmall(usize),
    /// The requested capacity is not a power of two.
    #[error("ring capacity {0} is not a power of two")]
    CapacityNotPowerOfTwo(usize),
    /// The requested capacity exceeds [`MAX_CAPACITY`](super::MAX_CAPACITY).
    #[error("ring capacity {requested} exceeds the maximum of {max}")]
    CapacityTooLarge {
        /// The capacity that was asked for.
        requested: usize,
        /// The largest accepted capacity.
        max: usize,
    },
}

/// [`Producer::try_push`](super::Producer::try_push) found the ring full.
///
/// Carries the rejected value back to the caller so nothing is lost; get it
/// with [`RingFull::into_inner`] or the public field.
#[derive(Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("ring buffer full")]
pub struct RingFull<T>(pub T);

impl<T> RingFull<T> {
    /// Returns the value that could not be pushed.
    #[inline]
    pub fn into_inner(self) -> T {
        self.0
    }
}

// Manual impl: `RingFull<T>` must be `Debug` (hence an `Error`) for every `T`,
// not only for `T: Debug`, so `?` works with any payload.
impl<T> fmt::Debug for RingFull<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RingFull(..)")
    }
}

/// A string did not name a [`WaitStrategy`](super::WaitStrategy).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown wait strategy {input:?}: expected one of \"busy-spin\", \"yield\", \"park\"")]
pub struct ParseWaitStrategyError {
    /// The rejected input.
    pub input: String,
}
