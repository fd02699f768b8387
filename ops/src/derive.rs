//! `peregrine derive`: the L2 chain rebuilt from L1 alone, optionally checked against a
//! live node, kept in a datadir and resumed, and, with `--follow`, following L1 through
//! its reorgs. Prints a JSON summary on stdout (with `--follow`, JSON lines as it goes);
//! progress goes to the log.

use crate::cli::DeriveArgs;
use alloy_primitives::{B256, U256};
use peregrine_batcher::{
    derive::{
        AnvilBlobs, DeriveError,
        follow::{Chain, Event, FollowConfig, Follower, Reorg},
        store::DeriveStore,
    },
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

/// Runs the derivation; returns the summary printed on success. With `--follow` it
/// returns only on an error.
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
    let store = match &args.datadir {
        Some(dir) => DeriveStore::open(dir),
        None => DeriveStore::in_memory(),
    }
    .map_err(DeriveError::from)?;
    let mut follower = Follower::open(
        store,
        Chain {
            chain_id,
            genesis,
            inbox: args.inbox,
            batcher: args.batcher,
        },
        FollowConfig {
            from_l1_block: args.from_l1_block,
            keep_l1_blocks: args.max_reorg_depth,
            ..FollowConfig::default()
        },
    )?;
    let resumed_at = follower.resumed_at();
    if resumed_at > 0 {
        tracing::info!(next_block = resumed_at, l1_block = ?follower.l1_cursor(), "resuming the derivation kept in the datadir");
    }
    let l1 = L1Client::new(&args.l1_rpc, Duration::from_secs(30));
    let check = args
        .check
        .as_deref()
        .map(|url| L1Client::new(url, Duration::from_secs(30)));
    let anvil = AnvilBlobs(&l1);
    let beacon = args
        .l1_beacon
        .as_deref()
        .map(|url| peregrine_batcher::beacon::BeaconBlobs::new(url, &l1));
    let blobs: &dyn peregrine_batcher::derive::BlobSource = match &beacon {
        Some(b) => b,
        None => &anvil,
    };
    let mut tally = Tally::default();
    let mut first_l1 = None;
    loop {
        let to = match args.to_l1_block {
            Some(n) => n,
            None => match l1.block_number() {
                Ok(n) => n,
                Err(e) if args.follow => {
                    tracing::warn!(error = %e, "L1 unreachable: trying again");
                    std::thread::sleep(args.poll_interval);
                    continue;
                }
                Err(e) => return Err(DeriveError::from(e).into()),
            },
        };
        // Read up to `to`, a stored step at a time.
        loop {
            let before = (follower.l1_cursor(), tally.derived, tally.reorgs);
            first_l1 = first_l1.or(Some(before.0.map_or(args.from_l1_block, |n| n + 1)));
            let step = follower.step(&l1, blobs, to, &mut |event| {
                tally.see(event, check.as_ref())
            });
            if let Err(e) = step {
                return match (e, tally.mismatch.take()) {
                    (DeriveError::Halted, Some(m)) => Err(m),
                    (DeriveError::L1(e), _) if args.follow => {
                        tracing::warn!(error = %e, "L1 unreachable: trying again");
                        break;
                    }
                    (e, _) => Err(e.into()),
                };
            }
            if args.follow && (follower.l1_cursor(), tally.derived, tally.reorgs) != before {
                tally.print_progress(&follower);
            }
            if follower.l1_cursor() == before.0 || follower.l1_cursor() >= Some(to) {
                break;
            }
        }
        if !args.follow {
            break;
        }
        std::thread::sleep(args.poll_interval);
    }
    Ok(json!({
        "l1Blocks": {"from": first_l1.unwrap_or(args.from_l1_block), "to": follower.l1_cursor()},
        "derived": tally.derived,
        "transactions": tally.txs,
        "head": follower.head().map(|(n, h)| json!({"number": n, "hash": h})),
        "checked": check.is_some(),
        "matched": tally.matched,
        "reposted": follower.reposted(),
        "resumedAt": resumed_at,
        "reorgs": tally.reorgs,
    }))
}

/// What a run derived and checked.
#[derive(Default)]
struct Tally {
    derived: u64,
    txs: u64,
    matched: u64,
    reorgs: u64,
    mismatch: Option<DeriveCmdError>,
    /// A reorg not yet printed (`--follow`).
    step_reorg: Option<Reorg>,
}

impl Tally {
    fn see(&mut self, event: Event<'_>, check: Option<&L1Client>) -> Result<(), DeriveError> {
        let d = match event {
            Event::Reorg(r) => {
                self.reorgs += 1;
                self.step_reorg = Some(r);
                return Ok(());
            }
            Event::Derived(d) => d,
        };
        self.derived += 1;
        self.txs += d.txs as u64;
        tracing::debug!(block = d.header.number, hash = %d.hash, txs = d.txs, l1_block = d.l1_block, "derived");
        let Some(node) = check else {
            return Ok(());
        };
        let v = node.call(
            "eth_getBlockByNumber",
            json!([format!("{:#x}", d.header.number), false]),
        )?;
        let (hash, root) = (
            v["hash"].as_str().unwrap_or("none").to_owned(),
            v["stateRoot"].as_str().unwrap_or("none").to_owned(),
        );
        if hash == d.hash.to_string() && root == d.header.state_root.to_string() {
            self.matched += 1;
            return Ok(());
        }
        self.mismatch = Some(DeriveCmdError::Mismatch {
            number: d.header.number,
            derived: d.hash,
            derived_root: d.header.state_root,
            node: hash,
            node_root: root,
        });
        // Stop at the first mismatch.
        Err(DeriveError::Halted)
    }

    /// `--follow`'s lines: a reorg undone, then the progress since the last line.
    fn print_progress(&mut self, follower: &Follower) {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        if let Some(r) = self.step_reorg.take() {
            let _ = writeln!(
                out,
                "{}",
                json!({
                    "event": "reorg",
                    "l1Ancestor": r.ancestor,
                    "removedL1Blocks": r.removed_l1_blocks,
                    "droppedL2Blocks": r.dropped_l2_blocks,
                    "nextBlock": follower.next_block(),
                })
            );
        }
        {
            let _ = writeln!(
                out,
                "{}",
                json!({
                    "event": "progress",
                    "head": follower.head().map(|(n, h)| json!({"number": n, "hash": h})),
                    "l1Block": follower.l1_cursor(),
                    "derived": self.derived,
                    "transactions": self.txs,
                    "matched": self.matched,
                    "reposted": follower.reposted(),
                })
            );
        }
        let _ = out.flush();
    }
}
