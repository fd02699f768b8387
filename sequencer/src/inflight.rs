//! Transactions accepted by ingress and not yet in the pending view: in the ring, in the
//! sequencer loop's gap queue, or executed and on their way through the log.
//!
//! Ingress consults it to keep its answers honest: a resubmission is `already known`, a
//! second transaction with a nonce already in flight is a replacement (allowed only for
//! one held for a gap, with a fee bump, as pools do), and a sender's next nonce counts
//! what it has in flight. It lives behind the chain's mutex; ingress and the chain
//! service take it, the sequencer loop never does.

use alloy_primitives::{Address, B256, map::AddressMap, map::B256Map};
use std::collections::BTreeMap;

/// Percent by which a replacement must raise both the fee cap and the tip (geth's
/// `txpool.pricebump` default).
pub const PRICE_BUMP_PERCENT: u128 = 10;

/// The fees of a transaction in flight, for the replacement rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fees {
    /// Max fee per gas.
    pub(crate) max_fee: u128,
    /// Max priority fee per gas (the fee cap for legacy transactions).
    pub(crate) tip: u128,
}

impl Fees {
    /// Whether `self` raises both fees of `old` by at least [`PRICE_BUMP_PERCENT`].
    pub(crate) fn bumps(&self, old: &Fees) -> bool {
        let bumped = |old: u128| old.saturating_add(old.saturating_mul(PRICE_BUMP_PERCENT) / 100);
        self.max_fee >= bumped(old.max_fee) && self.tip >= bumped(old.tip)
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    sender: Address,
    nonce: u64,
}

/// The in-flight set.
#[derive(Debug, Default)]
pub(crate) struct Inflight {
    by_hash: B256Map<Entry>,
    /// Each sender's nonces in flight, with the hash and fees holding each.
    by_sender: AddressMap<BTreeMap<u64, (B256, Fees)>>,
}

impl Inflight {
    /// Whether `hash` is in flight.
    pub(crate) fn contains(&self, hash: &B256) -> bool {
        self.by_hash.contains_key(hash)
    }

    /// Transactions `sender` has in flight.
    pub(crate) fn count(&self, sender: &Address) -> usize {
        self.by_sender.get(sender).map_or(0, BTreeMap::len)
    }

    /// The hash and fees of `sender`'s transaction with `nonce`, if one is in flight.
    pub(crate) fn at_nonce(&self, sender: &Address, nonce: u64) -> Option<(B256, Fees)> {
        self.by_sender.get(sender)?.get(&nonce).copied()
    }

    /// The hashes `sender` has in flight.
    pub(crate) fn hashes_of(&self, sender: &Address) -> Vec<B256> {
        self.by_sender
            .get(sender)
            .map(|nonces| nonces.values().map(|(hash, _)| *hash).collect())
            .unwrap_or_default()
    }

    /// Adds a transaction; false if its hash is in flight already. A transaction with
    /// the same sender and nonce is displaced from the sender's slots (a replacement);
    /// its hash stays in flight until the loop drops it.
    pub(crate) fn insert(&mut self, hash: B256, sender: Address, nonce: u64, fees: Fees) -> bool {
        if self.by_hash.contains_key(&hash) {
            return false;
        }
        self.by_hash.insert(hash, Entry { sender, nonce });
        self.by_sender
            .entry(sender)
            .or_default()
            .insert(nonce, (hash, fees));
        true
    }

    /// Forgets `hash` (executed and visible, dropped, or refused by the ring).
    pub(crate) fn remove(&mut self, hash: &B256) {
        let Some(entry) = self.by_hash.remove(hash) else {
            return;
        };
        if let Some(nonces) = self.by_sender.get_mut(&entry.sender) {
            // A replacement may hold the slot now: leave it.
            if nonces.get(&entry.nonce).is_some_and(|(h, _)| h == hash) {
                nonces.remove(&entry.nonce);
            }
            if nonces.is_empty() {
                self.by_sender.remove(&entry.sender);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Address = Address::repeat_byte(0xaa);

    fn fees(max_fee: u128, tip: u128) -> Fees {
        Fees { max_fee, tip }
    }

    #[test]
    fn a_replacement_keeps_the_slot_when_the_replaced_hash_leaves() {
        let mut set = Inflight::default();
        let (old, new) = (B256::repeat_byte(1), B256::repeat_byte(2));
        assert!(set.insert(old, A, 5, fees(100, 10)));
        assert!(
            !set.insert(old, A, 5, fees(100, 10)),
            "a hash is in flight once"
        );
        assert!(set.insert(new, A, 5, fees(110, 11)));
        assert_eq!(set.count(&A), 1);
        set.remove(&old);
        assert_eq!(set.at_nonce(&A, 5), Some((new, fees(110, 11))));
        assert!(set.contains(&new) && !set.contains(&old));
        set.remove(&new);
        assert_eq!(set.count(&A), 0);
        assert!(set.by_sender.is_empty());
    }

    #[test]
    fn a_bump_raises_both_fees_by_ten_percent() {
        let old = fees(1_000, 100);
        assert!(fees(1_100, 110).bumps(&old));
        assert!(!fees(1_099, 110).bumps(&old));
        assert!(!fees(2_000, 109).bumps(&old));
        assert!(fees(u128::MAX, u128::MAX).bumps(&fees(u128::MAX, u128::MAX)));
    }
}
