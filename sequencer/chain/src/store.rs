//! Persistence in redb: blocks, receipts, the transaction index and the latest state.
//!
//! One write transaction per sealed L2 block stores the block, its receipts, its
//! transactions' index entries, its state diff and the new head together, so a reader
//! (or a restart) always sees a whole block or none of it. The state tables hold the state
//! as of the head block: `latest` reads are served from them.

use crate::{
    diff::StateDiff,
    error::StoreError,
    recent_index::{Location, RecentIndex},
    record::MiniBlockRecord,
    state::WorldState,
};
use alloy_consensus::{Header, ReceiptEnvelope, TxEnvelope};
use alloy_eips::{Decodable2718, Encodable2718};
use alloy_primitives::{Address, B256, Bytes, Signature, U256};
use alloy_rlp::Decodable;
use peregrine_preconf::{BlockSeal, SignedSeal};
use redb::{
    Database, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition, TableHandle,
    WriteTransaction,
};
use std::path::Path;

const HEADERS: TableDefinition<u64, &[u8]> = TableDefinition::new("headers");
const BODIES: TableDefinition<u64, &[u8]> = TableDefinition::new("bodies");
const SENDERS: TableDefinition<u64, &[u8]> = TableDefinition::new("senders");
const RECEIPTS: TableDefinition<u64, &[u8]> = TableDefinition::new("receipts");
const BLOCK_NUMBERS: TableDefinition<&[u8; 32], u64> = TableDefinition::new("block_numbers");
/// Where each sealed transaction is: (block number, index in the block, mini-block number,
/// index in the mini-block). One table, so each hash is inserted once. It covers the
/// durable blocks; those committed since are indexed in memory ([`crate::recent_index`]).
const TX_LOCATIONS: TableDefinition<&[u8; 32], (u64, u32, u64, u32)> =
    TableDefinition::new("tx_locations");
const ACCOUNTS: TableDefinition<&[u8; 20], &[u8]> = TableDefinition::new("accounts");
const STORAGE: TableDefinition<&[u8; 52], &[u8; 32]> = TableDefinition::new("storage");
const CODES: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("codes");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const MINI_BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("mini_blocks");
/// The two tables `TX_LOCATIONS` replaced (block, index) and (mini-block, index); a
/// database that has them is migrated when opened.
const LEGACY_TX_INDEX: TableDefinition<&[u8; 32], (u64, u32)> = TableDefinition::new("tx_index");
const LEGACY_TX_MINI: TableDefinition<&[u8; 32], (u64, u32)> =
    TableDefinition::new("tx_mini_block");
const HASHES: TableDefinition<&str, &[u8; 32]> = TableDefinition::new("hashes");
/// Block views ([`crate::view`]) of sealed blocks, by hash: (block number, transactions it
/// covers, mini-block it ends with). The header is rebuilt from the block when asked for.
const VIEWS: TableDefinition<&[u8; 32], (u64, u32, u64)> = TableDefinition::new("views");
/// The sequencer's signed seal of each sealed block ([`SignedSeal`]), as
/// [`encode_seal`] writes it: what a replica re-serves and the batcher can show.
const SEALS: TableDefinition<u64, &[u8]> = TableDefinition::new("seals");
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

impl StoredBlock {
    /// The block with `header` over the executed `txs`.
    pub fn new(header: Header, txs: &[crate::ExecutedTx]) -> Self {
        Self {
            hash: header.hash_slow(),
            txs: txs.iter().map(|t| t.envelope.clone()).collect(),
            senders: txs.iter().map(|t| t.sender).collect(),
            receipts: txs.iter().map(|t| t.receipt.clone()).collect(),
            header,
        }
    }
}

