//! Persistence in redb: blocks, receipts, the transaction index and the latest state.
//!
//! One write transaction per sealed L2 block stores the block, its receipts, its
//! transactions' index entries, its state diff and the new head together, so a reader
//! (or a restart) always sees a whole block or none of it. The state tables hold the state
//! as of the head block: `latest` reads are served from them.

use crate::{diff::StateDiff, error::StoreError, signer::MiniBlockRecord, state::WorldState};
use alloy_consensus::{Header, ReceiptEnvelope, TxEnvelope};
use alloy_eips::{Decodable2718, Encodable2718};
use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_rlp::Decodable;
use redb::{Database, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition};
use std::path::Path;

const HEADERS: TableDefinition<u64, &[u8]> = TableDefinition::new("headers");
const BODIES: TableDefinition<u64, &[u8]> = TableDefinition::new("bodies");
const SENDERS: TableDefinition<u64, &[u8]> = TableDefinition::new("senders");
const RECEIPTS: TableDefinition<u64, &[u8]> = TableDefinition::new("receipts");
const BLOCK_NUMBERS: TableDefinition<&[u8; 32], u64> = TableDefinition::new("block_numbers");
const TX_INDEX: TableDefinition<&[u8; 32], (u64, u32)> = TableDefinition::new("tx_index");
const ACCOUNTS: TableDefinition<&[u8; 20], &[u8]> = TableDefinition::new("accounts");
const STORAGE: TableDefinition<&[u8; 52], &[u8; 32]> = TableDefinition::new("storage");
const CODES: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("codes");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const MINI_BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("mini_blocks");
const TX_MINI: TableDefinition<&[u8; 32], (u64, u32)> = TableDefinition::new("tx_mini_block");
const HASHES: TableDefinition<&str, &[u8; 32]> = TableDefinition::new("hashes");
const HASH_LAST_MINI: &str = "last_mini_block";

const META_HEAD: &str = "head";
const META_CHAIN_ID: &str = "chain_id";
const META_NEXT_SEQ: &str = "next_seq";
const META_NEXT_MINI: &str = "next_mini_block";

/// A sealed block as stored: header, hash, transactions, senders and receipts.
#[derive(Debug, Clone)]
pub struct StoredBlock {
    /// The header.
    pub header: Header,
    /// Its hash.
    pub hash: B256,
    /// Transactions, in order.
    pub txs: Vec<TxEnvelope>,
    /// Their senders.
    pub senders: Vec<Address>,
    /// Their receipts.
    pub receipts: Vec<ReceiptEnvelope>,
}

/// Counters persisted with each block so a restart continues the numbering.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Next global transaction sequence number.
    pub next_seq: u64,
    /// Next mini-block number.
    pub next_mini_block: u64,
}

/// The redb database.
#[derive(Debug)]
pub struct Store {
    db: Database,
}

fn storage_key(address: &Address, slot: &U256) -> [u8; 52] {
    let mut key = [0u8; 52];
    key[..20].copy_from_slice(address.as_slice());
    key[20..].copy_from_slice(&slot.to_be_bytes::<32>());
    key
}

fn encode_account(nonce: u64, balance: U256, code_hash: B256) -> [u8; 72] {
    let mut out = [0u8; 72];
    out[..8].copy_from_slice(&nonce.to_be_bytes());
    out[8..40].copy_from_slice(&balance.to_be_bytes::<32>());
    out[40..].copy_from_slice(code_hash.as_slice());
    out
}

fn decode_account(bytes: &[u8]) -> Result<(u64, U256, B256), StoreError> {
    if bytes.len() != 72 {
        return Err(StoreError::Corrupt(
            "account record has the wrong length".into(),
        ));
    }
    let nonce = u64::from_be_bytes(bytes[..8].try_into().expect("8 bytes"));
    let balance = U256::from_be_slice(&bytes[8..40]);
    Ok((nonce, balance, B256::from_slice(&bytes[40..])))
}

