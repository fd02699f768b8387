//! The end-of-run outcome check: every transaction the node accepted must end up with a
//! receipt. Scans `eth_getBlockReceipts` for every block since the run started (one call
//! per block: O(transactions), whatever the node's cost of a single receipt lookup),
//! reading the newest block again until a later one appears (on Peregrine it may still be
//! open, its receipts growing), waiting up to `--receipt-timeout` for the blocks still to
//! come; falls back to batched
//! `eth_getTransactionReceipt` on nodes without `eth_getBlockReceipts`, or whose head stops
//! moving while receipts are still missing.

use crate::{
    config::SendMethod,
    error::RpcFailure,
    rpc::Client,
    run::Engine,
    setup::ReceiptLite,
    tracker::{ACCEPTED, DONE, SENT},
};
use alloy_primitives::{B256, U64, map::B256HashMap};
use serde::Serialize;
use serde_json::json;
use std::time::{Duration, Instant};

/// Pause before looking for new blocks again.
const RECHECK: Duration = Duration::from_millis(100);
/// Most missing hashes listed in the report (the count is always exact).
pub(crate) const MAX_LISTED_MISSING: usize = 1000;
/// Hashes per `eth_getTransactionReceipt` batch in the fallback.
const FALLBACK_BATCH: usize = 200;
/// If the head does not move for this long while receipts are still missing, look them up
/// one by one instead (a node whose block number does not follow its receipts).
const HEAD_STALL: Duration = Duration::from_secs(1);

/// What the receipt check found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReceiptCheck {
    /// Transactions looked for (every one written to the node).
    pub checked: u64,
    /// Accepted transactions, each of which must have a receipt.
    pub expected: u64,
    /// Accepted transactions with a receipt.
    pub found: u64,
    /// Accepted transactions without a receipt at the end of the wait.
    pub missing: u64,
    /// Receipts with status 0.
    pub reverted: u64,
    /// Transactions the client saw fail (refused, timed out, connection lost) that were
    /// included all the same.
    pub included_after_error: u64,
    /// `eth_getBlockReceipts` (block scan) or `eth_getTransactionReceipt` (per hash).
    pub method: String,
    /// Blocks scanned.
    pub blocks: u64,
    /// How long the check took, seconds.
    pub seconds: f64,
    /// Set when the check could not complete (a failed call, or the timeout).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

struct Pending {
    index: usize,
    must: bool,
}

fn tally(check: &mut ReceiptCheck, p: &Pending, receipt: &ReceiptLite) {
    if p.must {
        check.found += 1;
    } else {
        check.included_after_error += 1;
    }
    if !receipt.succeeded() {
        check.reverted += 1;
    }
}

fn unsupported(e: &RpcFailure) -> bool {
    matches!(e.code(), Some(-32601) | Some(-32602))
}

