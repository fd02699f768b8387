//! Identity of the chain and liveness of block production.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use peregrine_tests::util::{as_str, hex_quantity};
use peregrine_tests::{CHAIN_ID, Node};
use serde_json::json;

use crate::common::wait_for_block;

#[test]
fn chain_id_and_net_version() {
    let node = Node::from_env();
    let rpc = node.rpc();
    assert_eq!(rpc.request("eth_chainId", json!([])), json!("0x385"));
    assert_eq!(node.cast().uint(&["chain-id"]), CHAIN_ID as u128);
    // net_version is the chain id as a *decimal* string.
    assert_eq!(rpc.request("net_version", json!([])), json!("901"));
    // A single-node dev chain is never syncing.
    assert_eq!(rpc.request("eth_syncing", json!([])), json!(false));
}

#[test]
fn client_version_names_the_node() {
    let node = Node::from_env();
    let v = node.rpc().request("web3_clientVersion", json!([]));
    let v = as_str(&v);
    assert!(
        v.to_lowercase().contains(node.target().name()),
        "web3_clientVersion {v:?} should name the client ({})",
        node.target().name()
    );
    assert_eq!(node.cast().ok(&["client"]), v, "cast client disagrees");
}

#[test]
fn block_number_advances_over_time() {
    let node = Node::from_env();
    let rpc = node.rpc();
    let start = rpc.block_number();
    let via_cast = node.cast().uint(&["block-number"]) as u64;
    assert!(
        via_cast >= start,
        "cast block-number {via_cast} < eth_blockNumber {start}"
    );

    // Without any transaction the node keeps producing blocks.
    let head = wait_for_block(&node, start + 3);
    assert!(head >= start + 3);

    // The produced blocks form a chain with sane timestamps.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after epoch")
        .as_secs() as u128;
    let mut prev: Option<serde_json::Value> = None;
    for n in start..=head {
        let b = rpc.block(&format!("{n:#x}"), false);
        assert_eq!(hex_quantity(&b["number"]), n as u128, "block {n}: {b}");
        let ts = hex_quantity(&b["timestamp"]);
        assert!(
            ts.abs_diff(now) < 120,
            "block {n} timestamp {ts} is far from wall-clock time {now}"
        );
        if let Some(p) = &prev {
            assert_eq!(
                b["parentHash"], p["hash"],
                "block {n} does not link to its parent"
            );
            assert!(
                ts >= hex_quantity(&p["timestamp"]),
                "block {n} timestamp goes backwards"
            );
        }
        prev = Some(b);
    }

    // And it keeps going.
    let later = wait_for_block(&node, head + 1);
    assert!(later > head);
    std::thread::sleep(Duration::from_millis(10));
}
