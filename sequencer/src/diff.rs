//! State diffs: what one mini-block changed, enough for a replica to apply it without
//! re-executing.

use alloy_primitives::{Address, B256, Bytes, U256};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
