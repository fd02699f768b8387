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
pub struct Fees {
    /// Max fee per gas.
    pub max_fee: u128,
    /// Max priority fee per gas (the fee cap for legacy transactions).
    pub tip: u128,
}

impl Fees {
    /// Whether `self` raises both fees of `old` by at least [`PRICE_BUMP_PERCENT`].
    pub fn bumps(&self, old: &Fees) -> bool {
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
pub struct Inflight {
    by_hash: B256Map<Entry>,
    /// Each sender's nonces in flight, with the hash and fees holding each.
    by_sender: AddressMap<BTreeMap<u64, (B256, Fees)>>,
}

impl Inflight {
    /// Whether `hash` is in flight.
    pub fn contains(&self, hash: &B256) -> bool {
        self.by_hash.contains_key(hash)
    }

    /// Transactions `sender` has in flight.
    pub fn count(&self, sender: &Address) -> usize {
        self.by_sender.get(sender).map_or(0, BTreeMap::len)
    }

    /// The hash and fees of `sender`'s transaction with `nonce`, if one is in flight.
    pub fn at_nonce(&self, sender: &Address, nonce: u64) -> Option<(B256, Fees)> {
        self.by_sender.get(sender)?.get(&nonce).copied()
    }

    /// The hashes `sender` has in flight.
    pub fn hashes_of(&self, sender: &Address) -> Vec<B256> {
        self.by_sender
            .get(sender)
            .map(|nonces| nonces.values().map(|(hash, _)| *hash).collect())
            .unwrap_or_default()
    }

    /// Whether every nonce from `next` up to (not including) `nonce` is in flight for
    /// `sender`: then nothing holds a transaction with `nonce` back any more.
    pub fn gap_closed(&self, sender: &Address, next: u64, nonce: u64) -> bool {
        let Some(nonces) = self.by_sender.get(sender) else {
            return next >= nonce;
        };
        (next..nonce).all(|n| nonces.contains_key(&n))
    }

    /// Adds a transaction; `Err(())` if its hash is in flight already. A transaction with
    /// the same sender and nonce is displaced from the sender's slots (a replacement) and
    /// returned, for [`Inflight::undo_insert`]; its hash stays in flight until the loop
    /// drops it.
    #[allow(clippy::result_unit_err)] // the only failure has nothing to say but "already in"
    pub fn insert(
        &mut self,
        hash: B256,
        sender: Address,
        nonce: u64,
        fees: Fees,
    ) -> Result<Option<(B256, Fees)>, ()> {
        if self.by_hash.contains_key(&hash) {
            return Err(());
        }
        self.by_hash.insert(hash, Entry { sender, nonce });
        Ok(self
            .by_sender
            .entry(sender)
            .or_default()
            .insert(nonce, (hash, fees)))
    }

    /// Takes back an insert the ring refused: `hash` leaves, and the transaction it
    /// displaced, if any, holds its slot again.
    pub fn undo_insert(&mut self, hash: &B256, displaced: Option<(B256, Fees)>) {
        let Some(entry) = self.by_hash.get(hash).copied() else {
            return;
        };
        self.remove(hash);
        if let Some(old) = displaced
            && self.by_hash.contains_key(&old.0)
        {
            self.by_sender
                .entry(entry.sender)
                .or_default()
                .insert(entry.nonce, old);
        }
    }

    /// Forgets `hash` (executed and visible, dropped, or refused by the ring).
    pub fn remove(&mut self, hash: &B256) {
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
        assert_eq!(set.insert(old, A, 5, fees(100, 10)), Ok(None));
        assert!(
            set.insert(old, A, 5, fees(100, 10)).is_err(),
            "a hash is in flight once"
        );
        let displaced = set.insert(new, A, 5, fees(110, 11)).unwrap();
        assert_eq!(displaced, Some((old, fees(100, 10))));
        // Undone (the ring was full): the old one holds the slot again.
        set.undo_insert(&new, displaced);
        assert_eq!(set.at_nonce(&A, 5), Some((old, fees(100, 10))));
        assert!(!set.contains(&new));
        assert_eq!(set.insert(new, A, 5, fees(110, 11)), Ok(displaced));
        assert_eq!(set.count(&A), 1);
        set.remove(&old);
        assert_eq!(set.at_nonce(&A, 5), Some((new, fees(110, 11))));
        assert!(set.contains(&new) && !set.contains(&old));
        set.remove(&new);
        assert_eq!(set.count(&A), 0);
        assert!(set.by_sender.is_empty());
    }

    #[test]
    fn a_gap_is_closed_once_every_nonce_before_is_in_flight() {
        let mut set = Inflight::default();
        assert!(!set.gap_closed(&A, 3, 5));
        assert!(set.gap_closed(&A, 5, 5));
        set.insert(B256::repeat_byte(3), A, 3, fees(1, 1)).unwrap();
        assert!(!set.gap_closed(&A, 3, 5), "4 is missing");
        set.insert(B256::repeat_byte(4), A, 4, fees(1, 1)).unwrap();
        assert!(set.gap_closed(&A, 3, 5));
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
