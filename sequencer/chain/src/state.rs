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
    map::{AddressMap, AddressSet, B256Map, HashMap, HashSet},
};
use alloy_trie::{EMPTY_ROOT_HASH, KECCAK_EMPTY, TrieAccount};
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
    /// The storage trie, built at the first root asked for and kept up to date from then
    /// on (boxed: most accounts have no storage and never build one).
    storage_trie: Option<Box<StorageTrie>>,
}

/// An account's storage trie and the slots written since its last root.
#[derive(Debug, Clone, Default)]
struct StorageTrie {
    trie: MerkleTrie,
    dirty: HashSet<U256>,
    /// The root, while no slot was written since it was computed.
    root: Option<B256>,
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
        if let Some(trie) = &mut self.storage_trie {
            trie.dirty.insert(slot);
            trie.root = None;
        }
        if value.is_zero() {
            self.storage.remove(&slot);
        } else {
            self.storage.insert(slot, value);
        }
    }

    /// Drops the storage and its trie (a created or cleared account).
    fn clear_storage(&mut self) {
        self.storage.clear();
        self.storage_trie = None;
    }

    /// The root of this account's storage trie. The first call builds the trie (a full
    /// pass); later calls update only the slots written since, and rehash only the nodes
    /// on their paths, so a contract with many slots costs what its block changed.
    pub fn storage_root(&mut self) -> B256 {
        if self.storage.is_empty() {
            // No trie to keep for no storage (an EOA, or a contract whose slots are all zero).
            self.storage_trie = None;
            return EMPTY_ROOT_HASH;
        }
        let storage = &self.storage;
        let trie = self.storage_trie.get_or_insert_with(|| {
            Box::new(StorageTrie {
                dirty: storage.keys().copied().collect(),
                ..StorageTrie::default()
            })
        });
        if let Some(root) = trie.root {
            return root;
        }
        for slot in trie.dirty.drain() {
            let key = keccak256(slot.to_be_bytes::<32>());
            match storage.get(&slot) {
                Some(value) => trie.trie.insert(key, alloy_rlp::encode(value)),
                None => trie.trie.remove(key),
            }
        }
        let root = trie.trie.root();
        trie.root = Some(root);
        root
    }

    /// The storage root without updating anything: the one [`AccountState::storage_root`]
    /// last computed, or, if a slot was written since, one computed from scratch.
    fn storage_root_computed(&self) -> B256 {
        if self.storage.is_empty() {
            return EMPTY_ROOT_HASH;
        }
        match self.storage_trie.as_ref().and_then(|t| t.root) {
            Some(root) => root,
            None => {
                debug_assert!(false, "a storage root was not brought up to date first");
                alloy_trie::root::storage_root_unhashed(
                    self.storage.iter().map(|(k, v)| (B256::from(*k), *v)),
                )
            }
        }
    }
}

/// What the state root keeps between roots, once the first was asked for.
#[derive(Debug, Clone, Default)]
struct RootTracking {
    /// The account trie; `None` while a [`RootWork`] holds it.
    trie: Option<MerkleTrie>,
    /// Accounts changed since the last root.
    dirty: AddressSet,
    /// Those of them whose storage changed.
    dirty_storage: AddressSet,
}

/// The account trie, taken out of a [`WorldState`] to compute its root while the state
/// is only read: [`WorldState::begin_root`] (which needs `&mut`, briefly), then
/// [`RootWork::root`] (`&`), then [`WorldState::end_root`] (`&mut`, briefly). A state
/// shared behind a lock thus holds its write lock only for the first and last steps, and
/// readers go on during the hashing. Changes made in between are not lost: they go into
/// the next root.
#[derive(Debug)]
pub struct RootWork {
    trie: MerkleTrie,
    dirty: AddressSet,
}

impl RootWork {
    /// The root of `state`, the one this work was begun on, unchanged since.
    pub fn root(&mut self, state: &WorldState) -> B256 {
        for address in self.dirty.drain() {
            let key = keccak256(address);
            match state.accounts.get(&address) {
                Some(account) => {
                    let leaf = TrieAccount {
                        nonce: account.nonce,
                        balance: account.balance,
                        storage_root: account.storage_root_computed(),
                        code_hash: account.code_hash,
                    };
                    self.trie.insert(key, alloy_rlp::encode(leaf));
                }
                None => self.trie.remove(key),
            }
        }
        self.trie.root()
    }
}

/// Accounts, storage and code of the whole chain.
#[derive(Debug, Clone, Default)]
pub struct WorldState {
    accounts: AddressMap<AccountState>,
    codes: B256Map<Bytecode>,
    /// Set up by the first root asked for (only the readers' copy ever asks), so the
    /// sequencer loop's copy pays nothing for it.
    tracking: Option<RootTracking>,
}