/// What the receipt of one sealed transaction needs, read without decoding its block.
#[derive(Debug, Clone)]
pub struct SealedReceipt {
    /// The block's header.
    pub header: Header,
    /// The block's hash.
    pub block_hash: B256,
    /// The transaction's index in the block.
    pub index: u32,
    /// The transaction.
    pub tx: TxEnvelope,
    /// Its sender.
    pub sender: Address,
    /// Its receipt.
    pub receipt: ReceiptEnvelope,
    /// Gas it used alone.
    pub gas_used: u64,
    /// Block-wide index of its first log.
    pub first_log_index: u64,
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
    /// The index entries of blocks committed since the last durable commit.
    recent: RecentIndex,
    /// A second, read-only handle on the database file, to start its writeback
    /// ([`Store::start_writeback`]).
    file: std::fs::File,
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

/// Item `n` of an RLP list of byte strings (as [`decode_list`] reads it), found by
/// skipping the items before it without copying them; `None` past the end.
fn nth_list_item(mut bytes: &[u8], n: usize) -> Result<Option<&[u8]>, StoreError> {
    let corrupt = |e: alloy_rlp::Error| StoreError::Corrupt(e.to_string());
    let list = alloy_rlp::Header::decode(&mut bytes).map_err(corrupt)?;
    if !list.list || bytes.len() < list.payload_length {
        return Err(StoreError::Corrupt("not an RLP list".into()));
    }
    let mut items = &bytes[..list.payload_length];
    for i in 0.. {
        if items.is_empty() {
            return Ok(None);
        }
        let item = alloy_rlp::Header::decode(&mut items).map_err(corrupt)?;
        let Some((payload, rest)) = items.split_at_checked(item.payload_length) else {
            return Err(StoreError::Corrupt("an RLP item runs past its list".into()));
        };
        if i == n {
            return Ok(Some(payload));
        }
        items = rest;
    }
    unreachable!("the loop returns")
}

/// Encodes a mini-block record as the store keeps it (CBOR, RFC 8949), appending to `buf`.
///
/// CBOR because it is self-describing, as the record's serde form needs (alloy's `Log`
/// flattens its data), and binary: hashes and addresses are byte strings, not hex. A
/// record of one transfer is 1.6× smaller than its JSON and encodes 1.9× faster
/// (`cargo bench -p peregrine-sequencer --bench store`).
pub fn encode_mini_block_record(
    record: &MiniBlockRecord,
    buf: &mut Vec<u8>,
) -> Result<(), StoreError> {
    ciborium::into_writer(record, buf)
        .map_err(|e| StoreError::Corrupt(format!("cannot encode mini-block: {e}")))
}

/// Decodes a stored mini-block record: CBOR, or JSON for rows written by earlier builds (a
/// JSON object starts with `{`, which no CBOR record does: it starts with a map header).
/// Public for the fuzz target `mini_block_cbor`.
pub fn decode_mini_block_record(raw: &[u8]) -> Result<MiniBlockRecord, String> {
    if raw.first() == Some(&b'{') {
        serde_json::from_slice(raw).map_err(|e| e.to_string())
    } else {
        cbor_lengths_fit(raw)?;
        ciborium::from_reader(raw).map_err(|e| e.to_string())
    }
}

/// Refuses CBOR whose headers claim more items or bytes than the input holds. alloy's
/// `Bytes` deserializer allocates what a CBOR array's header claims before reading it,
/// so a damaged record claiming 2⁶⁰ elements panicked ("capacity overflow"), and one
/// claiming a few terabytes would abort the process (found by the `mini_block_cbor` fuzz
/// target). Every item takes at least one byte, so a valid claim never exceeds what is
/// left. A linear walk over the headers (CBOR nests by position, not by length).
fn cbor_lengths_fit(raw: &[u8]) -> Result<(), String> {
    let mut pos = 0;
    while pos < raw.len() {
        let (major, info) = (raw[pos] >> 5, raw[pos] & 0x1f);
        pos += 1;
        let size = match info {
            0..=23 => 0,
            24 => 1,
            25 => 2,
            26 => 4,
            27 => 8,
            31 => 0, // indefinite length, or the break code
            _ => return Err(format!("CBOR: reserved header at byte {}", pos - 1)),
        };
        let Some(arg) = raw.get(pos..pos + size) else {
            return Err("CBOR: a header runs past the end".into());
        };
        pos += size;
        let value = if size == 0 {
            u64::from(if info == 31 { 0 } else { info })
        } else {
            arg.iter().fold(0u64, |v, b| (v << 8) | u64::from(*b))
        };
        let left = (raw.len() - pos) as u64;
        match major {
            // Byte and text strings: their contents follow; skip them.
            2 | 3 => {
                if value > left {
                    return Err(format!(
                        "CBOR: a string claims {value} bytes, {left} are left"
                    ));
                }
                pos += value as usize;
            }
            // Arrays and maps: their items follow, each at least one byte.
            4 | 5 => {
                let items = if major == 5 {
                    value.saturating_mul(2)
                } else {
                    value
                };
                if items > left {
                    return Err(format!(
                        "CBOR: a container claims {items} items, {left} bytes are left"
                    ));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Moves a database's transaction index from the two tables of earlier builds into
/// `TX_LOCATIONS`, in the opening write transaction (so all of it or none).
fn migrate_tx_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    if !txn
        .list_tables()?
        .any(|t| t.name() == LEGACY_TX_INDEX.name())
    {
        return Ok(());
    }
    {
        let index = txn.open_table(LEGACY_TX_INDEX)?;
        let minis = txn.open_table(LEGACY_TX_MINI)?;
        let mut locations = txn.open_table(TX_LOCATIONS)?;
        for entry in index.iter()? {
            let (hash, at) = entry?;
            let (hash, (block, index)) = (*hash.value(), at.value());
            let (mini, mini_index) = minis.get(&hash)?.map(|v| v.value()).ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "transaction {} of block {block} has no mini-block",
                    B256::from(hash)
                ))
            })?;
            locations.insert(&hash, (block, index, mini, mini_index))?;
        }
    }
    txn.delete_table(LEGACY_TX_INDEX)?;
    txn.delete_table(LEGACY_TX_MINI)?;
    tracing::info!("transaction index migrated to one table");
    Ok(())
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
            migrate_tx_tables(&txn)?;
            txn.open_table(TX_LOCATIONS)?;
            txn.open_table(ACCOUNTS)?;
            txn.open_table(STORAGE)?;
            txn.open_table(CODES)?;
            txn.open_table(META)?;
            txn.open_table(MINI_BLOCKS)?;
            txn.open_table(HASHES)?;
            txn.open_table(VIEWS)?;
            txn.open_table(SEALS)?;
        }
        txn.commit()?;
        let file = std::fs::File::open(path)?;
        Ok(Self {
            db,
            recent: RecentIndex::default(),
            file,
        })
    }

    /// Starts writing the database file's dirty pages to disk and returns without waiting
    /// for them (`sync_file_range` on Linux). Called after each block committed with
    /// [`BlockWriter::defer_sync`], it spreads the disk writes over the blocks, so the next
    /// checkpoint's sync waits only for the last ones. Durability does not depend on it.
    pub fn start_writeback(&self) -> Result<(), StoreError> {
        crate::writeback::start(&self.file)?;
        Ok(())
    }

    /// A consistent read view: everything read through it belongs to one head.
    pub fn reader(&self) -> Result<StoreReader, StoreError> {
        Ok(StoreReader {
            txn: self.db.begin_read()?,
            recent: self.recent.clone(),
            head: std::sync::OnceLock::new(),
        })
    }

    /// Writes a sealed block, its signed mini-blocks, its state diff and counters, and
    /// makes it the head: [`Store::begin_block`], the mini-blocks, then
    /// [`BlockWriter::commit`].
    pub fn put_block(
        &self,
        block: &StoredBlock,
        minis: &[std::sync::Arc<MiniBlockRecord>],
        diff: &StateDiff,
        counters: Counters,
        chain_id: u64,
    ) -> Result<(), StoreError> {
        let mut writer = self.begin_block()?;
        writer.add_mini_blocks(minis.iter().map(|r| (r.as_ref(), None)))?;
        writer.commit(block, diff, counters, chain_id)
    }

    /// Makes every commit so far durable: one commit, synced to disk, that also writes
    /// the index entries of the blocks committed with [`BlockWriter::defer_sync`] since
    /// the last durable commit. Those blocks become durable with it.
    pub fn persist(&self) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        let through = write_recent(&txn, &self.recent, &[])?;
        txn.commit()?;
        self.recent.flushed(through);
        Ok(())
    }

    /// Starts writing the next block. Its mini-blocks can go in as they are signed, so
    /// the seal itself writes only the block, the state and the commit.
    /// Readers see none of it until [`BlockWriter::commit`]; dropping the writer
    /// discards it. redb has one writer at a time: `begin_block` waits for the last
    /// writer to commit or drop.
    pub fn begin_block(&self) -> Result<BlockWriter, StoreError> {
        Ok(BlockWriter {
            txn: self.db.begin_write()?,
            hashes: Vec::new(),
            locations: Vec::new(),
            durable: true,
            recent: self.recent.clone(),
            last_mini: None,
            buf: Vec::new(),
        })
    }
}

