//! The world state: every account, its storage and code, in memory.
//!
//! The sequencer loop owns one copy and changes it transaction by transaction; the chain
//! service owns a second copy, behind a lock, that it moves forward one whole mini-block
//! diff at a time. Readers (`pending` RPC reads, `eth_call`) only ever see the second copy,
//! so they see whole mini-blocks, never half of one. Both copies change through the same
//! [`StateDiff`] rules, which keeps them identical (tested below).

use crate::{
    diff::{AccountFields, DiffLog, StateDiff},
    trie::MerkleTrie,
};
use alloy_primitives::{
    Address, B256, Bytes, U256, keccak256,
    map::{AddressMap, AddressSet, B256Map, HashMap},
};
use alloy_trie::{KECCAK_EMPTY, TrieAccount};
use revm::{
    bytecode::Bytecode,
    state::{AccountInfo, EvmState},
};

/// One account: trie fields, storage, and a cached storage root.
#[derive(Debug, Clone, Default)]
pub struct AccountState {
    /// Nonce.
    pub nonce: u64,
    /// Balance in wei.
    pub balance: U256,
    /// Keccak-256 of the code (`KECCAK_EMPTY` for none).
    pub code_hash: B256,
    /// Non-zero storage slots.
    pub storage: HashMap<U256, U256>,
    /// Cached storage root; `None` after any storage write.
    storage_root: Option<B256>,
}

impl AccountState {
    fn fields(&self) -> AccountFields {
        AccountFields {
            nonce: self.nonce,
            balance: self.balance,
            code_hash: self.code_hash,
        }
    }

    fn set_slot(&mut self, slot: U256, value: U256) {
        self.storage_root = None;
        if value.is_zero() {
            self.storage.remove(&slot);
        } else {
            self.storage.insert(slot, value);
        }
    }

    /// The root of this account's storage trie (cached until the next write).
    pub fn storage_root(&mut self) -> B256 {
        if let Some(root) = self.storage_root {
            return root;
        }
        let root = alloy_trie::root::storage_root_unhashed(
            self.storage.iter().map(|(k, v)| (B256::from(*k), *v)),
        );
        self.storage_root = Some(root);
        root
    }
}

/// The account trie, kept up to date incrementally once the first root was asked for.
#[derive(Debug, Clone, Default)]
struct AccountTrie {
    trie: MerkleTrie,
    /// Accounts changed since the last root.
    dirty: AddressSet,
}

/// Accounts, storage and code of the whole chain.
#[derive(Debug, Clone, Default)]
pub struct WorldState {
    accounts: AddressMap<AccountState>,
    codes: B256Map<Bytecode>,
    /// Built on the first [`WorldState::state_root`] call (only the readers' copy ever
    /// asks), so the sequencer loop's copy pays nothing for it.
    trie: Option<AccountTrie>,
}

impl WorldState {
    /// An empty state.
    pub fn new() -> Self {
        Self::default()
    }

    fn touch(&mut self, address: Address) {
        if let Some(t) = &mut self.trie {
            t.dirty.insert(address);
        }
    }

