//! The derivation's durable state (`<datadir>/derive.redb`, or in memory without a
//! datadir): every block derived, with the data it was derived from, and the L1 blocks
//! read, with what of an unfinished channel each left behind.
//!
//! One redb transaction stores each step's blocks, L1 blocks and cursor together, so a
//! restart (or a kill at any instant) resumes exactly after the last L1 block whose
//! derivation was stored. An L1 reorg cuts both tables back to the newest L1 block still
//! in the chain.

use crate::{error::StateError, format::BatchBlock};
use alloy_primitives::{Address, B256};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::path::Path;

/// The file name in the datadir.
pub const FILE: &str = "derive.redb";

/// `"cursor"`: the last L1 block read; `"first"`: the first; `"chain_id"`.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// `"inbox"`, `"batcher"`, `"genesis"`: what the derivation is of.
const IDENTITY: TableDefinition<&str, &[u8]> = TableDefinition::new("identity");
/// L1 block number → its hash ‖ the assembler's snapshot after it.
const L1_BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("l1_blocks");
/// L2 block number → the L1 block that completed it ‖ its derived hash ‖ its batch data.
const BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("blocks");

/// What a derivation is of: a datadir holds the derivation of one chain only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// L2 chain id.
    pub chain_id: u64,
    /// The inbox read.
    pub inbox: Address,
    /// The batcher whose posts count.
    pub batcher: Address,
    /// The genesis state root.
    pub genesis: B256,
}

/// One L1 block read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadL1 {
    /// Number.
    pub number: u64,
    /// Hash.
    pub hash: B256,
    /// The assembler's snapshot after it ([`crate::format::Assembler::snapshot`]).
    pub assembler: Vec<u8>,
}

/// One derived block as stored.
#[derive(Debug, Clone)]
pub struct StoredDerived {
    /// The L1 block that completed its channel.
    pub l1_block: u64,
    /// Its derived hash.
    pub hash: B256,
    /// Its data, as posted.
    pub block: BatchBlock,
}

/// The derivation's durable state.
#[derive(Debug)]
pub struct DeriveStore {
    db: Database,
}

impl DeriveStore {
    /// Opens (or creates) `<dir>/derive.redb`.
    pub fn open(dir: &Path) -> Result<Self, StateError> {
        std::fs::create_dir_all(dir).map_err(|e| StateError::Db(e.to_string()))?;
        Ok(Self {
            db: Database::create(dir.join(FILE))?,
        })
    }

    /// A store in memory (a derivation without a datadir).
    pub fn in_memory() -> Result<Self, StateError> {
        Ok(Self {
            db: Database::builder().create_with_backend(redb::backends::InMemoryBackend::new())?,
        })
    }

