//! Buffers that return to the sequencer loop when their last user drops them.
//!
//! A closed mini-block carries vectors (its transactions, its state-change log) to the
//! log thread, the chain service and the feed, which drop them whenever they are done,
//! on their own threads. Allocating fresh ones for every mini-block would put a heap
//! allocation per transaction on the sequencer core at low load, where each mini-block
//! holds one transaction. Instead each buffer is [`Recycled`]: dropping it clears it
//! (its elements are freed on the dropping thread) and hands the emptied buffer, with
//! its capacity, back to its [`Pool`], from which the loop takes the next one.
//!
//! The pool is a bounded lock-free channel the loop only polls: taking never blocks and
//! returning never wakes anybody, so neither side makes a syscall. A full pool drops the
//! surplus buffer; an empty one makes the loop allocate (at start-up, until buffers
//! come back).

use crossbeam_channel::{Receiver, Sender};
use std::ops::{Deref, DerefMut};

/// A buffer that can be emptied for reuse, keeping its capacity.
pub trait Recyclable: Default {
    /// Empties the buffer, keeping its allocation.
    fn reset(&mut self);
}

impl<T> Recyclable for Vec<T> {
    fn reset(&mut self) {
        self.clear();
    }
}

/// Buffers of one kind waiting to be reused. Cloning gives another handle to the same pool.
#[derive(Debug, Clone)]
pub struct Pool<T> {
    returns: Sender<T>,
    ready: Receiver<T>,
}

impl<T: Recyclable> Pool<T> {
    /// A pool that keeps at most `capacity` idle buffers.
    pub fn new(capacity: usize) -> Self {
        let (returns, ready) = crossbeam_channel::bounded(capacity.max(1));
        Self { returns, ready }
    }

    /// An empty buffer: a returned one when there is one, else a new (unallocated) one.
    /// Its drop brings it back here.
    pub fn take(&self) -> Recycled<T> {
        Recycled {
            value: self.ready.try_recv().unwrap_or_default(),
            home: Some(self.returns.clone()),
        }
    }

    /// Idle buffers in the pool.
    pub fn idle(&self) -> usize {
        self.ready.len()
    }
}

/// A buffer on loan from a [`Pool`]: it dereferences to the buffer and goes back, emptied,
/// when dropped. A clone is an ordinary copy that belongs to no pool.
#[derive(Debug, Default)]
pub struct Recycled<T: Recyclable> {
    value: T,
    home: Option<Sender<T>>,
}

impl<T: Recyclable> Recycled<T> {
    /// A buffer that belongs to no pool (dropped normally).
    pub fn detached(value: T) -> Self {
        Self { value, home: None }
    }
}

impl<T: Recyclable + Clone> Clone for Recycled<T> {
    fn clone(&self) -> Self {
        Self::detached(self.value.clone())
    }
}

/// Compares the buffers, whatever pool they belong to.
impl<T: Recyclable + PartialEq> PartialEq for Recycled<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<T: Recyclable + Eq> Eq for Recycled<T> {}

impl<T: Recyclable> Deref for Recycled<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: Recyclable> DerefMut for Recycled<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

impl<'a, T> IntoIterator for &'a Recycled<Vec<T>> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.value.iter()
    }
}

impl<T: Recyclable> Drop for Recycled<T> {
    fn drop(&mut self) {
        if let Some(home) = self.home.take() {
            let mut value = std::mem::take(&mut self.value);
            value.reset();
            // A full pool (or a stopped loop) just lets this one go.
            let _ = home.try_send(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_buffer_comes_back_empty_with_its_capacity() {
        let pool: Pool<Vec<u64>> = Pool::new(2);
        let mut v = pool.take();
        v.extend(0..100);
        let ptr = v.as_ptr();
        let other_thread = std::thread::spawn(move || drop(v));
        other_thread.join().unwrap();
        assert_eq!(pool.idle(), 1);
        let again = pool.take();
        assert!(again.is_empty());
        assert!(again.capacity() >= 100);
        assert_eq!(again.as_ptr(), ptr, "the same allocation is reused");
    }

    #[test]
    fn clones_and_surplus_buffers_are_dropped_normally() {
        let pool: Pool<Vec<u64>> = Pool::new(1);
        let (mut a, mut b) = (pool.take(), pool.take());
        a.push(1);
        b.push(2);
        let copy = a.clone();
        assert_eq!(*copy, vec![1]);
        drop(copy);
        assert_eq!(pool.idle(), 0, "a clone belongs to no pool");
        drop(a);
        drop(b);
        assert_eq!(pool.idle(), 1, "the pool keeps at most its capacity");
        assert_eq!(*pool.take(), Vec::<u64>::new());
    }
}