/// One block being written ([`Store::begin_block`]): one redb write transaction.
pub struct BlockWriter {
    txn: WriteTransaction,
    /// The block's transactions so far, in the order its mini-blocks listed them.
    hashes: Vec<B256>,
    /// Their index entries, written at the commit.
    locations: Vec<(B256, Location)>,
    /// Whether the commit syncs (not after [`BlockWriter::defer_sync`]).
    durable: bool,
    recent: RecentIndex,
    /// The block number and hash of the last mini-block added.
    last_mini: Option<(u64, B256)>,
    buf: Vec<u8>,
}

impl BlockWriter {
    /// Stores signed mini-blocks of this block and indexes their transactions. Their
    /// transactions must be the next ones of the block, in order. One call for many
    /// mini-blocks is cheaper than one each (the tables open once). Each may come with the
    /// hash of the block view that ends with it, indexed so the view stays readable.
    pub fn add_mini_blocks<'a>(
        &mut self,
        records: impl IntoIterator<Item = (&'a MiniBlockRecord, Option<B256>)>,
    ) -> Result<(), StoreError> {
        let mut stored = self.txn.open_table(MINI_BLOCKS)?;
        let mut views = self.txn.open_table(VIEWS)?;
        for (record, view) in records {
            let block = record.header.block_number;
            if let Some((open, _)) = self.last_mini
                && open != block
            {
                return Err(StoreError::Corrupt(format!(
                    "mini-block {} of block {block} written with block {open}",
                    record.number()
                )));
            }
            self.buf.clear();
            encode_mini_block_record(record, &mut self.buf)?;
            stored.insert(record.number(), self.buf.as_slice())?;
            for (i, tx) in record.transactions.iter().enumerate() {
                if tx.block_index as usize != self.hashes.len() {
                    return Err(StoreError::Corrupt(format!(
                        "mini-block {} puts transaction {} at index {} of block {block}, \
                         expected {}",
                        record.number(),
                        tx.hash,
                        tx.block_index,
                        self.hashes.len()
                    )));
                }
                let location = (block, tx.block_index, record.number(), i as u32);
                self.locations.push((tx.hash, location));
                self.hashes.push(tx.hash);
            }
            if let Some(view) = view {
                let covers = u32::try_from(self.hashes.len()).expect("fewer than 2^32 a block");
                views.insert(&view.0, (block, covers, record.number()))?;
            }
            self.last_mini = Some((block, record.hash));
        }
        Ok(())
    }

    /// Stores the block's signed seal (committed with the block).
    pub fn add_seal(&mut self, seal: &SignedSeal) -> Result<(), StoreError> {
        self.txn
            .open_table(SEALS)?
            .insert(seal.seal.blockNumber, encode_seal(seal).as_slice())?;
        Ok(())
    }

    /// Commits this block without waiting for the disk (redb's `Durability::None`):
    /// readers see it at once, and it becomes durable with the next durable commit
    /// ([`Store::persist`], or a block written without this). After a crash the store
    /// reopens at the last durable commit; the write-ahead log holds what came after.
    pub fn defer_sync(&mut self) -> Result<(), StoreError> {
        self.txn.set_durability(redb::Durability::None)?;
        self.durable = false;
        Ok(())
    }