    /// Records `identity` in a new store; refuses a store that holds another chain's.
    pub fn claim(&self, identity: &Identity) -> Result<(), StateError> {
        let tx = self.db.begin_write()?;
        {
            let mut meta = tx.open_table(META)?;
            let mut ident = tx.open_table(IDENTITY)?;
            let stored = meta.get("chain_id")?.map(|v| v.value());
            match stored {
                None => {
                    meta.insert("chain_id", identity.chain_id)?;
                    ident.insert("inbox", identity.inbox.as_slice())?;
                    ident.insert("batcher", identity.batcher.as_slice())?;
                    ident.insert("genesis", identity.genesis.as_slice())?;
                }
                Some(chain_id) => {
                    let get = |k: &str| -> Result<Vec<u8>, StateError> {
                        Ok(ident
                            .get(k)?
                            .map(|v| v.value().to_vec())
                            .unwrap_or_default())
                    };
                    let mismatch = [
                        (
                            "chain id",
                            chain_id.to_string(),
                            identity.chain_id.to_string(),
                        ),
                        (
                            "inbox",
                            alloy_primitives::hex::encode_prefixed(get("inbox")?),
                            identity.inbox.to_string(),
                        ),
                        (
                            "batcher",
                            alloy_primitives::hex::encode_prefixed(get("batcher")?),
                            identity.batcher.to_string(),
                        ),
                        (
                            "genesis state root",
                            alloy_primitives::hex::encode_prefixed(get("genesis")?),
                            identity.genesis.to_string(),
                        ),
                    ]
                    .into_iter()
                    .find(|(_, a, b)| !a.eq_ignore_ascii_case(b));
                    if let Some((what, stored, given)) = mismatch {
                        return Err(StateError::Corrupt(format!(
                            "this datadir holds the derivation of another chain: its {what} is {stored}, not {given}"
                        )));
                    }
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The last L1 block read, if any.
    pub fn cursor(&self) -> Result<Option<ReadL1>, StateError> {
        let tx = self.db.begin_read()?;
        let Ok(meta) = tx.open_table(META) else {
            return Ok(None);
        };
        let Some(n) = meta.get("cursor")?.map(|v| v.value()) else {
            return Ok(None);
        };
        self.l1_block(n)
    }

    /// L1 block `n` as read, while it is kept.
    pub fn l1_block(&self, n: u64) -> Result<Option<ReadL1>, StateError> {
        let tx = self.db.begin_read()?;
        let Ok(table) = tx.open_table(L1_BLOCKS) else {
            return Ok(None);
        };
        table.get(n)?.map(|v| decode_l1(n, v.value())).transpose()
    }

    /// The L1 blocks kept, newest first.
    pub fn l1_blocks_desc(&self) -> Result<Vec<u64>, StateError> {
        let tx = self.db.begin_read()?;
        let Ok(table) = tx.open_table(L1_BLOCKS) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for entry in table.iter()?.rev() {
            out.push(entry?.0.value());
        }
        Ok(out)
    }

    /// Whether the L1 blocks kept still begin with the first one read (none forgotten).
    pub fn holds_first_read(&self) -> Result<bool, StateError> {
        let tx = self.db.begin_read()?;
        let (Ok(meta), Ok(l1)) = (tx.open_table(META), tx.open_table(L1_BLOCKS)) else {
            return Ok(false);
        };
        let first = meta.get("first")?.map(|v| v.value());
        let oldest = l1.first()?.map(|(k, _)| k.value());
        Ok(first.is_some() && first == oldest)
    }

    /// Every derived block, in order.
    pub fn blocks(&self) -> Result<Vec<StoredDerived>, StateError> {
        let tx = self.db.begin_read()?;
        let Ok(table) = tx.open_table(BLOCKS) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for entry in table.iter()? {
            let (_, v) = entry?;
            out.push(decode_block(v.value())?);
        }
        Ok(out)
    }

    /// Stores one step: `l1` read in order, `blocks` derived from them, the cursor at the
    /// last of `l1`; L1 blocks older than `keep` before it are forgotten.
    pub fn append(
        &self,
        l1: &[ReadL1],
        blocks: &[StoredDerived],
        keep: u64,
    ) -> Result<(), StateError> {
        let Some(last) = l1.last() else {
            return Ok(());
        };
        let tx = self.db.begin_write()?;
        {
            let mut table = tx.open_table(L1_BLOCKS)?;
            for b in l1 {
                let mut v = b.hash.to_vec();
                v.extend_from_slice(&b.assembler);
                table.insert(b.number, v.as_slice())?;
            }
            let horizon = last.number.saturating_sub(keep);
            let old: Vec<u64> = table
                .range(..horizon)?
                .map(|e| e.map(|(k, _)| k.value()))
                .collect::<Result<_, _>>()?;
            for n in old {
                table.remove(n)?;
            }
            let mut stored = tx.open_table(BLOCKS)?;
            for b in blocks {
                let mut v = b.l1_block.to_be_bytes().to_vec();
                v.extend_from_slice(b.hash.as_slice());
                b.block.encode(&mut v);
                stored.insert(b.block.number, v.as_slice())?;
            }
            let mut meta = tx.open_table(META)?;
            meta.insert("cursor", last.number)?;
            if meta.get("first")?.is_none() {
                meta.insert("first", l1[0].number)?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Cuts the store back to L1 block `ancestor` (`None`: before anything was read):
    /// later L1 blocks, and the L2 blocks they completed, are removed. Returns how many
    /// L2 blocks were removed.
    pub fn rewind(&self, ancestor: Option<u64>) -> Result<u64, StateError> {
        let tx = self.db.begin_write()?;
        let mut dropped = 0;
        {
            let mut l1 = tx.open_table(L1_BLOCKS)?;
            let first_gone = ancestor.map_or(0, |a| a + 1);
            let gone: Vec<u64> = l1
                .range(first_gone..)?
                .map(|e| e.map(|(k, _)| k.value()))
                .collect::<Result<_, _>>()?;
            for n in gone {
                l1.remove(n)?;
            }
            let mut blocks = tx.open_table(BLOCKS)?;
            let mut gone = Vec::new();
            for entry in blocks.iter()?.rev() {
                let (n, v) = entry?;
                if ancestor.is_some_and(|a| decode_l1_block(v.value()) <= a) {
                    break;
                }
                gone.push(n.value());
            }
            for n in gone {
                blocks.remove(n)?;
                dropped += 1;
            }
            let mut meta = tx.open_table(META)?;
            match ancestor {
                Some(a) => {
                    meta.insert("cursor", a)?;
                }
                None => {
                    meta.remove("cursor")?;
                    meta.remove("first")?;
                }
            }
        }
        tx.commit()?;
        Ok(dropped)
    }
}

fn decode_l1(number: u64, raw: &[u8]) -> Result<ReadL1, StateError> {
    if raw.len() < 32 {
        return Err(StateError::Corrupt(format!(
            "L1 block {number}: {} bytes",
            raw.len()
        )));
    }
    Ok(ReadL1 {
        number,
        hash: B256::from_slice(&raw[..32]),
        assembler: raw[32..].to_vec(),
    })
}

/// The L1 block of a stored derived block (0 for a record too short, which
/// [`decode_block`] refuses).
fn decode_l1_block(raw: &[u8]) -> u64 {
    raw.get(..8)
        .map_or(0, |b| u64::from_be_bytes(b.try_into().expect("8 bytes")))
}

fn decode_block(raw: &[u8]) -> Result<StoredDerived, StateError> {
    if raw.len() < 40 {
        return Err(StateError::Corrupt(format!(
            "a derived block of {} bytes",
            raw.len()
        )));
    }
    let l1_block = u64::from_be_bytes(raw[..8].try_into().expect("8 bytes"));
    let hash = B256::from_slice(&raw[8..40]);
    let mut blocks = crate::format::decode_blocks(&raw[40..])
        .map_err(|e| StateError::Corrupt(format!("a derived block's data: {e}")))?;
    match (blocks.pop(), blocks.is_empty()) {
        (Some(block), true) => Ok(StoredDerived {
            l1_block,
            hash,
            block,
        }),
        _ => Err(StateError::Corrupt(
            "a derived block's data is not one block".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::Bytes;

    fn identity() -> Identity {
        Identity {
            chain_id: 7,
            inbox: Address::repeat_byte(1),
            batcher: Address::repeat_byte(2),
            genesis: B256::repeat_byte(3),
        }
    }

    fn l1(n: u64) -> ReadL1 {
        ReadL1 {
            number: n,
            hash: B256::with_last_byte(n as u8),
            assembler: if n.is_multiple_of(2) {
                vec![0, n as u8]
            } else {
                Vec::new()
            },
        }
    }

    fn derived(number: u64, l1_block: u64) -> StoredDerived {
        StoredDerived {
            l1_block,
            hash: B256::repeat_byte(number as u8),
            block: BatchBlock {
                number,
                timestamp: 1_700_000_000 + number,
                base_fee: 7,
                gas_limit: 30_000_000,
                beneficiary: Address::ZERO,
                prev_randao: B256::ZERO,
                txs: vec![Bytes::from(vec![number as u8; 3])],
            },
        }
    }

    #[test]
    fn steps_are_kept_forgotten_beyond_the_horizon_and_rewound() {
        let dir = tempfile::tempdir().unwrap();
        let store = DeriveStore::open(dir.path()).unwrap();
        store.claim(&identity()).unwrap();
        assert!(store.cursor().unwrap().is_none());
        assert!(!store.holds_first_read().unwrap());
        store
            .append(
                &[l1(10), l1(11), l1(12)],
                &[derived(0, 10), derived(1, 12)],
                8,
            )
            .unwrap();
        assert!(store.holds_first_read().unwrap());
        store
            .append(&[l1(13), l1(14)], &[derived(2, 14), derived(3, 14)], 8)
            .unwrap();
        drop(store);
        // A restart finds all of it.
        let store = DeriveStore::open(dir.path()).unwrap();
        store.claim(&identity()).unwrap();
        assert_eq!(store.cursor().unwrap(), Some(l1(14)));
        assert_eq!(store.l1_blocks_desc().unwrap(), vec![14, 13, 12, 11, 10]);
        let blocks = store.blocks().unwrap();
        assert_eq!(
            blocks
                .iter()
                .map(|b| (b.block.number, b.l1_block))
                .collect::<Vec<_>>(),
            vec![(0, 10), (1, 12), (2, 14), (3, 14)]
        );
        assert_eq!(blocks[3].block, derived(3, 14).block);
        // Back to L1 block 12: the blocks 13 and 14 completed go, with them.
        assert_eq!(store.rewind(Some(12)).unwrap(), 2);
        assert_eq!(store.cursor().unwrap(), Some(l1(12)));
        assert_eq!(store.blocks().unwrap().len(), 2);
        // Back to L1 block 11: block 1 (completed in 12) goes.
        assert_eq!(store.rewind(Some(11)).unwrap(), 1);
        assert_eq!(store.cursor().unwrap(), Some(l1(11)));
        // Far ahead: the oldest L1 blocks are forgotten, the derived blocks are not.
        store.append(&[l1(30)], &[], 8).unwrap();
        assert_eq!(store.l1_blocks_desc().unwrap(), vec![30]);
        assert!(!store.holds_first_read().unwrap());
        assert_eq!(store.blocks().unwrap().len(), 1);
        // Back to before anything was read.
        assert_eq!(store.rewind(None).unwrap(), 1);
        assert!(store.cursor().unwrap().is_none());
        assert!(store.blocks().unwrap().is_empty());
    }

    #[test]
    fn a_datadir_of_another_chain_is_refused() {
        let store = DeriveStore::in_memory().unwrap();
        store.claim(&identity()).unwrap();
        store.claim(&identity()).unwrap();
        for other in [
            Identity {
                chain_id: 8,
                ..identity()
            },
            Identity {
                inbox: Address::repeat_byte(9),
                ..identity()
            },
            Identity {
                batcher: Address::repeat_byte(9),
                ..identity()
            },
            Identity {
                genesis: B256::repeat_byte(9),
                ..identity()
            },
        ] {
            let e = store.claim(&other).unwrap_err().to_string();
            assert!(e.contains("another chain"), "{e}");
        }
    }
}
