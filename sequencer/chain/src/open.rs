//! Opening a chain's data directory: the redb store, created from the genesis if empty,
//! with the head, its state and recent block hashes loaded. Every node kind starts here.

use crate::{
    block::BlockContext,
    chain::Head,
    clock::now_us,
    diff::{AccountFields, StateDiff},
    error::OpenError,
    exec,
    genesis::GenesisSpec,
    hashes::BlockHashes,
    state::WorldState,
    store::{Counters, Store, StoredBlock},
};
use alloy_primitives::{Address, B256, keccak256};
use alloy_trie::KECCAK_EMPTY;
use std::sync::Arc;

/// The redb file in a data directory.
pub const DB_FILE: &str = "chain.redb";

/// The chain in a data directory, opened (and created from the genesis if empty): what
/// every node kind starts from.
pub struct OpenedChain {
    /// The redb store.
    pub store: Store,
    /// The last sealed block.
    pub head: Head,
    /// Where numbering goes on.
    pub counters: Counters,
    /// The last stored mini-block's hash (zero before the first).
    pub last_mini_hash: B256,
    /// The head state.
    pub state: WorldState,
    /// The last 256 block hashes.
    pub hashes: Arc<BlockHashes>,
}

/// Opens the redb store in `datadir` (created if need be), writing the genesis block first
/// if it is empty, and
/// loads the head, its state and the last 256 block hashes.
pub fn open_chain(
    datadir: &std::path::Path,
    chain_id: u64,
    genesis: &GenesisSpec,
    min_base_fee: u64,
    block_gas_limit: u64,
) -> Result<OpenedChain, OpenError> {
    std::fs::create_dir_all(datadir).map_err(|e| {
        OpenError::Config(format!("cannot create datadir {}: {e}", datadir.display()))
    })?;
    let store = Store::open(&datadir.join(DB_FILE))?;
    let reader = store.reader()?;
    if reader.head()?.is_none() {
        let mut state = genesis.state();
        let ctx = BlockContext {
            number: 0,
            timestamp: genesis.timestamp.unwrap_or(now_us() / 1_000_000),
            base_fee: min_base_fee,
            gas_limit: block_gas_limit,
            beneficiary: Address::ZERO,
            prevrandao: exec::prevrandao(chain_id, 0),
        };
        let header = crate::view::block_header(
            B256::ZERO,
            &ctx,
            &crate::view::ViewParts::default(),
            state.state_root(),
            genesis.extra_data.clone(),
        );
        let block = StoredBlock {
            hash: header.hash_slow(),
            header,
            txs: vec![],
            senders: vec![],
            receipts: vec![],
        };
        store.put_block(
            &block,
            &[],
            &genesis_diff(genesis),
            Counters::default(),
            chain_id,
        )?;
        tracing::info!(hash = %block.hash, accounts = genesis.accounts.len(), "created genesis block");
    }
    let reader = store.reader()?;
    let head_number = reader.head()?.expect("genesis was written");
    let stored_chain = reader.chain_id()?.unwrap_or(chain_id);
    if stored_chain != chain_id {
        return Err(OpenError::Config(format!(
            "datadir {} holds chain id {stored_chain}, not {}",
            datadir.display(),
            chain_id
        )));
    }
    let header = reader
        .header(head_number)?
        .ok_or_else(|| OpenError::Config("head block missing from the database".into()))?;
    let head = Head {
        hash: header.hash_slow(),
        header,
    };
    let counters = reader.counters()?;
    let last_mini_hash = reader.last_mini_block_hash()?;
    let state = reader.load_state()?;
    let hashes = Arc::new(BlockHashes::default());
    for n in head_number.saturating_sub(255)..=head_number {
        if let Some(h) = reader.header(n)? {
            hashes.insert(n, h.hash_slow());
        }
    }
    drop(reader);
    tracing::info!(number = head_number, hash = %head.hash, accounts = state.len(), "opened chain");
    Ok(OpenedChain {
        store,
        head,
        counters,
        last_mini_hash,
        state,
        hashes,
    })
}

fn genesis_diff(spec: &GenesisSpec) -> StateDiff {
    let mut diff = StateDiff::default();
    for a in &spec.accounts {
        let code_hash = match &a.code {
            Some(code) if !code.is_empty() => {
                let hash = keccak256(code);
                diff.codes.insert(hash, code.clone());
                hash
            }
            _ => KECCAK_EMPTY,
        };
        let fields = AccountFields {
            nonce: a.nonce,
            balance: a.balance,
            code_hash,
        };
        diff.update(a.address, fields, true, a.storage.iter().copied());
    }
    diff
}
