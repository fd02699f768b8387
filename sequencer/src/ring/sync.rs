//! Synchronization shim: loom primitives under `feature = "loom"`, std otherwise.
//!
//! The ring only touches atomics, cells, `Arc` and the wait hints through this
//! module, so the exact same algorithm is what loom model-checks.
//!
//! Note: with `feature = "loom"` enabled the ring may only be used inside
//! `loom::model` (loom primitives panic elsewhere); the feature exists for the
//! model-checking tests only and must never be enabled in a real build.

#![allow(unsafe_code)]

#[cfg(feature = "loom")]
mod imp {
    pub(crate) use loom::cell::UnsafeCell;
    pub(crate) use loom::hint::spin_loop;
    pub(crate) use loom::sync::Arc;
    pub(crate) use loom::sync::atomic::{AtomicUsize, Ordering};
    pub(crate) use loom::thread::yield_now;

    /// Loom has no timed park; a yield gives the model the same "let someone
    /// else run" branch without blocking the model's scheduler.
    pub(crate) fn park_timeout(_max: std::time::Duration) {
        loom::thread::yield_now();
    }
}

#[cfg(not(feature = "loom"))]
mod imp {
    pub(crate) use std::hint::spin_loop;
    pub(crate) use std::sync::Arc;
    pub(crate) use std::sync::atomic::{AtomicUsize, Ordering};
    pub(crate) use std::thread::{park_timeout, yield_now};

    /// `std::cell::UnsafeCell` with loom's closure-based access API, so call
    /// sites are identical under both configurations. Zero cost: both
    /// accessors are `#[inline(always)]` and hand out the raw pointer.
    #[derive(Debug)]
    #[repr(transparent)]
    pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        /// Wraps `value`.
        #[inline(always)]
        pub(crate) const fn new(value: T) -> Self {
            Self(std::cell::UnsafeCell::new(value))
        }

        /// Shared (read) access to the contents through a raw pointer.
        #[inline(always)]
        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }

        /// Exclusive (write) access to the contents through a raw pointer.
        #[inline(always)]
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }
}

pub(crate) use imp::*;