/// Checks receipts; returns the summary and the hashes (up to [`MAX_LISTED_MISSING`]) of
/// accepted transactions without one. `first_block`: the first block that can hold the run's
/// transactions (the head before the run, plus one).
pub(crate) async fn check_receipts(
    client: &Client,
    engine: &Engine,
    send: SendMethod,
    timeout: Duration,
    first_block: u64,
) -> (ReceiptCheck, Vec<B256>) {
    let started = Instant::now();
    let deadline = started + timeout;
    let tracker = &engine.tracker;
    let txs = &engine.workload.txs;
    let mut check = ReceiptCheck::default();
    let mut pending: B256HashMap<Pending> = B256HashMap::default();
    for (i, tx) in txs.iter().enumerate().take(tracker.len()) {
        let v = tracker.view(i);
        if !v.has(SENT) {
            continue;
        }
        check.checked += 1;
        let must = v.has(ACCEPTED);
        if must {
            check.expected += 1;
        }
        if send == SendMethod::Poll && v.has(DONE) {
            // Confirmed by a receipt already.
            check.found += 1;
            continue;
        }
        pending.insert(tx.hash, Pending { index: i, must });
    }
    let still_needed = |p: &B256HashMap<Pending>| p.values().any(|p| p.must);

    // Block scan.
    check.method = "eth_getBlockReceipts".into();
    let mut next = first_block;
    let mut fallback = false;
    let mut last_progress = Instant::now();
    'scan: while still_needed(&pending) {
        let head: U64 = match client.call("eth_blockNumber", json!([])).await {
            Ok(h) => h,
            Err(e) => {
                check.error = Some(format!("eth_blockNumber: {e}"));
                break;
            }
        };
        while next <= head.to::<u64>() {
            if Instant::now() >= deadline {
                check.error = Some(format!(
                    "timed out after scanning blocks {first_block}..{next} of {head} (--receipt-timeout)"
                ));
                break 'scan;
            }
            match client
                .call::<Option<Vec<ReceiptLite>>>("eth_getBlockReceipts", json!([U64::from(next)]))
                .await
            {
                Ok(receipts) => {
                    let mut found = false;
                    for r in receipts.unwrap_or_default() {
                        if let Some(p) = r.transaction_hash.and_then(|h| pending.remove(&h)) {
                            tally(&mut check, &p, &r);
                            found = true;
                        }
                    }
                    if found {
                        last_progress = Instant::now();
                    }
                    if next == head.to::<u64>() {
                        // The newest block may still be open: read it again next round.
                        break;
                    }
                    check.blocks += 1;
                    next += 1;
                    last_progress = Instant::now();
                }
                Err(e) if unsupported(&e) && check.blocks == 0 => {
                    fallback = true;
                    break 'scan;
                }
                Err(e) => {
                    check.error = Some(format!("eth_getBlockReceipts({next}): {e}"));
                    break 'scan;
                }
            }
        }
        if !still_needed(&pending) || Instant::now() >= deadline {
            break;
        }
        if last_progress.elapsed() >= HEAD_STALL {
            fallback = true;
            break;
        }
        tokio::time::sleep(RECHECK).await;
    }

    // Per-hash fallback.
    if fallback {
        check.method = "eth_getTransactionReceipt".into();
        let mut first_pass = true;
        'poll: while still_needed(&pending) || first_pass {
            let hashes: Vec<B256> = pending
                .iter()
                .filter(|(_, p)| p.must || first_pass)
                .map(|(h, _)| *h)
                .collect();
            for chunk in hashes.chunks(FALLBACK_BATCH) {
                if Instant::now() >= deadline {
                    check.error = Some("timed out (--receipt-timeout)".into());
                    break 'poll;
                }
                let params: Vec<_> = chunk.iter().map(|h| json!([h])).collect();
                let results = match client
                    .batch::<Option<ReceiptLite>>("eth_getTransactionReceipt", &params)
                    .await
                {
                    Ok(r) => r,
                    Err(e) => {
                        check.error = Some(format!("eth_getTransactionReceipt: {e}"));
                        break 'poll;
                    }
                };
                for (h, r) in chunk.iter().zip(results) {
                    if let Ok(Some(receipt)) = r
                        && let Some(p) = pending.remove(h)
                    {
                        tally(&mut check, &p, &receipt);
                    }
                }
            }
            if first_pass {
                // Transactions that failed at the client are looked for once only.
                pending.retain(|_, p| p.must);
                first_pass = false;
            }
            if !still_needed(&pending) || Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(RECHECK).await;
        }
    }

    let mut missing: Vec<(usize, B256)> = pending
        .iter()
        .filter(|(_, p)| p.must)
        .map(|(h, p)| (p.index, *h))
        .collect();
    missing.sort_unstable();
    check.missing = missing.len() as u64;
    check.seconds = started.elapsed().as_secs_f64();
    let listed = missing
        .into_iter()
        .take(MAX_LISTED_MISSING)
        .map(|(_, h)| h)
        .collect();
    (check, listed)
}
