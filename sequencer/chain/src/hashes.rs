//! Recent block hashes, for the `BLOCKHASH` opcode.
//!
//! Blocks are sealed (hashed) by the chain service, off the sequencer core; the sequencer
//! loop only asks for a hash when a contract executes `BLOCKHASH`, which is rare, so a
//! mutex here is off the per-transaction path.

use alloy_primitives::B256;
use parking_lot::{Condvar, Mutex};
use std::{
    collections::BTreeMap,
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

/// How many recent hashes are kept (the EVM can only see the last 256).
const KEEP: u64 = 256;
/// Longest wait for a block that is still being sealed. Generous on purpose: the answer
/// must not depend on how fast sealing is (replay must see what the live run saw), so
/// giving up is only for a chain service that died, and is logged.
const MAX_WAIT: Duration = Duration::from_secs(60);

/// The last 256 block hashes.
#[derive(Debug, Default)]
pub struct BlockHashes {
    inner: Mutex<BTreeMap<u64, B256>>,
    sealed: Condvar,
    /// Set when the chain service stopped: nothing more will be sealed.
    closed: AtomicBool,
}

impl BlockHashes {
    /// Records the hash of a sealed block.
    pub fn insert(&self, number: u64, hash: B256) {
        let mut map = self.inner.lock();
        map.insert(number, hash);
        while map.len() as u64 > KEEP {
            map.pop_first();
        }
        self.sealed.notify_all();
    }

    /// Says that nothing more will be sealed (the chain service stopped), so waiters
    /// give up at once instead of at the timeout.
    pub fn close(&self) {
        let _map = self.inner.lock();
        self.closed.store(true, Ordering::Release);
        self.sealed.notify_all();
    }

    /// The hash of block `number`, if known.
    pub fn get(&self, number: u64) -> Option<B256> {
        self.inner.lock().get(&number).copied()
    }

    /// The hash of block `number`, waiting at most `wait` for it to be sealed; `None`
    /// past that, or once the chain service stopped, or for a block older than the window.
    pub fn wait_within(&self, number: u64, wait: Duration) -> Option<B256> {
        let mut map = self.inner.lock();
        let deadline = std::time::Instant::now() + wait;
        loop {
            if let Some(hash) = map.get(&number) {
                return Some(*hash);
            }
            let newest = map.last_key_value().map(|(n, _)| *n);
            if newest.is_some_and(|n| n > number)
                || self.closed.load(Ordering::Acquire)
                || self.sealed.wait_until(&mut map, deadline).timed_out()
            {
                return map.get(&number).copied();
            }
        }
    }

    /// The hash of block `number`, waiting (bounded) for a block still being sealed.
    /// Returns zero for blocks older than the window.
    pub fn wait_for(&self, number: u64) -> B256 {
        let mut map = self.inner.lock();
        let deadline = std::time::Instant::now() + MAX_WAIT;
        loop {
            if let Some(hash) = map.get(&number) {
                return *hash;
            }
            let newest = map.last_key_value().map(|(n, _)| *n);
            if newest.is_some_and(|n| n > number) || self.closed.load(Ordering::Acquire) {
                return B256::ZERO;
            }
            if self.sealed.wait_until(&mut map, deadline).timed_out() {
                tracing::error!(
                    block = number,
                    "BLOCKHASH: block not sealed within {MAX_WAIT:?}; answering zero (replay of this mini-block would diverge and stop start-up)"
                );
                return B256::ZERO;
            }
        }
    }
}
