//! `peregrine derive`: the L2 chain rebuilt from L1 alone, optionally checked against a
//! live node. Prints a JSON summary on stdout; progress goes to the log.

use crate::cli::DeriveArgs;
use alloy_primitives::{B256, U256};
use peregrine_batcher::{
    derive::{AnvilBlobs, DeriveError, Deriver},
    l1::L1Client,
};
use peregrine_chain::{GenesisSpec, genesis::DEFAULT_DEV_BALANCE_ETH};
use serde_json::{Value, json};
use std::time::Duration;

/// Why `peregrine derive` failed.
#[derive(Debug, thiserror::Error)]
pub enum DeriveCmdError {
    /// Bad flags or files.
    #[error("{0}")]
    Usage(String),
    /// Derivation itself failed (L1 unreachable, a bad batch, a transaction that does not
    /// execute).
    #[error(transparent)]
    Derive(#[from] DeriveError),
    /// A derived block differs from the live node's.
    #[error(
        "block {number}: derived hash {derived} state root {derived_root}, but the node has hash {node} state root {node_root}"
    )]
    Mismatch {
        /// The block.
        number: u64,
        /// Derived hash.
        derived: B256,
        /// Derived state root.
        derived_root: B256,
        /// The node's hash.
        node: String,
        /// The node's state root.
        node_root: String,
    },
}

/// Runs the derivation; returns the summary printed on success.
pub fn derive(args: &DeriveArgs) -> Result<Value, DeriveCmdError> {
    let balance = U256::from(DEFAULT_DEV_BALANCE_ETH) * U256::from(10u64).pow(U256::from(18));
    let genesis = match &args.genesis {
        Some(path) => GenesisSpec::from_file(path).map_err(DeriveCmdError::Usage)?,
        None => GenesisSpec::dev(args.dev_accounts, balance),
    };
    let chain_id = args
        .chain_id
        .or(genesis.chain_id)
        .unwrap_or(peregrine_sequencer::config::DEFAULT_CHAIN_ID);
    let l1 = L1Client::new(&args.l1_rpc, Duration::from_secs(30));
    let to = match args.to_l1_block {
        Some(n) => n,
        None => l1.block_number().map_err(DeriveError::from)?,
    };
    let check = args
        .check
        .as_deref()
        .map(|url| L1Client::new(url, Duration::from_secs(30)));
    let mut deriver = Deriver::new(chain_id, genesis, args.inbox, args.batcher);
    let (mut derived, mut matched, mut txs) = (0u64, 0u64, 0u64);
    let mut mismatch = None;
    let mut last = None;
    let anvil = AnvilBlobs(&l1);
    let beacon = args
        .l1_beacon
        .as_deref()
        .map(|url| peregrine_batcher::beacon::BeaconBlobs::new(url, &l1));
    let blobs: &dyn peregrine_batcher::derive::BlobSource = match &beacon {
        Some(b) => b,
        None => &anvil,
    };
    deriver.scan(&l1, blobs, args.from_l1_block, to, &mut |d| {
        derived += 1;
        txs += d.txs as u64;
        last = Some((d.header.number, d.hash));
        tracing::debug!(block = d.header.number, hash = %d.hash, txs = d.txs, l1_block = d.l1_block, "derived");
        if let Some(node) = &check {
            let v = node.call("eth_getBlockByNumber", json!([format!("{:#x}", d.header.number), false]))?;
            let (hash, root) = (
                v["hash"].as_str().unwrap_or("none").to_owned(),
                v["stateRoot"].as_str().unwrap_or("none").to_owned(),
            );
            if hash == d.hash.to_string() && root == d.header.state_root.to_string() {
                matched += 1;
            } else if mismatch.is_none() {
                mismatch = Some(DeriveCmdError::Mismatch {
                    number: d.header.number,
                    derived: d.hash,
                    derived_root: d.header.state_root,
                    node: hash,
                    node_root: root,
                });
                // Stop at the first mismatch.
                return Err(DeriveError::Halted);
            }
        }
        Ok(())
    })
    .or_else(|e| match (&e, &mismatch) {
        (DeriveError::Halted, Some(_)) => Ok(()),
        _ => Err(e),
    })?;
    if let Some(m) = mismatch {
        return Err(m);
    }
    Ok(json!({
        "l1Blocks": {"from": args.from_l1_block, "to": to},
        "derived": derived,
        "transactions": txs,
        "head": last.map(|(n, h)| json!({"number": n, "hash": h})),
        "checked": check.is_some(),
        "matched": matched,
        "reposted": deriver.reposted(),
    }))
}
