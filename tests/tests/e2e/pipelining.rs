//! Pipelining senders lose nothing: transactions written back to back on one WebSocket
//! connection (or in one HTTP batch) are all answered with their hash, all execute, and
//! the chain holds them in the order they were written. Driven by `tests/js/pipeline.mjs`
//! with the real `ws` package and viem's signer, not by Peregrine's own load generator.

use peregrine_tests::js::node_script_timeout;
use peregrine_tests::preconf::script_result;
use peregrine_tests::{Node, NodeOptions};
use serde_json::Value;
use std::time::Duration;

/// Runs `pipeline.mjs <mode> <accounts> <per-account>` against `node`; returns its result
/// after checking what every mode promises.
fn pipeline(node: &Node, mode: &str, accounts: u64, per_account: u64) -> Value {
    let (url, ws) = (node.url(), node.ws_url());
    let (a, p) = (accounts.to_string(), per_account.to_string());
    let out = node_script_timeout(
        "pipeline.mjs",
        &[&url, &ws, mode, &a, &p],
        Duration::from_secs(240),
    );
    let result = script_result(&out);
    println!("pipeline {mode}: {result}");
    assert!(out.success(), "pipeline.mjs {mode} failed:\n{out}");
    let total = accounts * per_account;
    assert_eq!(result["transactions"], total, "{result}");
    assert_eq!(result["errors"], 0, "{result}");
    assert_eq!(result["executed"], total, "{result}");
    assert_eq!(result["missing"], 0, "{result}");
    assert_eq!(result["out_of_order"], 0, "{result}");
    result
}

/// The burst: 2 000 transfers from each of the ten test accounts, interleaved
/// round by round on one connection (20 000 in all). Before the fix, jsonrpsee ran the
/// connection's calls concurrently: 15 614 of them were refused by the nonce reach check
/// (or, before that check, answered with a hash and dropped at the gap queue).
#[test]
fn twenty_thousand_pipelined_on_one_connection_execute_in_order() {
    if peregrine_tests::skip_on_anvil("Peregrine's arrival order") {
        return;
    }
    let node = Node::from_env_opts(NodeOptions::block_time("1s"));
    pipeline(&node, "one-connection", 10, 2_000);
}

/// 100 connections, each pipelining its own sender's nonces.
#[test]
fn a_hundred_connections_each_pipelining_a_sender() {
    if peregrine_tests::skip_on_anvil("Peregrine's --dev.accounts") {
        return;
    }
    let node = Node::from_env_opts(NodeOptions::default().arg(&["--dev.accounts", "90"]));
    pipeline(&node, "per-sender", 100, 50);
}

/// An HTTP JSON-RPC batch keeps its order too (jsonrpsee runs a batch's calls in turn).
#[test]
fn http_batches_of_pipelined_nonces_keep_their_order() {
    if peregrine_tests::skip_on_anvil("Peregrine's arrival order") {
        return;
    }
    let node = Node::from_env_opts(NodeOptions::default());
    pipeline(&node, "batch", 10, 300);
}