impl WorldState {
    /// An empty state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Notes that `address` changed (and whether its storage did) for the next root.
    fn touch(&mut self, address: Address, storage: bool) {
        if let Some(t) = &mut self.tracking {
            t.dirty.insert(address);
            if storage {
                t.dirty_storage.insert(address);
            }
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
        self.touch(address, true);
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
        self.touch(address, true);
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
            self.touch(
                *address,
                account.is_created() || !account.storage.is_empty(),
            );
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
                entry.clear_storage();
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
            self.touch(
                *address,
                change.storage_cleared || !change.storage.is_empty(),
            );
            let Some(fields) = change.info else {
                self.accounts.remove(address);
                continue;
            };
            let entry = self.accounts.entry(*address).or_default();
            if change.storage_cleared {
                entry.clear_storage();
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
    /// The first call builds the tries (a full pass); later calls update only the
    /// accounts and slots changed since, and rehash only the nodes on their paths.
    pub fn state_root(&mut self) -> B256 {
        let mut work = self.begin_root();
        let root = work.root(self);
        self.end_root(work);
        root
    }

    /// The first step of a root computed in three ([`RootWork`]): brings the storage
    /// roots of the accounts whose storage changed up to date (incrementally: a few
    /// contracts a block) and takes the account trie out with the accounts changed since
    /// the last root.
    pub fn begin_root(&mut self) -> RootWork {
        let accounts = &mut self.accounts;
        let tracking = self.tracking.get_or_insert_default();
        let trie = match tracking.trie.take() {
            Some(trie) => trie,
            // The first root, or a [`RootWork`] that never came back: from scratch.
            None => {
                tracking.dirty = accounts.keys().copied().collect();
                tracking.dirty_storage.clear();
                for account in accounts.values_mut() {
                    account.storage_root();
                }
                MerkleTrie::new()
            }
        };
        for address in tracking.dirty_storage.drain() {
            if let Some(account) = accounts.get_mut(&address) {
                account.storage_root();
            }
        }
        RootWork {
            trie,
            dirty: std::mem::take(&mut tracking.dirty),
        }
    }

    /// The last step of a root computed in three ([`RootWork`]): puts the account trie
    /// back.
    pub fn end_root(&mut self, work: RootWork) {
        if let Some(tracking) = &mut self.tracking {
            tracking.trie = Some(work.trie);
        }
    }

    /// The root computed from scratch with alloy-trie (reference for tests).
    /// Storage roots too are computed from scratch, with alloy-trie, ignoring the tries
    /// that [`WorldState::state_root`] keeps.
    pub fn state_root_from_scratch(&self) -> B256 {
        let hashed: Vec<(B256, TrieAccount)> = self
            .accounts
            .iter()
            .map(|(address, account)| {
                let trie = TrieAccount {
                    nonce: account.nonce,
                    balance: account.balance,
                    storage_root: alloy_trie::root::storage_root_unhashed(
                        account.storage.iter().map(|(k, v)| (B256::from(*k), *v)),
                    ),
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

    /// A contract with many slots: writes, deletions and clears over several blocks, the
    /// kept storage trie's root checked against alloy-trie's from scratch after each.
    #[test]
    fn incremental_storage_root_follows_writes_deletions_and_clears() {
        let contract = Address::repeat_byte(7);
        let fields = AccountFields {
            nonce: 1,
            balance: U256::ZERO,
            code_hash: KECCAK_EMPTY,
        };
        let mut s = WorldState::new();
        s.insert_account(contract, 1, U256::ZERO, None, []);
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut roots = std::collections::HashSet::new();
        for block in 0..12 {
            let mut diff = StateDiff::default();
            // Slots from a small range, so blocks overwrite and delete earlier ones.
            let writes: Vec<(U256, U256)> = (0..300)
                .map(|_| {
                    let slot = U256::from(next() % 2_000);
                    let value = match next() % 4 {
                        0 => U256::ZERO,
                        _ => U256::from(next()),
                    };
                    (slot, value)
                })
                .collect();
            // Block 6 clears the storage first (a re-created contract).
            diff.update(contract, fields, block == 6, writes.into_iter());
            s.apply(&diff);
            let root = s.state_root();
            assert_eq!(root, s.state_root_from_scratch(), "block {block}");
            assert_eq!(
                root,
                s.state_root(),
                "a second root without writes, block {block}"
            );
            roots.insert(root);
        }
        assert_eq!(roots.len(), 12, "every block changed the root");
        // Every slot deleted: the empty storage root again.
        let slots: Vec<U256> = s
            .account(&contract)
            .unwrap()
            .storage
            .keys()
            .copied()
            .collect();
        let mut diff = StateDiff::default();
        diff.update(
            contract,
            fields,
            false,
            slots.into_iter().map(|k| (k, U256::ZERO)),
        );
        s.apply(&diff);
        assert!(s.account(&contract).unwrap().storage.is_empty());
        let mut plain = WorldState::new();
        plain.insert_account(contract, 1, U256::ZERO, None, []);
        assert_eq!(s.state_root(), plain.state_root());
        assert_eq!(s.state_root(), s.state_root_from_scratch());
    }

    /// The three steps give the root of the state they began on, and changes made between
    /// `begin_root` and `end_root` go into the next root, not lost.
    #[test]
    fn a_root_in_three_steps_keeps_changes_made_meanwhile() {
        // Account `i`'s balance and one of its slots set to `i`.
        let write = |i: u8| {
            let mut diff = StateDiff::default();
            let fields = AccountFields {
                nonce: 1,
                balance: U256::from(i),
                code_hash: KECCAK_EMPTY,
            };
            let slot = (U256::from(i), U256::from(i));
            diff.update(Address::repeat_byte(i), fields, false, [slot].into_iter());
            diff
        };
        let mut s = WorldState::new();
        for i in 0..20u8 {
            s.insert_account(Address::repeat_byte(i), 0, U256::from(i), None, []);
        }
        s.state_root();
        s.apply(&write(1));
        let expected = s.state_root_from_scratch();
        let mut work = s.begin_root();
        let root = work.root(&s);
        s.apply(&write(2));
        s.end_root(work);
        assert_eq!(root, expected);
        assert_eq!(s.state_root(), s.state_root_from_scratch());
        assert_ne!(s.state_root(), expected);
    }

    /// One change to one account in a mini-block's diff: new fields with slot writes
    /// (value 0 deletes the slot), its storage cleared first or not; or its deletion.
    #[derive(Debug, Clone)]
    enum Change {
        Update {
            account: u8,
            balance: u8,
            clear: bool,
            writes: Vec<(u8, u8)>,
        },
        Delete {
            account: u8,
        },
    }

    fn change() -> impl proptest::strategy::Strategy<Value = Change> {
        use proptest::prelude::*;
        prop_oneof![
            4 => (0u8..6, any::<u8>(), proptest::bool::weighted(0.1),
                  proptest::collection::vec((0u8..24, 0u8..4), 0..8))
                .prop_map(|(account, balance, clear, writes)| Change::Update {
                    account, balance, clear, writes,
                }),
            1 => (0u8..6).prop_map(|account| Change::Delete { account }),
        ]
    }

    /// A mini-block's diff of `changes`, built as the loop builds one (later changes to
    /// an account merge into earlier ones).
    fn diff_of(changes: &[Change]) -> StateDiff {
        let mut diff = StateDiff::default();
        for c in changes {
            match c {
                Change::Update {
                    account,
                    balance,
                    clear,
                    writes,
                } => {
                    let fields = AccountFields {
                        nonce: 1,
                        balance: U256::from(*balance),
                        code_hash: KECCAK_EMPTY,
                    };
                    let slots = writes
                        .iter()
                        .map(|(slot, value)| (U256::from(*slot), U256::from(*value)));
                    diff.update(Address::repeat_byte(*account), fields, *clear, slots);
                }
                Change::Delete { account } => diff.delete(Address::repeat_byte(*account)),
            }
        }
        diff
    }

    proptest::proptest! {
        /// Any sequence of mini-block diffs (writes, slot deletions, cleared storage,
        /// deleted and re-created accounts), with roots taken at random points, whole or
        /// in three steps with a diff applied between the hashing and `end_root`: every
        /// root equals alloy-trie's from scratch over the same state.
        #[test]
        fn kept_tries_give_the_root_from_scratch(
            blocks in proptest::collection::vec(
                (proptest::collection::vec(change(), 1..6), 0u8..3),
                1..40,
            ),
        ) {
            let mut s = WorldState::new();
            for (changes, root) in &blocks {
                let diff = diff_of(changes);
                match root {
                    // No root this time: the changes pile up for a later one.
                    0 => s.apply(&diff),
                    1 => {
                        s.apply(&diff);
                        proptest::prop_assert_eq!(s.state_root(), s.state_root_from_scratch());
                    }
                    // The seal's way; the diff lands while the account trie is out.
                    _ => {
                        let expected = s.state_root_from_scratch();
                        let mut work = s.begin_root();
                        proptest::prop_assert_eq!(work.root(&s), expected);
                        s.apply(&diff);
                        s.end_root(work);
                    }
                }
            }
            proptest::prop_assert_eq!(s.state_root(), s.state_root_from_scratch());
        }
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