fn encode_list(items: impl Iterator<Item = Vec<u8>>) -> Vec<u8> {
    let list: Vec<Bytes> = items.map(Bytes::from).collect();
    alloy_rlp::encode(&list)
}

fn decode_list(mut bytes: &[u8]) -> Result<Vec<Bytes>, StoreError> {
    Vec::<Bytes>::decode(&mut bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl Store {
    /// Opens (or creates) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = Database::create(path)?;
        let txn = db.begin_write()?;
        {
            txn.open_table(HEADERS)?;
            txn.open_table(BODIES)?;
            txn.open_table(SENDERS)?;
            txn.open_table(RECEIPTS)?;
            txn.open_table(BLOCK_NUMBERS)?;
            txn.open_table(TX_INDEX)?;
            txn.open_table(ACCOUNTS)?;
            txn.open_table(STORAGE)?;
            txn.open_table(CODES)?;
            txn.open_table(META)?;
            txn.open_table(MINI_BLOCKS)?;
            txn.open_table(TX_MINI)?;
            txn.open_table(HASHES)?;
        }
        txn.commit()?;
        Ok(Self { db })
    }

    /// A consistent read view: everything read through it belongs to one head.
    pub fn reader(&self) -> Result<StoreReader, StoreError> {
        Ok(StoreReader {
            txn: self.db.begin_read()?,
        })
    }

    /// Writes a sealed block, its signed mini-blocks, its state diff and counters, and
    /// makes it the head.
    pub fn put_block(
        &self,
        block: &StoredBlock,
        minis: &[std::sync::Arc<MiniBlockRecord>],
        diff: &StateDiff,
        counters: Counters,
        chain_id: u64,
    ) -> Result<(), StoreError> {
        let number = block.header.number;
        let txn = self.db.begin_write()?;
        {
            txn.open_table(HEADERS)?
                .insert(number, alloy_rlp::encode(&block.header).as_slice())?;
            let body = encode_list(block.txs.iter().map(|t| t.encoded_2718()));
            txn.open_table(BODIES)?.insert(number, body.as_slice())?;
            let senders: Vec<u8> = block.senders.iter().flat_map(|a| a.0).collect();
            txn.open_table(SENDERS)?
                .insert(number, senders.as_slice())?;
            let receipts = encode_list(block.receipts.iter().map(|r| r.encoded_2718()));
            txn.open_table(RECEIPTS)?
                .insert(number, receipts.as_slice())?;
            txn.open_table(BLOCK_NUMBERS)?
                .insert(&block.hash.0, number)?;
            let mut index = txn.open_table(TX_INDEX)?;
            for (i, tx) in block.txs.iter().enumerate() {
                index.insert(&tx.tx_hash().0, (number, i as u32))?;
            }
            let mut codes = txn.open_table(CODES)?;
            for (hash, code) in &diff.codes {
                codes.insert(&hash.0, code.as_ref())?;
            }
            let mut accounts = txn.open_table(ACCOUNTS)?;
            let mut storage = txn.open_table(STORAGE)?;
            for (address, change) in &diff.accounts {
                if change.storage_cleared {
                    let start = storage_key(address, &U256::ZERO);
                    let end = storage_key(address, &U256::MAX);
                    storage.retain_in::<&[u8; 52], _>(&start..=&end, |_, _| false)?;
                }
                match change.info {
                    None => {
                        accounts.remove(&address.0.0)?;
                    }
                    Some(f) => {
                        let record = encode_account(f.nonce, f.balance, f.code_hash);
                        accounts.insert(&address.0.0, record.as_slice())?;
                    }
                }
                for (slot, value) in &change.storage {
                    let key = storage_key(address, slot);
                    if value.is_zero() {
                        storage.remove(&key)?;
                    } else {
                        storage.insert(&key, &value.to_be_bytes::<32>())?;
                    }
                }
            }
            let mut records = txn.open_table(MINI_BLOCKS)?;
            let mut tx_mini = txn.open_table(TX_MINI)?;
            for record in minis {
                let json = serde_json::to_vec(record.as_ref())
                    .map_err(|e| StoreError::Corrupt(format!("cannot encode mini-block: {e}")))?;
                records.insert(record.number(), json.as_slice())?;
                for (i, tx) in record.transactions.iter().enumerate() {
                    tx_mini.insert(&tx.hash.0, (record.number(), i as u32))?;
                }
            }
            if let Some(last) = minis.last() {
                txn.open_table(HASHES)?
                    .insert(HASH_LAST_MINI, &last.hash.0)?;
            }
            let mut meta = txn.open_table(META)?;
            meta.insert(META_HEAD, number)?;
            meta.insert(META_CHAIN_ID, chain_id)?;
            meta.insert(META_NEXT_SEQ, counters.next_seq)?;
            meta.insert(META_NEXT_MINI, counters.next_mini_block)?;
        }
        txn.commit()?;
        Ok(())
    }
}

/// A read transaction over the store: one consistent head.
pub struct StoreReader {
    txn: ReadTransaction,
}

impl std::fmt::Debug for StoreReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreReader")
    }
}