    /// Writes the sealed block itself, its state diff and the counters, makes it the head,
    /// and commits: the block and every mini-block added become visible together. The
    /// mini-blocks added must list exactly the block's transactions.
    pub fn commit(
        self,
        block: &StoredBlock,
        diff: &StateDiff,
        counters: Counters,
        chain_id: u64,
    ) -> Result<(), StoreError> {
        let number = block.header.number;
        let listed = block.txs.iter().map(|t| t.tx_hash());
        if self.last_mini.is_some_and(|(n, _)| n != number) || !listed.eq(self.hashes.iter()) {
            return Err(StoreError::Corrupt(format!(
                "block {number}'s mini-blocks do not list its transactions in order"
            )));
        }
        let txn = self.txn;
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
            if let Some((_, last)) = self.last_mini {
                txn.open_table(HASHES)?.insert(HASH_LAST_MINI, &last.0)?;
            }
            let mut meta = txn.open_table(META)?;
            meta.insert(META_HEAD, number)?;
            meta.insert(META_CHAIN_ID, chain_id)?;
            meta.insert(META_NEXT_SEQ, counters.next_seq)?;
            meta.insert(META_NEXT_MINI, counters.next_mini_block)?;
        }
        if self.durable {
            // This commit makes the blocks before it durable too: their entries go with it.
            let through = write_recent(&txn, &self.recent, &self.locations)?;
            txn.commit()?;
            self.recent.flushed(through);
        } else {
            txn.commit()?;
            self.recent.add(number, &self.locations);
        }
        Ok(())
    }
}

/// Writes the entries of `recent` not yet on disk, and `more`, into `tx_locations` in
/// `txn`; returns the newest block of `recent` written, for [`RecentIndex::flushed`] once
/// `txn` committed.
fn write_recent(
    txn: &WriteTransaction,
    recent: &RecentIndex,
    more: &[(B256, Location)],
) -> Result<Option<u64>, StoreError> {
    let (entries, through) = recent.unflushed();
    let mut table = txn.open_table(TX_LOCATIONS)?;
    for (hash, location) in entries.iter().chain(more) {
        table.insert(&hash.0, *location)?;
    }
    Ok(through)
}

impl std::fmt::Debug for BlockWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockWriter")
            .field("transactions", &self.hashes.len())
            .field("last_mini", &self.last_mini)
            .finish_non_exhaustive()
    }
}

/// A read transaction over the store: one consistent head.
pub struct StoreReader {
    txn: ReadTransaction,
    /// Index entries not on disk yet, for the blocks this snapshot holds.
    recent: RecentIndex,
    /// This snapshot's head, read once when the in-memory index answers.
    head: std::sync::OnceLock<Option<u64>>,
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

