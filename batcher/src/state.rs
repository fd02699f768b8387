//! The batcher's durable state (`<datadir>/batcher.redb`): the next L2 block to batch, the
//! next L1 nonce, and every L1 transaction signed and not yet final.
//!
//! A transaction is written here, signed, before it is first broadcast, in the same redb
//! transaction that advances the next L2 block. So a restart rebroadcasts exactly what was
//! signed: no nonce is reused or skipped, and no channel is posted twice.

use crate::error::StateError;
use alloy_primitives::{B256, Bytes};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use std::{collections::BTreeMap, path::Path};

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const TXS: TableDefinition<u64, &[u8]> = TableDefinition::new("l1_txs");

/// The file name in the datadir.
pub const FILE: &str = "batcher.redb";

/// How an L1 transaction carries its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DaKind {
    /// In calldata.
    Calldata,
    /// In EIP-4844 blobs.
    Blobs,
}

impl DaKind {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            DaKind::Calldata => "calldata",
            DaKind::Blobs => "blobs",
        }
    }
}

/// One signed version of an L1 transaction (a replacement adds another).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signed {
    /// Transaction hash.
    pub hash: B256,
    /// The network encoding to broadcast (with the blob sidecar for blob transactions).
    pub raw: Bytes,
    /// Its max fee per gas.
    pub max_fee: u128,
    /// Its priority fee.
    pub tip: u128,
    /// Its max fee per blob gas (blob transactions).
    pub max_blob_fee: u128,
}

/// Where an L1 transaction was seen included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inclusion {
    /// Which version.
    pub hash: B256,
    /// L1 block number.
    pub block: u64,
    /// L1 block hash (a reorg changes it).
    pub block_hash: B256,
    /// Whether the call reverted (then it stored nothing).
    #[serde(default)]
    pub reverted: bool,
}

/// An L1 transaction of the batcher, from signing until final.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct L1Tx {
    /// Its nonce.
    pub nonce: u64,
    /// How it carries its data.
    pub kind: DaKind,
    /// The L2 blocks whose data it completes (`first..=last`), when it is the last of its
    /// channel; `None` for a channel's earlier transactions.
    pub completes: Option<(u64, u64)>,
    /// The L2 blocks of its channel (`first..=last`).
    #[serde(default)]
    pub channel: (u64, u64),
    /// Payload bytes it carries (frames).
    pub data_bytes: u64,
    /// L2 transactions in the blocks it completes.
    pub l2_txs: u64,
    /// Every version signed, the newest last.
    pub versions: Vec<Signed>,
    /// Where it was seen included, if it was.
    pub included: Option<Inclusion>,
    /// When the newest version was first broadcast (ms since the epoch; 0: not yet).
    pub sent_ms: u64,
}

impl L1Tx {
    /// The newest version.
    pub fn newest(&self) -> &Signed {
        self.versions
            .last()
            .expect("an L1 transaction has a version")
    }
}

/// The batcher's durable state.
#[derive(Debug)]
pub struct BatcherState {
    db: Database,
}

fn encode(tx: &L1Tx) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(tx, &mut out).expect("CBOR encodes into memory");
    out
}

fn decode(raw: &[u8]) -> Result<L1Tx, StateError> {
    ciborium::from_reader(raw).map_err(|e| StateError::Corrupt(e.to_string()))
}

impl BatcherState {
    /// Opens (or creates) the state in `datadir`.
    pub fn open(datadir: &Path) -> Result<Self, StateError> {
        std::fs::create_dir_all(datadir).map_err(|e| StateError::Db(e.to_string()))?;
        let db = Database::create(datadir.join(FILE))?;
        let w = db.begin_write()?;
        w.open_table(META)?;
        w.open_table(TXS)?;
        w.commit()?;
        Ok(Self { db })
    }

    /// A value of the meta table.
    pub fn meta(&self, key: &str) -> Result<Option<u64>, StateError> {
        let r = self.db.begin_read()?;
        let t = r.open_table(META)?;
        Ok(t.get(key)?.map(|v| v.value()))
    }

    /// Every L1 transaction not yet final, by nonce.
    pub fn txs(&self) -> Result<BTreeMap<u64, L1Tx>, StateError> {
        let r = self.db.begin_read()?;
        let t = r.open_table(TXS)?;
        let mut out = BTreeMap::new();
        for entry in t.iter()? {
            let (k, v) = entry?;
            out.insert(k.value(), decode(v.value())?);
        }
        Ok(out)
    }

    /// Writes, durably and at once: `txs` (inserted or replaced), `remove` (final ones
    /// forgotten) and the meta values.
    pub fn write(
        &self,
        txs: &[&L1Tx],
        remove: &[u64],
        meta: &[(&str, u64)],
    ) -> Result<(), StateError> {
        let w = self.db.begin_write()?;
        {
            let mut t = w.open_table(TXS)?;
            for tx in txs {
                t.insert(tx.nonce, encode(tx).as_slice())?;
            }
            for nonce in remove {
                t.remove(nonce)?;
            }
            let mut m = w.open_table(META)?;
            for (k, v) in meta {
                m.insert(*k, *v)?;
            }
        }
        w.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tx(nonce: u64) -> L1Tx {
        L1Tx {
            nonce,
            kind: DaKind::Calldata,
            completes: Some((1, 4)),
            channel: (1, 4),
            data_bytes: 100,
            l2_txs: 7,
            versions: vec![Signed {
                hash: B256::repeat_byte(nonce as u8),
                raw: Bytes::from_static(&[1, 2, 3]),
                max_fee: 10,
                tip: 1,
                max_blob_fee: 0,
            }],
            included: None,
            sent_ms: 0,
        }
    }

    #[test]
    fn survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = BatcherState::open(dir.path()).unwrap();
            s.write(
                &[&tx(3), &tx(4)],
                &[],
                &[("next_block", 5), ("next_nonce", 5)],
            )
            .unwrap();
            s.write(&[], &[3], &[]).unwrap();
        }
        let s = BatcherState::open(dir.path()).unwrap();
        assert_eq!(s.meta("next_block").unwrap(), Some(5));
        assert_eq!(s.meta("missing").unwrap(), None);
        let txs = s.txs().unwrap();
        assert_eq!(txs.keys().copied().collect::<Vec<_>>(), vec![4]);
        assert_eq!(txs[&4], tx(4));
    }
}
