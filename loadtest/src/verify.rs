//! The end-of-run outcome check: every transaction the node accepted must end up with a
//! receipt. Asks `eth_getTransactionReceipt` for all of them (batched), waiting up to
//! `--receipt-timeout` for stragglers (Peregrine answers receipts once the block seals).

use crate::{
    config::SendMethod,
    rpc::Client,
    run::Engine,
    setup::ReceiptLite,
    tracker::{ACCEPTED, DONE, SENT},
};
use alloy_primitives::B256;
use serde::Serialize;
use serde_json::json;
use std::time::{Duration, Instant};

/// Pause between passes over the transactions still without a receipt.
const RECHECK: Duration = Duration::from_millis(100);
/// Most missing hashes listed in the report (the count is always exact).
pub(crate) const MAX_LISTED_MISSING: usize = 1000;

/// What the receipt check found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReceiptCheck {
    /// Transactions asked about (every one written to the node).
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
    /// How long the check took, seconds.
    pub seconds: f64,
    /// Set when the check itself could not complete (a failed call).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Checks receipts; returns the summary and the hashes (up to [`MAX_LISTED_MISSING`]) of
/// accepted transactions without one.
pub(crate) async fn check_receipts(
    client: &Client,
    engine: &Engine,
    send: SendMethod,
    timeout: Duration,
) -> (ReceiptCheck, Vec<B256>) {
    let started = Instant::now();
    let tracker = &engine.tracker;
    let txs = &engine.workload.txs;
    let mut check = ReceiptCheck::default();
    // (index, must have a receipt)
    let mut todo: Vec<(usize, bool)> = Vec::new();
    for i in 0..tracker.len() {
        let v = tracker.view(i);
        if !v.has(SENT) {
            continue;
        }
        check.checked += 1;
        let accepted = v.has(ACCEPTED);
        if accepted {
            check.expected += 1;
        }
        if send == SendMethod::Poll && v.has(DONE) {
            // Confirmed by a receipt already.
            check.found += 1;
            continue;
        }
        todo.push((i, accepted));
    }
    let deadline = started + timeout;
    while !todo.is_empty() {
        let params: Vec<_> = todo.iter().map(|(i, _)| json!([txs[*i].hash])).collect();
        let results = match client
            .batch::<Option<ReceiptLite>>("eth_getTransactionReceipt", &params)
            .await
        {
            Ok(r) => r,
            Err(e) => {
                check.error = Some(format!("eth_getTransactionReceipt: {e}"));
                break;
            }
        };
        let mut still = Vec::new();
        for ((i, must), r) in todo.into_iter().zip(results) {
            match r {
                Ok(Some(receipt)) => {
                    if must {
                        check.found += 1;
                    } else {
                        check.included_after_error += 1;
                    }
                    if !receipt.succeeded() {
                        check.reverted += 1;
                    }
                }
                // Only accepted transactions are waited for; the others are asked once.
                _ if must => still.push((i, must)),
                _ => {}
            }
        }
        todo = still;
        if todo.is_empty() || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(RECHECK).await;
    }
    todo.retain(|(_, must)| *must);
    check.missing = todo.len() as u64;
    let missing = todo
        .iter()
        .take(MAX_LISTED_MISSING)
        .map(|(i, _)| txs[*i].hash)
        .collect();
    check.seconds = started.elapsed().as_secs_f64();
    (check, missing)
}
