//! State diffs: what one mini-block changed, enough for a replica to apply it without
//! re-executing.
//!
//! The sequencer loop records a mini-block's changes in a [`DiffLog`]: flat vectors that
//! keep their capacity from one mini-block to the next (they come back through
//! [`crate::recycle`]), so recording costs the loop no allocation. The log thread turns
//! the log into the sorted [`StateDiff`] that is signed, published and applied.

use alloy_primitives::{Address, B256, Bytes, U256};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::recycle::Recyclable;

/// The new state of one account after a mini-block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountChange {
    /// New account fields, or `None` when the account was deleted (self-destruct, EIP-161).
    pub info: Option<AccountFields>,
    /// The account's storage was wiped before `storage` applies (creation or deletion).
    pub storage_cleared: bool,
    /// Changed storage slots and their new values (zero means deleted).
    pub storage: BTreeMap<U256, U256>,
}

/// Account fields that live in the state trie.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountFields {
    /// Account nonce.
    pub nonce: u64,
    /// Balance in wei.
    pub balance: U256,
    /// Keccak-256 of the account's code.
    pub code_hash: B256,
}

/// All changes of one mini-block, keyed by address (sorted, so the diff is deterministic).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StateDiff {
    /// Changed accounts.
    pub accounts: BTreeMap<Address, AccountChange>,
    /// Code deployed in this mini-block, by code hash.
    pub codes: BTreeMap<B256, Bytes>,
}

impl StateDiff {
    /// True when nothing changed.
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty() && self.codes.is_empty()
    }

    /// Records that `address` was deleted (its storage with it).
    pub fn delete(&mut self, address: Address) {
        self.accounts.insert(
            address,
            AccountChange {
                info: None,
                storage_cleared: true,
                storage: BTreeMap::new(),
            },
        );
    }

    /// Records the new fields of `address`, wiping its storage first when `clear` is set,
    /// then the given slot writes.
    pub fn update(
        &mut self,
        address: Address,
        fields: AccountFields,
        clear: bool,
        slots: impl Iterator<Item = (U256, U256)>,
    ) {
        let change = self
            .accounts
            .entry(address)
            .or_insert_with(|| AccountChange {
                info: None,
                storage_cleared: false,
                storage: BTreeMap::new(),
            });
        if clear {
            change.storage_cleared = true;
            change.storage.clear();
        }
        change.info = Some(fields);
        change.storage.extend(slots);
    }
}

impl StateDiff {
    /// Folds a later diff into this one, so that applying the result equals applying
    /// `self` then `later`.
    pub fn merge(&mut self, later: &StateDiff) {
        for (hash, code) in &later.codes {
            self.codes.insert(*hash, code.clone());
        }
        for (address, change) in &later.accounts {
            match change.info {
                None => self.delete(*address),
                Some(fields) => self.update(
                    *address,
                    fields,
                    change.storage_cleared,
                    change.storage.iter().map(|(k, v)| (*k, *v)),
                ),
            }
        }
    }
}

/// One mini-block's changes as the sequencer loop records them, in order: the input of
/// [`DiffLog::to_state_diff`], which replays the entries through [`StateDiff::update`]
/// and [`StateDiff::delete`] (a later entry for an address folds into an earlier one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiffLog {
    entries: Vec<LogEntry>,
    /// Slot writes of all `Update` entries, each entry owning a contiguous run.
    slots: Vec<(U256, U256)>,
    codes: Vec<(B256, Bytes)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LogEntry {
    Delete(Address),
    Update {
        address: Address,
        fields: AccountFields,
        clear: bool,
        /// `slots[first_slot..end_slot]` are this entry's writes.
        first_slot: usize,
        end_slot: usize,
    },
}

impl DiffLog {
    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.codes.is_empty()
    }

    /// Records that `address` was deleted (its storage with it).
    pub fn delete(&mut self, address: Address) {
        self.entries.push(LogEntry::Delete(address));
    }

    /// Records the new fields of `address`, its storage wiped first when `clear` is set;
    /// the slot writes that follow ([`DiffLog::slot`]) belong to this entry.
    pub fn update(&mut self, address: Address, fields: AccountFields, clear: bool) {
        let at = self.slots.len();
        self.entries.push(LogEntry::Update {
            address,
            fields,
            clear,
            first_slot: at,
            end_slot: at,
        });
    }

    /// Records a slot write of the account of the last [`DiffLog::update`].
    ///
    /// # Panics
    /// When the last entry is not an update (a bug in the caller).
    pub fn slot(&mut self, key: U256, value: U256) {
        self.slots.push((key, value));
        match self.entries.last_mut() {
            Some(LogEntry::Update { end_slot, .. }) => *end_slot = self.slots.len(),
            _ => panic!("a slot write must follow the update of its account"),
        }
    }

    /// Records code deployed under `hash`.
    pub fn code(&mut self, hash: B256, code: Bytes) {
        self.codes.push((hash, code));
    }

    /// The sorted diff these entries amount to.
    pub fn to_state_diff(&self) -> StateDiff {
        let mut diff = StateDiff::default();
        for (hash, code) in &self.codes {
            diff.codes.insert(*hash, code.clone());
        }
        for entry in &self.entries {
            match *entry {
                LogEntry::Delete(address) => diff.delete(address),
                LogEntry::Update {
                    address,
                    fields,
                    clear,
                    first_slot,
                    end_slot,
                } => diff.update(
                    address,
                    fields,
                    clear,
                    self.slots[first_slot..end_slot].iter().copied(),
                ),
            }
        }
        diff
    }
}

impl Recyclable for DiffLog {
    fn reset(&mut self) {
        self.entries.clear();
        self.slots.clear();
        self.codes.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(nonce: u64) -> AccountFields {
        AccountFields {
            nonce,
            balance: U256::from(nonce * 10),
            code_hash: B256::repeat_byte(nonce as u8),
        }
    }

    #[test]
    fn a_log_amounts_to_the_diff_built_directly() {
        let (a, b, c) = (
            Address::repeat_byte(1),
            Address::repeat_byte(2),
            Address::repeat_byte(3),
        );
        let mut log = DiffLog::default();
        let mut direct = StateDiff::default();
        log.code(B256::repeat_byte(9), Bytes::from_static(b"code"));
        direct
            .codes
            .insert(B256::repeat_byte(9), Bytes::from_static(b"code"));
        log.update(b, fields(1), false);
        log.slot(U256::from(1), U256::from(11));
        log.slot(U256::from(2), U256::from(22));
        direct.update(
            b,
            fields(1),
            false,
            [
                (U256::from(1), U256::from(11)),
                (U256::from(2), U256::from(22)),
            ]
            .into_iter(),
        );
        log.delete(c);
        direct.delete(c);
        log.update(a, fields(2), true);
        direct.update(a, fields(2), true, std::iter::empty());
        // A later entry for the same account folds into the earlier one.
        log.update(b, fields(3), false);
        log.slot(U256::from(2), U256::from(0));
        direct.update(
            b,
            fields(3),
            false,
            [(U256::from(2), U256::from(0))].into_iter(),
        );
        assert_eq!(log.to_state_diff(), direct);
        assert_eq!(
            log.to_state_diff().accounts[&b].storage.len(),
            2,
            "slot 1 kept, slot 2 zeroed"
        );

        let capacity = (log.entries.capacity(), log.slots.capacity());
        log.reset();
        assert!(log.is_empty() && log.to_state_diff().is_empty());
        assert_eq!((log.entries.capacity(), log.slots.capacity()), capacity);
    }
}