impl StoreReader {
    /// The head block number, or `None` for an empty database.
    pub fn head(&self) -> Result<Option<u64>, StoreError> {
        self.meta(META_HEAD)
    }

    /// The chain id the database was created with.
    pub fn chain_id(&self) -> Result<Option<u64>, StoreError> {
        self.meta(META_CHAIN_ID)
    }

    /// Persisted sequence counters.
    pub fn counters(&self) -> Result<Counters, StoreError> {
        Ok(Counters {
            next_seq: self.meta(META_NEXT_SEQ)?.unwrap_or(0),
            next_mini_block: self.meta(META_NEXT_MINI)?.unwrap_or(0),
        })
    }

    fn meta(&self, key: &str) -> Result<Option<u64>, StoreError> {
        Ok(self.txn.open_table(META)?.get(key)?.map(|v| v.value()))
    }

    /// The hash of the last stored mini-block (zero before the first).
    pub fn last_mini_block_hash(&self) -> Result<B256, StoreError> {
        Ok(self
            .txn
            .open_table(HASHES)?
            .get(HASH_LAST_MINI)?
            .map(|v| B256::from(*v.value()))
            .unwrap_or_default())
    }

    /// A stored (sealed) mini-block record.
    pub fn mini_block(&self, number: u64) -> Result<Option<MiniBlockRecord>, StoreError> {
        let table = self.txn.open_table(MINI_BLOCKS)?;
        let Some(raw) = table.get(number)? else {
            return Ok(None);
        };
        serde_json::from_slice(raw.value())
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("mini-block {number}: {e}")))
    }

    /// Where a sealed transaction was preconfirmed: (mini-block number, index).
    pub fn tx_mini_block(&self, hash: &B256) -> Result<Option<(u64, u32)>, StoreError> {
        Ok(self
            .txn
            .open_table(TX_MINI)?
            .get(&hash.0)?
            .map(|v| v.value()))
    }

    /// The header of block `number`.
    pub fn header(&self, number: u64) -> Result<Option<Header>, StoreError> {
        let table = self.txn.open_table(HEADERS)?;
        let Some(raw) = table.get(number)? else {
            return Ok(None);
        };
        let header = Header::decode(&mut raw.value())
            .map_err(|e| StoreError::Corrupt(format!("header {number}: {e}")))?;
        Ok(Some(header))
    }

    /// The number of the block with hash `hash`.
    pub fn number_of(&self, hash: &B256) -> Result<Option<u64>, StoreError> {
        Ok(self
            .txn
            .open_table(BLOCK_NUMBERS)?
            .get(&hash.0)?
            .map(|v| v.value()))
    }

    /// Where a transaction was included: (block number, index).
    pub fn tx_location(&self, hash: &B256) -> Result<Option<(u64, u32)>, StoreError> {
        Ok(self
            .txn
            .open_table(TX_INDEX)?
            .get(&hash.0)?
            .map(|v| v.value()))
    }

    /// The whole block `number`.
    pub fn block(&self, number: u64) -> Result<Option<StoredBlock>, StoreError> {
        let Some(header) = self.header(number)? else {
            return Ok(None);
        };
        let body = self.txn.open_table(BODIES)?;
        let raw = body
            .get(number)?
            .ok_or_else(|| StoreError::Corrupt(format!("block {number} has no body")))?;
        let txs = decode_list(raw.value())?
            .iter()
            .map(|b| TxEnvelope::decode_2718(&mut b.as_ref()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StoreError::Corrupt(format!("block {number} body: {e}")))?;
        let senders_raw = self.txn.open_table(SENDERS)?;
        let senders = senders_raw
            .get(number)?
            .map(|v| {
                v.value()
                    .chunks_exact(20)
                    .map(Address::from_slice)
                    .collect()
            })
            .unwrap_or_default();
        let receipts_raw = self.txn.open_table(RECEIPTS)?;
        let raw = receipts_raw
            .get(number)?
            .ok_or_else(|| StoreError::Corrupt(format!("block {number} has no receipts")))?;
        let receipts = decode_list(raw.value())?
            .iter()
            .map(|b| ReceiptEnvelope::decode_2718(&mut b.as_ref()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StoreError::Corrupt(format!("block {number} receipts: {e}")))?;
        let hash = header.hash_slow();
        Ok(Some(StoredBlock {
            header,
            hash,
            txs,
            senders,
            receipts,
        }))
    }

    /// An account of the head state: (nonce, balance, code hash).
    pub fn account(&self, address: &Address) -> Result<Option<(u64, U256, B256)>, StoreError> {
        let table = self.txn.open_table(ACCOUNTS)?;
        table
            .get(&address.0.0)?
            .map(|v| decode_account(v.value()))
            .transpose()
    }

    /// A storage slot of the head state.
    pub fn storage(&self, address: &Address, slot: &U256) -> Result<U256, StoreError> {
        let table = self.txn.open_table(STORAGE)?;
        Ok(table
            .get(&storage_key(address, slot))?
            .map(|v| U256::from_be_bytes(*v.value()))
            .unwrap_or_default())
    }

    /// Code by hash.
    pub fn code(&self, hash: &B256) -> Result<Option<Bytes>, StoreError> {
        let table = self.txn.open_table(CODES)?;
        Ok(table
            .get(&hash.0)?
            .map(|v| Bytes::copy_from_slice(v.value())))
    }

    /// Loads the whole head state into memory (at start-up).
    pub fn load_state(&self) -> Result<WorldState, StoreError> {
        let mut state = WorldState::new();
        for entry in self.txn.open_table(CODES)?.iter()? {
            let (hash, code) = entry?;
            state.insert_code(
                B256::from(*hash.value()),
                Bytes::copy_from_slice(code.value()),
            );
        }
        let storage = self.txn.open_table(STORAGE)?;
        for entry in self.txn.open_table(ACCOUNTS)?.iter()? {
            let (address, record) = entry?;
            let address = Address::from(*address.value());
            let (nonce, balance, code_hash) = decode_account(record.value())?;
            let start = storage_key(&address, &U256::ZERO);
            let end = storage_key(&address, &U256::MAX);
            let mut slots = Vec::new();
            for slot in storage.range::<&[u8; 52]>(&start..=&end)? {
                let (key, value) = slot?;
                slots.push((
                    U256::from_be_slice(&key.value()[20..]),
                    U256::from_be_bytes(*value.value()),
                ));
            }
            state.insert_account_with_hash(address, nonce, balance, code_hash, slots);
        }
        Ok(state)
    }
}