    /// The signed seal of sealed block `number` (`None` for block 0, which has none, and
    /// for blocks not sealed yet).
    pub fn seal(&self, number: u64) -> Result<Option<SignedSeal>, StoreError> {
        let table = self.txn.open_table(SEALS)?;
        let Some(v) = table.get(number)? else {
            return Ok(None);
        };
        decode_seal(v.value()).map(Some)
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
        decode_mini_block_record(raw.value())
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("mini-block {number}: {e}")))
    }

    /// Where a sealed transaction was preconfirmed: (mini-block number, index).
    pub fn tx_mini_block(&self, hash: &B256) -> Result<Option<(u64, u32)>, StoreError> {
        Ok(self.location(hash)?.map(|(_, _, mini, i)| (mini, i)))
    }

    fn location(&self, hash: &B256) -> Result<Option<Location>, StoreError> {
        if let Some(location) = self.recent.get(hash) {
            let head = *self.head.get_or_init(|| self.head().ok().flatten());
            // A block committed after this snapshot was taken is not in it.
            if head.is_some_and(|head| location.0 <= head) {
                return Ok(Some(location));
            }
        }
        Ok(self
            .txn
            .open_table(TX_LOCATIONS)?
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
        Ok(self.location(hash)?.map(|(block, i, _, _)| (block, i)))
    }

    /// Transaction `index` of block `number` with its sender, and the block's header and
    /// hash, decoding only that transaction (a lookup by hash used to decode the whole
    /// block with its receipts: milliseconds for a block of thousands).
    pub fn block_tx(
        &self,
        number: u64,
        index: usize,
    ) -> Result<Option<(Header, B256, TxEnvelope, Address)>, StoreError> {
        let Some(header) = self.header(number)? else {
            return Ok(None);
        };
        let body = self.txn.open_table(BODIES)?;
        let raw = body
            .get(number)?
            .ok_or_else(|| StoreError::Corrupt(format!("block {number} has no body")))?;
        let Some(mut encoded) = nth_list_item(raw.value(), index)? else {
            return Ok(None);
        };
        let tx = TxEnvelope::decode_2718(&mut encoded)
            .map_err(|e| StoreError::Corrupt(format!("block {number} body: {e}")))?;
        let sender = self
            .txn
            .open_table(SENDERS)?
            .get(number)?
            .and_then(|v| {
                v.value()
                    .chunks_exact(20)
                    .nth(index)
                    .map(Address::from_slice)
            })
            .ok_or_else(|| StoreError::Corrupt(format!("block {number} lacks sender {index}")))?;
        let hash = header.hash_slow();
        Ok(Some((header, hash, tx, sender)))
    }

    /// Where the stored view `hash` is: (block number, transactions it covers).
    pub fn view_location(&self, hash: &B256) -> Result<Option<(u64, u32)>, StoreError> {
        Ok(self.txn.open_table(VIEWS)?.get(&hash.0)?.map(|v| {
            let (number, covers, _) = v.value();
            (number, covers)
        }))
    }

    /// The block view with hash `hash` ([`crate::view`]) of a sealed block: the block's
    /// first transactions, up to the mini-block the view ends with, under the view's
    /// header. `None` if no such view was stored.
    pub fn view_block(&self, hash: &B256) -> Result<Option<StoredBlock>, StoreError> {
        let Some((number, covers, mini)) =
            self.txn.open_table(VIEWS)?.get(&hash.0)?.map(|v| v.value())
        else {
            return Ok(None);
        };
        let (Some(mut block), Some(record)) = (self.block(number)?, self.mini_block(mini)?) else {
            return Err(StoreError::Corrupt(format!(
                "view {hash} of block {number} (mini-block {mini}) lacks its block or mini-block"
            )));
        };
        let covers = covers as usize;
        if covers > block.txs.len() {
            return Err(StoreError::Corrupt(format!(
                "view {hash} covers {covers} transactions of block {number}, which has {}",
                block.txs.len()
            )));
        }
        block.txs.truncate(covers);
        block.senders.truncate(covers);
        block.receipts.truncate(covers);
        let parts = crate::view::ViewParts::over(&block.txs, &block.receipts);
        let ctx = crate::view::context_of(&block.header);
        block.header =
            crate::view::view_header(block.header.parent_hash, &ctx, &parts, record.hash);
        block.hash = block.header.hash_slow();
        if block.hash != *hash {
            return Err(StoreError::Corrupt(format!(
                "view {hash} of block {number} rebuilds with hash {}",
                block.hash
            )));
        }
        Ok(Some(block))
    }

    /// The receipt parts of sealed transaction `hash`: one transaction, one receipt and
    /// the signed record of its mini-block are decoded, not the whole block (a poller's
    /// lookup in a block of 10 000 transactions decoded all their receipts).
    pub fn sealed_receipt(&self, hash: &B256) -> Result<Option<SealedReceipt>, StoreError> {
        let Some((number, index, mini, at)) = self.location(hash)? else {
            return Ok(None);
        };
        let corrupt = |what: &str| StoreError::Corrupt(format!("block {number}: {what} of {hash}"));
        let (header, block_hash, tx, sender) = self
            .block_tx(number, index as usize)?
            .ok_or_else(|| corrupt("no transaction"))?;
        let receipts = self.txn.open_table(RECEIPTS)?;
        let raw = receipts
            .get(number)?
            .ok_or_else(|| corrupt("no receipts"))?;
        let mut encoded =
            nth_list_item(raw.value(), index as usize)?.ok_or_else(|| corrupt("no receipt"))?;
        let receipt = ReceiptEnvelope::decode_2718(&mut encoded)
            .map_err(|e| StoreError::Corrupt(format!("block {number} receipt {index}: {e}")))?;
        let recorded = self
            .mini_block(mini)?
            .and_then(|r| r.transactions.into_iter().nth(at as usize))
            .filter(|t| t.hash == *hash)
            .ok_or_else(|| corrupt("no mini-block record"))?;
        Ok(Some(SealedReceipt {
            header,
            block_hash,
            index,
            tx,
            sender,
            receipt,
            gas_used: recorded.receipt.gas_used,
            first_log_index: recorded.first_log_index,
        }))
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

/// Length of an encoded seal: chain id, block number, block hash, state root, next
/// mini-block, last mini-block hash, signature.
const SEAL_LEN: usize = 8 + 8 + 32 + 32 + 8 + 32 + 65;

/// `seal`'s fields in their declared order (integers big-endian), then the 65-byte
/// signature.
fn encode_seal(seal: &SignedSeal) -> Vec<u8> {
    let s = &seal.seal;
    let mut out = Vec::with_capacity(SEAL_LEN);
    out.extend_from_slice(&s.chainId.to_be_bytes());
    out.extend_from_slice(&s.blockNumber.to_be_bytes());
    out.extend_from_slice(s.blockHash.as_slice());
    out.extend_from_slice(s.stateRoot.as_slice());
    out.extend_from_slice(&s.nextMiniBlock.to_be_bytes());
    out.extend_from_slice(s.lastMiniBlockHash.as_slice());
    out.extend_from_slice(&seal.signature.as_bytes());
    out
}

fn decode_seal(b: &[u8]) -> Result<SignedSeal, StoreError> {
    if b.len() != SEAL_LEN {
        return Err(StoreError::Corrupt(format!(
            "a stored seal of {} bytes, not {SEAL_LEN}",
            b.len()
        )));
    }
    let u64_at = |i: usize| u64::from_be_bytes(b[i..i + 8].try_into().expect("8 bytes"));
    let b256_at = |i: usize| B256::from_slice(&b[i..i + 32]);
    let signature = Signature::from_raw(&b[120..])
        .map_err(|e| StoreError::Corrupt(format!("a stored seal's signature: {e}")))?;
    Ok(SignedSeal {
        seal: BlockSeal {
            chainId: u64_at(0),
            blockNumber: u64_at(8),
            blockHash: b256_at(16),
            stateRoot: b256_at(48),
            nextMiniBlock: u64_at(80),
            lastMiniBlockHash: b256_at(88),
        },
        signature,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        MiniBlock,
        diff::{AccountFields, DiffLog},
        genesis::dev_mnemonic_signers,
        record::{ReceiptFields, RecordedTx, sign_mini_block},
        recycle::Recycled,
        testing::{block_context, transfer},
    };
    use alloy_primitives::{Log, LogData};
    use peregrine_preconf::SequencerKey;
    use std::sync::Arc;

    const CHAIN_ID: u64 = 901;

    fn txs(n: u64) -> Vec<TxEnvelope> {
        let signer = dev_mnemonic_signers().remove(0);
        (0..n)
            .map(|nonce| {
                transfer(
                    &signer,
                    CHAIN_ID,
                    nonce,
                    Address::repeat_byte(7),
                    U256::from(1),
                )
            })
            .collect()
    }

    /// A signed mini-block `number` recording `txs` (from `first_index` in their block),
    /// each with a log, and a state diff with a storage slot: every kind of field.
    fn record(number: u64, txs: &[TxEnvelope], first_index: u32) -> MiniBlockRecord {
        let mini = MiniBlock {
            number,
            block: block_context(1),
            first_seq: 0,
            txs: Recycled::detached(Vec::new()),
            diff: Recycled::detached(DiffLog::default()),
            closed_us: 10,
            signed_us: Some(11),
        };
        let mut record = sign_mini_block(&SequencerKey::dev(), CHAIN_ID, B256::ZERO, &mini);
        record.transactions = txs
            .iter()
            .zip(first_index..)
            .map(|(tx, block_index)| RecordedTx {
                hash: *tx.tx_hash(),
                from: Address::repeat_byte(1),
                to: Some(Address::repeat_byte(7)),
                block_index,
                first_log_index: u64::from(block_index),
                sequence: u64::from(block_index),
                receipt: ReceiptFields {
                    success: true,
                    gas_used: 21_000,
                    cumulative_gas_used: 21_000 * u64::from(block_index + 1),
                    logs_hash: B256::repeat_byte(3),
                },
                logs: vec![Log {
                    address: Address::repeat_byte(9),
                    data: LogData::new_unchecked(
                        vec![B256::repeat_byte(4)],
                        Bytes::from_static(b"data"),
                    ),
                }],
                contract_address: None,
                received: 1,
                ordered: 2,
                executed: 3,
                raw: tx.encoded_2718().into(),
            })
            .collect();
        record.state_diff.update(
            Address::repeat_byte(1),
            AccountFields {
                nonce: 1,
                balance: U256::MAX - U256::from(5),
                code_hash: B256::repeat_byte(5),
            },
            true,
            [(U256::from(1), U256::from(2))].into_iter(),
        );
        record
    }

    fn block(number: u64, txs: &[TxEnvelope]) -> StoredBlock {
        let header = Header {
            number,
            ..Default::default()
        };
        StoredBlock {
            hash: header.hash_slow(),
            txs: txs.to_vec(),
            senders: vec![Address::repeat_byte(1); txs.len()],
            receipts: Vec::new(),
            header,
        }
    }

    #[test]
    fn mini_block_records_are_stored_as_cbor_and_json_rows_still_read() {
        let record = record(3, &txs(2), 0);
        let mut cbor = Vec::new();
        encode_mini_block_record(&record, &mut cbor).unwrap();
        let json = serde_json::to_vec(&record).unwrap();
        assert!(cbor.len() < json.len(), "{} >= {}", cbor.len(), json.len());
        assert_eq!(decode_mini_block_record(&cbor).unwrap(), record);
        assert_eq!(decode_mini_block_record(&json).unwrap(), record);
        assert!(decode_mini_block_record(&cbor[..cbor.len() - 1]).is_err());
        assert!(decode_mini_block_record(&json[..json.len() - 1]).is_err());
    }

    #[test]
    fn cbor_claiming_more_than_it_holds_is_refused_not_allocated() {
        // The fuzzer's input: a map with a "signature" field holding an array that claims
        // ~2^63 elements (alloy's `Bytes` visitor pre-allocated them and panicked).
        let found = alloy_primitives::hex::decode(
            "cfb825497369676e6174757265cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd9bcdcdcdcdcdcdcdcdcdcdcdcdcdcd0c3f7b",
        )
        .unwrap();
        let err = decode_mini_block_record(&found).unwrap_err();
        assert!(err.contains("CBOR"), "{err}");
        // A real record passes the check.
        let txs = txs(2);
        let mut buf = Vec::new();
        encode_mini_block_record(&record(3, &txs, 0), &mut buf).unwrap();
        assert!(cbor_lengths_fit(&buf).is_ok());
        assert_eq!(decode_mini_block_record(&buf).unwrap(), record(3, &txs, 0));
    }

    #[test]
    fn a_sealed_transaction_is_found_by_block_and_by_mini_block() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        let txs = txs(3);
        let records = [record(5, &txs[..1], 0), record(6, &txs[1..], 1)].map(Arc::new);
        let counters = Counters::default();
        store
            .put_block(
                &block(1, &txs),
                &records,
                &StateDiff::default(),
                counters,
                CHAIN_ID,
            )
            .unwrap();
        let reader = store.reader().unwrap();
        let at = |i: usize| {
            let hash = txs[i].tx_hash();
            (
                reader.tx_location(hash).unwrap(),
                reader.tx_mini_block(hash).unwrap(),
            )
        };
        assert_eq!(at(0), (Some((1, 0)), Some((5, 0))));
        assert_eq!(at(1), (Some((1, 1)), Some((6, 0))));
        assert_eq!(at(2), (Some((1, 2)), Some((6, 1))));
        assert_eq!(reader.mini_block(6).unwrap().unwrap(), *records[1]);
        assert_eq!(reader.tx_location(&B256::repeat_byte(8)).unwrap(), None);
        // One transaction alone reads as the whole block has it.
        let whole = reader.block(1).unwrap().unwrap();
        for (i, tx) in txs.iter().enumerate() {
            let (header, hash, one, sender) = reader.block_tx(1, i).unwrap().unwrap();
            assert_eq!((header, hash), (whole.header.clone(), whole.hash));
            assert_eq!((&one, sender), (tx, whole.senders[i]));
        }
        assert!(reader.block_tx(1, 3).unwrap().is_none());
        assert!(reader.block_tx(2, 0).unwrap().is_none());
    }

    #[test]
    fn a_block_whose_mini_blocks_do_not_list_its_transactions_is_not_written() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        let txs = txs(3);
        let diff = StateDiff::default();
        let counters = Counters::default();
        let cases = [
            // one transaction missing from the mini-blocks, one extra, two swapped
            vec![record(0, &txs[..2], 0)],
            vec![record(0, &txs, 0), record(1, &txs[..1], 3)],
            vec![record(
                0,
                &[txs[1].clone(), txs[0].clone(), txs[2].clone()],
                0,
            )],
        ];
        for records in cases {
            let records: Vec<_> = records.into_iter().map(Arc::new).collect();
            let err = store
                .put_block(&block(1, &txs), &records, &diff, counters, CHAIN_ID)
                .unwrap_err();
            assert!(
                err.to_string().contains("do not list its transactions"),
                "{err}"
            );
        }
        let reader = store.reader().unwrap();
        assert_eq!(reader.head().unwrap(), None);
        assert_eq!(reader.tx_location(txs[0].tx_hash()).unwrap(), None);
    }

    #[test]
    fn mini_blocks_written_ahead_are_invisible_until_their_block_commits() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        let txs = txs(2);
        let first = Arc::new(record(0, &txs[..1], 0));
        let mut writer = store.begin_block().unwrap();
        writer.add_mini_blocks([(&*first, None)]).unwrap();
        let reader = store.reader().unwrap();
        assert_eq!(reader.mini_block(0).unwrap(), None);
        assert_eq!(reader.tx_mini_block(txs[0].tx_hash()).unwrap(), None);
        // A transaction that is not the block's next one is refused where it is added.
        let err = writer
            .add_mini_blocks([(&record(1, &txs[1..], 2), None)])
            .unwrap_err();
        assert!(err.to_string().contains("expected 1"), "{err}");
        writer
            .add_mini_blocks([(&record(1, &txs[1..], 1), None)])
            .unwrap();
        drop(writer); // discarded, as when the node stops before the seal
        assert_eq!(store.reader().unwrap().mini_block(0).unwrap(), None);

        let mut writer = store.begin_block().unwrap();
        writer.add_mini_blocks([(&*first, None)]).unwrap();
        writer
            .add_mini_blocks([(&record(1, &txs[1..], 1), None)])
            .unwrap();
        writer
            .commit(
                &block(1, &txs),
                &StateDiff::default(),
                Counters::default(),
                CHAIN_ID,
            )
            .unwrap();
        assert_eq!(
            reader.mini_block(0).unwrap(),
            None,
            "an older view stays as it was"
        );
        let reader = store.reader().unwrap();
        assert_eq!(reader.mini_block(0).unwrap().as_ref(), Some(&*first));
        assert_eq!(reader.tx_location(txs[1].tx_hash()).unwrap(), Some((1, 1)));
        assert_eq!(
            reader.last_mini_block_hash().unwrap(),
            record(1, &txs[1..], 1).hash
        );
    }

    /// A block committed with `defer_sync` is readable at once but not yet durable: a copy
    /// of the file taken then (a crash image) opens at the block before, even after its
    /// pages were written back. After `persist` a copy holds it.
    #[test]
    fn a_deferred_commit_is_readable_at_once_and_durable_after_persist() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let store = Store::open(&path).unwrap();
        let txs = txs(2);
        let diff = StateDiff::default();
        let counters = Counters::default();
        let records = [Arc::new(record(0, &txs[..1], 0))];
        store
            .put_block(&block(1, &txs[..1]), &records, &diff, counters, CHAIN_ID)
            .unwrap();
        let mut writer = store.begin_block().unwrap();
        let mut second = record(1, &txs[1..], 0);
        second.header.block_number = 2;
        writer.add_mini_blocks([(&second, None)]).unwrap();
        writer.defer_sync().unwrap();
        writer
            .commit(&block(2, &txs[1..]), &diff, counters, CHAIN_ID)
            .unwrap();
        assert_eq!(store.reader().unwrap().head().unwrap(), Some(2));

        let crash_image = |name: &str| {
            let copy = dir.path().join(name);
            std::fs::copy(&path, &copy).unwrap();
            let image = Store::open(&copy).unwrap();
            let reader = image.reader().unwrap();
            let tx2 = reader.tx_location(txs[1].tx_hash()).unwrap();
            (reader.head().unwrap(), tx2)
        };
        // Block 2's index entry is in memory until the persist writes it.
        assert_eq!(
            store
                .reader()
                .unwrap()
                .tx_location(txs[1].tx_hash())
                .unwrap(),
            Some((2, 0))
        );
        store.start_writeback().unwrap();
        assert_eq!(crash_image("before-persist"), (Some(1), None));
        store.persist().unwrap();
        assert_eq!(crash_image("after-persist"), (Some(2), Some((2, 0))));
    }

    /// Deferred blocks are indexed in memory, for the readers whose snapshot holds them;
    /// the next durable commit (a block written with a sync, or `persist`) writes the
    /// entries with it, and memory lets go of them one durable commit later.
    #[test]
    fn the_index_of_deferred_blocks_is_written_by_the_next_durable_commit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let store = Store::open(&path).unwrap();
        let txs = txs(4);
        let (diff, counters) = (StateDiff::default(), Counters::default());
        let deferred = |number: u64, i: usize| {
            let mut writer = store.begin_block().unwrap();
            let mut r = record(i as u64, &txs[i..=i], 0);
            r.header.block_number = number;
            writer.add_mini_blocks([(&r, None)]).unwrap();
            writer.defer_sync().unwrap();
            writer
                .commit(&block(number, &txs[i..=i]), &diff, counters, CHAIN_ID)
                .unwrap();
        };
        let records = [Arc::new(record(0, &txs[..1], 0))];
        store
            .put_block(&block(1, &txs[..1]), &records, &diff, counters, CHAIN_ID)
            .unwrap();
        let before = store.reader().unwrap();
        deferred(2, 1);
        assert_eq!(store.recent.len(), 1);
        // A snapshot from before block 2 does not see its entry; a new one does.
        assert_eq!(before.tx_location(txs[1].tx_hash()).unwrap(), None);
        assert_eq!(before.head().unwrap(), Some(1));
        let reader = store.reader().unwrap();
        assert_eq!(reader.tx_location(txs[1].tx_hash()).unwrap(), Some((2, 0)));
        assert_eq!(
            reader.tx_mini_block(txs[1].tx_hash()).unwrap(),
            Some((1, 0))
        );

        // A block written with a sync takes block 2's entry to disk with its own.
        let mut r = record(2, &txs[2..3], 0);
        r.header.block_number = 3;
        store
            .put_block(
                &block(3, &txs[2..3]),
                &[Arc::new(r)],
                &diff,
                counters,
                CHAIN_ID,
            )
            .unwrap();
        let on_disk = |name: &str, hash: &B256| {
            let copy = dir.path().join(name);
            std::fs::copy(&path, &copy).unwrap();
            let image = Store::open(&copy).unwrap();
            let reader = image.reader().unwrap();
            assert_eq!(image.recent.len(), 0, "a reopened store starts from disk");
            reader.tx_location(hash).unwrap()
        };
        assert_eq!(on_disk("a", txs[1].tx_hash()), Some((2, 0)));
        assert_eq!(on_disk("b", txs[2].tx_hash()), Some((3, 0)));
        // Still held: the durable commit just wrote it.
        assert_eq!(store.recent.len(), 1);

        deferred(4, 3);
        assert_eq!(store.recent.len(), 2);
        assert_eq!(on_disk("c", txs[3].tx_hash()), None);
        store.persist().unwrap();
        assert_eq!(on_disk("d", txs[3].tx_hash()), Some((4, 0)));
        // Block 2's entry left memory; block 4's stays one more durable commit.
        assert_eq!(store.recent.len(), 1);
        let reader = store.reader().unwrap();
        for (i, hash) in txs.iter().map(|t| *t.tx_hash()).enumerate() {
            assert_eq!(reader.tx_location(&hash).unwrap(), Some((i as u64 + 1, 0)));
        }
    }

    #[test]
    fn the_two_index_tables_of_earlier_builds_are_migrated_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let (a, b) = (B256::repeat_byte(1), B256::repeat_byte(2));
        {
            let db = Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            {
                let mut index = txn.open_table(LEGACY_TX_INDEX).unwrap();
                index.insert(&a.0, (1, 0)).unwrap();
                index.insert(&b.0, (2, 4)).unwrap();
                let mut minis = txn.open_table(LEGACY_TX_MINI).unwrap();
                minis.insert(&a.0, (10, 0)).unwrap();
                minis.insert(&b.0, (17, 2)).unwrap();
            }
            txn.commit().unwrap();
        }
        let store = Store::open(&path).unwrap();
        let reader = store.reader().unwrap();
        assert_eq!(reader.tx_location(&a).unwrap(), Some((1, 0)));
        assert_eq!(reader.tx_mini_block(&a).unwrap(), Some((10, 0)));
        assert_eq!(reader.tx_location(&b).unwrap(), Some((2, 4)));
        assert_eq!(reader.tx_mini_block(&b).unwrap(), Some((17, 2)));
        let tables: Vec<String> = reader
            .txn
            .list_tables()
            .unwrap()
            .map(|t| t.name().to_string())
            .collect();
        assert!(
            !tables
                .iter()
                .any(|t| t == "tx_index" || t == "tx_mini_block"),
            "{tables:?}"
        );
        drop((reader, store));
        // Opening again finds nothing left to migrate.
        let store = Store::open(&path).unwrap();
        assert_eq!(
            store.reader().unwrap().tx_mini_block(&b).unwrap(),
            Some((17, 2))
        );
    }

    #[test]
    fn a_legacy_index_entry_without_its_mini_block_refuses_to_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        {
            let db = Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            {
                let mut index = txn.open_table(LEGACY_TX_INDEX).unwrap();
                index.insert(&[1u8; 32], (1, 0)).unwrap();
                txn.open_table(LEGACY_TX_MINI).unwrap();
            }
            txn.commit().unwrap();
        }
        let err = Store::open(&path).unwrap_err();
        assert!(err.to_string().contains("has no mini-block"), "{err}");
    }
}
