//! A consistent snapshot of the `pending` state that holds no lock while it is read.
//!
//! `eth_call` at `pending` used to run the EVM under the pending view's read lock; a
//! call of seconds then held up the chain service's writes, and every read queued behind
//! those (8 slow calls made a `pending` balance read take 1.5 s). A [`PendingSnapshot`]
//! is instead the sealed head in redb (an MVCC read transaction) plus the signed
//! mini-block records of the open block, taken together under the read lock in
//! microseconds (a vector of `Arc`s). Reads look for the newest change in those records'
//! state diffs, then fall back to the head. A diff holds new values, not deltas, so a
//! record that the head already includes (between a seal's commit and the open block's
//! clean-up) reads the same either way.

use crate::{
    chain::Chain, error::StoreError, exec::StoreDb, hashes::BlockHashes, record::MiniBlockRecord,
    store::StoreReader,
};
use alloy_primitives::{Address, B256, U256};
use alloy_trie::KECCAK_EMPTY;
use revm::{DatabaseRef, bytecode::Bytecode, state::AccountInfo};
use std::sync::Arc;

/// How often [`Chain::pending_snapshot`] retries when a block seals while it is taken.
const ATTEMPTS: usize = 8;

/// The pending state at one instant: the sealed head plus the open block's mini-blocks.
#[derive(Debug)]
pub struct PendingSnapshot {
    reader: StoreReader,
    records: Vec<Arc<MiniBlockRecord>>,
    hashes: Arc<BlockHashes>,
}

impl Chain {
    /// A snapshot of the pending state (after every mini-block a client may hold a
    /// promise for, as [`Chain::pending_view`]) that can be read for as long as needed
    /// without holding up the chain service.
    pub fn pending_snapshot(&self) -> Result<PendingSnapshot, StoreError> {
        for _ in 0..ATTEMPTS {
            let (records, head) = {
                let pending = self.pending_view();
                (pending.open.records.clone(), self.head().header.number)
            };
            // The head was committed before `head()` showed it; a reader opened now sees
            // it, or a later block if one sealed in between (then the records miss that
            // block's last mini-blocks: take them again).
            let reader = self.reader()?;
            if reader.head()?.unwrap_or_default() == head {
                return Ok(PendingSnapshot {
                    reader,
                    records,
                    hashes: self.hashes.clone(),
                });
            }
        }
        Err(StoreError::Corrupt(format!(
            "blocks sealed faster than a pending snapshot could be taken ({ATTEMPTS} tries)"
        )))
    }
}

impl PendingSnapshot {
    fn head(&self) -> StoreDb<'_> {
        StoreDb {
            reader: &self.reader,
            hashes: &self.hashes,
        }
    }

    /// The newest change of `address` in the open block, if any.
    fn changes(&self, address: &Address) -> impl Iterator<Item = &crate::diff::AccountChange> {
        self.records
            .iter()
            .rev()
            .filter_map(move |r| r.state_diff.accounts.get(address))
    }
}

impl DatabaseRef for PendingSnapshot {
    type Error = StoreError;

    fn basic_ref(&self, address: Address) -> Result<Option<AccountInfo>, Self::Error> {
        let Some(change) = self.changes(&address).next() else {
            return self.head().basic_ref(address);
        };
        let Some(fields) = change.info else {
            return Ok(None);
        };
        let code = match fields.code_hash {
            KECCAK_EMPTY => None,
            hash => Some(self.code_by_hash_ref(hash)?),
        };
        Ok(Some(AccountInfo {
            balance: fields.balance,
            nonce: fields.nonce,
            code_hash: fields.code_hash,
            account_id: None,
            code,
        }))
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> Result<Bytecode, Self::Error> {
        for record in self.records.iter().rev() {
            if let Some(code) = record.state_diff.codes.get(&code_hash) {
                return Ok(Bytecode::new_raw(code.clone()));
            }
        }
        self.head().code_by_hash_ref(code_hash)
    }

    fn storage_ref(&self, address: Address, index: U256) -> Result<U256, Self::Error> {
        for change in self.changes(&address) {
            if let Some(value) = change.storage.get(&index) {
                return Ok(*value);
            }
            if change.storage_cleared || change.info.is_none() {
                return Ok(U256::ZERO);
            }
        }
        self.head().storage_ref(address, index)
    }

    fn block_hash_ref(&self, number: u64) -> Result<B256, Self::Error> {
        Ok(self.hashes.get(number).unwrap_or_default())
    }
}