    /// Number of accounts.
    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    /// True when there is no account.
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }

    /// The account at `address`, if it exists.
    pub fn account(&self, address: &Address) -> Option<&AccountState> {
        self.accounts.get(address)
    }

    /// The code of the account at `address` (empty when none).
    pub fn code_of(&self, address: &Address) -> Bytes {
        self.accounts
            .get(address)
            .and_then(|a| self.codes.get(&a.code_hash))
            .map(|c| c.original_bytes())
            .unwrap_or_default()
    }

    /// The code with the given hash.
    pub fn code_by_hash(&self, hash: &B256) -> Option<&Bytecode> {
        self.codes.get(hash)
    }

    /// A storage slot of `address` (zero when unset).
    pub fn storage(&self, address: &Address, slot: &U256) -> U256 {
        self.accounts
            .get(address)
            .and_then(|a| a.storage.get(slot).copied())
            .unwrap_or_default()
    }

    /// revm's view of the account at `address`.
    pub fn account_info(&self, address: &Address) -> Option<AccountInfo> {
        self.accounts.get(address).map(|a| AccountInfo {
            balance: a.balance,
            nonce: a.nonce,
            code_hash: a.code_hash,
            account_id: None,
            code: self.codes.get(&a.code_hash).cloned(),
        })
    }

    /// Inserts or replaces an account wholesale (genesis and loading from disk).
    pub fn insert_account(
        &mut self,
        address: Address,
        nonce: u64,
        balance: U256,
        code: Option<Bytes>,
        storage: impl IntoIterator<Item = (U256, U256)>,
    ) {
        let code_hash = match code {
            Some(code) if !code.is_empty() => {
                let hash = keccak256(&code);
                self.codes.insert(hash, Bytecode::new_raw(code));
                hash
            }
            _ => KECCAK_EMPTY,
        };
        let mut account = AccountState {
            nonce,
            balance,
            code_hash,
            ..Default::default()
        };
        for (slot, value) in storage {
            account.set_slot(slot, value);
        }
        self.accounts.insert(address, account);
        self.touch(address);
    }

    /// Inserts an account whose code is already stored under `code_hash` (loading from disk).
    pub fn insert_account_with_hash(
        &mut self,
        address: Address,
        nonce: u64,
        balance: U256,
        code_hash: B256,
        storage: impl IntoIterator<Item = (U256, U256)>,
    ) {
        let mut account = AccountState {
            nonce,
            balance,
            code_hash,
            ..Default::default()
        };
        for (slot, value) in storage {
            account.set_slot(slot, value);
        }
        self.accounts.insert(address, account);
        self.touch(address);
    }

    /// Inserts code under its hash (loading from disk).
    pub fn insert_code(&mut self, hash: B256, code: Bytes) {
        self.codes.insert(hash, Bytecode::new_raw(code));
    }

    /// Applies the changes revm made (one mini-block's finalized journal) and records them
    /// in `diff`.
    ///
    /// Rules (the same as [`WorldState::apply`]): untouched accounts are skipped;
    /// self-destructed accounts and touched empty accounts (EIP-161) are deleted; created
    /// accounts have their storage wiped first; otherwise fields are replaced and changed
    /// slots written.
    pub fn commit(&mut self, changes: &EvmState, diff: &mut DiffLog) {
        for (address, account) in changes {
            if !account.is_touched() {
                continue;
            }
            self.touch(*address);
            if account.is_selfdestructed() || account.is_empty() {
                if self.accounts.remove(address).is_some() || account.is_selfdestructed() {
                    diff.delete(*address);
                }
                continue;
            }
            let info = &account.info;
            if let Some(code) = &info.code
                && info.code_hash != KECCAK_EMPTY
                && !self.codes.contains_key(&info.code_hash)
            {
                self.codes.insert(info.code_hash, code.clone());
                diff.code(info.code_hash, code.original_bytes());
            }
            let created = account.is_created();
            let entry = self.accounts.entry(*address).or_default();
            if created {
                entry.storage.clear();
                entry.storage_root = None;
            }
            entry.nonce = info.nonce;
            entry.balance = info.balance;
            entry.code_hash = info.code_hash;
            diff.update(*address, entry.fields(), created);
            // A slot changed if it differs from this state, which is the state before the
            // changes being committed. (revm's own `original_value` is re-baselined per
            // transaction, so it cannot tell across a multi-transaction journal.)
            for (key, slot) in &account.storage {
                let value = slot.present_value;
                if entry.storage.get(key).copied().unwrap_or_default() != value {
                    entry.set_slot(*key, value);
                    diff.slot(*key, value);
                }
            }
        }
    }

    /// Applies a whole mini-block diff (the reader side of [`WorldState::commit`]).
    pub fn apply(&mut self, diff: &StateDiff) {
        for (hash, code) in &diff.codes {
            self.codes
                .entry(*hash)
                .or_insert_with(|| Bytecode::new_raw(code.clone()));
        }
        for (address, change) in &diff.accounts {
            self.touch(*address);
            let Some(fields) = change.info else {
                self.accounts.remove(address);
                continue;
            };
            let entry = self.accounts.entry(*address).or_default();
            if change.storage_cleared {
                entry.storage.clear();
                entry.storage_root = None;
            }
            entry.nonce = fields.nonce;
            entry.balance = fields.balance;
            entry.code_hash = fields.code_hash;
            for (slot, value) in &change.storage {
                entry.set_slot(*slot, *value);
            }
        }
    }

    /// The Merkle-Patricia root over all accounts and their storage.
    ///
    /// The first call builds the account trie (a full pass); later calls update only
    /// the accounts changed since, and rehash only the nodes on their paths.
    pub fn state_root(&mut self) -> B256 {
        let trie = self.trie.get_or_insert_with(|| AccountTrie {
            trie: MerkleTrie::new(),
            dirty: self.accounts.keys().copied().collect(),
        });
        for address in trie.dirty.drain() {
            let key = keccak256(address);
            match self.accounts.get_mut(&address) {
                Some(account) => {
                    let leaf = TrieAccount {
                        nonce: account.nonce,
                        balance: account.balance,
                        storage_root: account.storage_root(),
                        code_hash: account.code_hash,
                    };
                    trie.trie.insert(key, alloy_rlp::encode(leaf));
                }
                None => trie.trie.remove(key),
            }
        }
        trie.trie.root()
    }

    /// The root computed from scratch with alloy-trie (reference for tests).
    pub fn state_root_from_scratch(&mut self) -> B256 {
        let hashed: Vec<(B256, TrieAccount)> = self
            .accounts
            .iter_mut()
            .map(|(address, account)| {
                let trie = TrieAccount {
                    nonce: account.nonce,
                    balance: account.balance,
                    storage_root: account.storage_root(),
                    code_hash: account.code_hash,
                };
                (keccak256(address), trie)
            })
            .collect();
        alloy_trie::root::state_root_unsorted(hashed)
    }

    /// Iterates over every account (for persistence).
    pub fn accounts(&self) -> impl Iterator<Item = (&Address, &AccountState)> {
        self.accounts.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_trie::EMPTY_ROOT_HASH;

    #[test]
    fn empty_state_has_empty_root() {
        assert_eq!(WorldState::new().state_root(), EMPTY_ROOT_HASH);
    }

    #[test]
    fn apply_matches_insert() {
        let a = Address::repeat_byte(1);
        let mut direct = WorldState::new();
        direct.insert_account(a, 3, U256::from(7), None, [(U256::from(1), U256::from(2))]);
        let mut diff = StateDiff::default();
        diff.update(
            a,
            AccountFields {
                nonce: 3,
                balance: U256::from(7),
                code_hash: KECCAK_EMPTY,
            },
            false,
            [(U256::from(1), U256::from(2))].into_iter(),
        );
        let mut applied = WorldState::new();
        applied.apply(&diff);
        assert_eq!(direct.state_root(), applied.state_root());
        diff.delete(a);
        applied.apply(&diff);
        assert!(applied.is_empty());
    }

    #[test]
    fn incremental_root_equals_root_from_scratch() {
        let mut s = WorldState::new();
        for i in 0..50u8 {
            s.insert_account(Address::repeat_byte(i), i as u64, U256::from(i), None, []);
        }
        assert_eq!(s.state_root(), s.state_root_from_scratch());
        let mut diff = StateDiff::default();
        for i in 0..10u8 {
            diff.delete(Address::repeat_byte(i));
        }
        diff.update(
            Address::repeat_byte(99),
            AccountFields {
                nonce: 1,
                balance: U256::from(5),
                code_hash: KECCAK_EMPTY,
            },
            true,
            [(U256::from(1), U256::from(2))].into_iter(),
        );
        s.apply(&diff);
        assert_eq!(s.state_root(), s.state_root_from_scratch());
    }

    #[test]
    fn zero_slot_is_deleted() {
        let a = Address::repeat_byte(2);
        let mut s = WorldState::new();
        s.insert_account(a, 0, U256::from(1), None, [(U256::from(5), U256::from(9))]);
        let with_slot = s.state_root();
        let mut diff = StateDiff::default();
        diff.update(
            a,
            AccountFields {
                nonce: 0,
                balance: U256::from(1),
                code_hash: KECCAK_EMPTY,
            },
            false,
            [(U256::from(5), U256::ZERO)].into_iter(),
        );
        s.apply(&diff);
        let mut plain = WorldState::new();
        plain.insert_account(a, 0, U256::from(1), None, []);
        assert_ne!(with_slot, s.state_root());
        assert_eq!(plain.state_root(), s.state_root());
    }
}
