//! Block lookups: by number, hash and tag; full vs hashes-only bodies; header hashes.

use peregrine_tests::cast::Cast;
use peregrine_tests::rlp::header_rlp;
use peregrine_tests::util::{as_str, encode_hex, hex_quantity, lower, to_quantity};
use peregrine_tests::{Node, dev};
use serde_json::{Value, json};

use crate::common::{assert_success, block_of, send_value, settled, tx_hash};

/// The block hash a node reports must be keccak256(rlp(header)) of the header it reports.
#[track_caller]
pub(crate) fn assert_header_hash(block: &Value) {
    let rlp = encode_hex(&header_rlp(block));
    assert_eq!(
        Cast::keccak(&rlp),
        lower(as_str(&block["hash"])),
        "block hash != keccak(rlp(header)) for block {}: {block}",
        block["number"]
    );
}

#[test]
fn block_by_number_hash_and_tags() {
    let node = Node::from_env();
    let cast = node.cast();
    let rpc = node.rpc();
    let receipt = send_value(&cast, dev(0), dev(1).address, 42);
    assert_success(&receipt);
    // Sealed blocks here (the open block's views: realtime.rs).
    let receipt = settled(&node, &receipt);
    let hash = tx_hash(&receipt);
    let n = block_of(&receipt);
    let n_hex = to_quantity(n as u128);
    let block_hash = lower(as_str(&receipt["blockHash"]));

    // cast block by number and by hash agree with the receipt.
    let by_num = cast.json(&["block", &n.to_string(), "--json"]);
    assert_eq!(lower(as_str(&by_num["hash"])), block_hash);
    assert_eq!(by_num["number"], json!(n_hex));
    let by_hash = cast.json(&["block", &block_hash, "--json"]);
    assert_eq!(by_hash["number"], json!(n_hex));
    assert_eq!(by_hash["hash"], by_num["hash"]);
    assert_eq!(
        cast.ok(&["block", &n.to_string(), "--field", "hash"])
            .to_lowercase(),
        block_hash
    );

    // Raw RPC, hashes-only body.
    let hashes_only = rpc.block(&n_hex, false);
    assert_eq!(lower(as_str(&hashes_only["hash"])), block_hash);
    assert_eq!(hashes_only["transactions"], json!([hash]));
    let rt = rpc.request("eth_getBlockByHash", json!([block_hash, false]));
    assert_eq!(
        rt["number"],
        json!(n_hex),
        "getBlockByHash(hash).number round-trip"
    );
    assert_eq!(rt, hashes_only, "by-hash and by-number bodies differ");

    // Full transaction objects.
    let full = rpc.block(&n_hex, true);
    let txs = full["transactions"].as_array().expect("transactions array");
    assert_eq!(txs.len(), 1);
    let tx = &txs[0];
    assert_eq!(lower(as_str(&tx["hash"])), hash);
    assert_eq!(lower(as_str(&tx["blockHash"])), block_hash);
    assert_eq!(tx["blockNumber"], json!(n_hex));
    assert_eq!(tx["transactionIndex"], json!("0x0"));
    assert_eq!(lower(as_str(&tx["from"])), dev(0).addr_lower());
    assert_eq!(lower(as_str(&tx["to"])), dev(1).addr_lower());
    assert_eq!(tx["value"], json!("0x2a"));
    let by_hash_full = rpc.request("eth_getBlockByHash", json!([block_hash, true]));
    assert_eq!(by_hash_full["transactions"], full["transactions"]);

    // Header consistency: gasUsed, hash = keccak(rlp(header)), parent link.
    assert_eq!(hex_quantity(&full["gasUsed"]), 21_000);
    assert!(hex_quantity(&full["gasLimit"]) >= 21_000);
    assert_header_hash(&hashes_only);
    let parent = rpc.block(&to_quantity(n as u128 - 1), false);
    assert_eq!(hashes_only["parentHash"], parent["hash"]);
    assert_header_hash(&parent);

    // Transaction counts.
    assert_eq!(
        rpc.request("eth_getBlockTransactionCountByNumber", json!([n_hex])),
        json!("0x1")
    );
    assert_eq!(
        rpc.request("eth_getBlockTransactionCountByHash", json!([block_hash])),
        json!("0x1")
    );
    assert_eq!(
        rpc.request("eth_getBlockTransactionCountByNumber", json!(["earliest"])),
        json!("0x0")
    );

    // Tags.
    let latest_before = rpc.block_number();
    let latest = rpc.block("latest", false);
    let pending = rpc.block("pending", false);
    let safe = rpc.block("safe", false);
    let finalized = rpc.block("finalized", false);
    let latest_after = rpc.block_number();
    let num = |b: &Value, tag: &str| -> u64 {
        assert!(b.is_object(), "block {tag} is null");
        hex_quantity(&b["number"]) as u64
    };
    let l = num(&latest, "latest");
    assert!(
        l >= n && l >= latest_before && l <= latest_after,
        "latest {l}"
    );
    assert_header_hash(&latest);
    let p = num(&pending, "pending");
    assert!(
        p >= latest_before && p <= latest_after + 1,
        "pending {p} vs latest {latest_before}..={latest_after}"
    );
    let s = num(&safe, "safe");
    let f = num(&finalized, "finalized");
    assert!(
        f <= s && s <= latest_after,
        "finalized {f} <= safe {s} <= latest {latest_after}"
    );
    assert_header_hash(&safe);
    assert_header_hash(&finalized);

    // Genesis.
    let earliest = rpc.block("earliest", true);
    assert_eq!(earliest["number"], json!("0x0"));
    assert_eq!(
        earliest["parentHash"],
        json!(format!("0x{}", "0".repeat(64)))
    );
    assert_eq!(earliest["transactions"], json!([]));
    assert_eq!(earliest, rpc.block("0x0", true));
    assert_header_hash(&earliest);
    let genesis_hash = as_str(&earliest["hash"]).to_owned();
    assert_eq!(
        rpc.request("eth_getBlockByHash", json!([genesis_hash, false]))["number"],
        json!("0x0")
    );
    assert_eq!(
        cast.ok(&["block", "earliest", "--field", "hash"])
            .to_lowercase(),
        lower(&genesis_hash)
    );
    // Block 1 links to genesis.
    assert_eq!(rpc.block("0x1", false)["parentHash"], json!(genesis_hash));
}

#[test]
fn transaction_by_block_and_index() {
    let node = Node::from_env();
    let rpc = node.rpc();
    let early = send_value(&node.cast(), dev(4), dev(5).address, 7);
    assert_success(&early);
    // The hash the receipt named first (a block view, before the seal) resolves, then
    // and after the seal.
    let by_view = rpc.request(
        "eth_getTransactionByBlockHashAndIndex",
        json!([early["blockHash"], early["transactionIndex"]]),
    );
    assert_eq!(by_view["hash"], early["transactionHash"]);
    assert_eq!(by_view["blockHash"], early["blockHash"]);
    let receipt = settled(&node, &early);
    let hash = tx_hash(&receipt);
    let n_hex = to_quantity(block_of(&receipt) as u128);
    let idx = receipt["transactionIndex"].clone();
    let by_idx = rpc.request(
        "eth_getTransactionByBlockNumberAndIndex",
        json!([n_hex, idx]),
    );
    assert_eq!(lower(as_str(&by_idx["hash"])), hash);
    assert_eq!(by_idx["blockHash"], receipt["blockHash"]);
    let by_idx = rpc.request(
        "eth_getTransactionByBlockHashAndIndex",
        json!([receipt["blockHash"], idx]),
    );
    assert_eq!(lower(as_str(&by_idx["hash"])), hash);
    let again = rpc.request(
        "eth_getTransactionByBlockHashAndIndex",
        json!([early["blockHash"], early["transactionIndex"]]),
    );
    assert_eq!(
        again, by_view,
        "the view is served unchanged after the seal"
    );
    assert_eq!(
        rpc.request(
            "eth_getTransactionByBlockNumberAndIndex",
            json!([n_hex, "0x1"])
        ),
        Value::Null,
        "index past the end is null"
    );
}

#[test]
fn every_header_hash_recomputes() {
    let node = Node::from_env();
    let rpc = node.rpc();
    // A few blocks, one of them with transactions (non-empty roots, gasUsed, bloom).
    let r = send_value(&node.cast(), dev(2), dev(3).address, 1);
    assert_success(&r);
    let head = crate::common::wait_for_block(&node, block_of(&r) + 1);
    let mut parent: Option<Value> = None;
    for n in 0..=head {
        let b = rpc.block(&to_quantity(n as u128), false);
        assert_header_hash(&b);
        if let Some(p) = parent {
            assert_eq!(b["parentHash"], p["hash"], "block {n} parent link");
        }
        parent = Some(b);
    }
}

#[test]
fn unknown_blocks_and_transactions_are_null() {
    let node = Node::from_env();
    let rpc = node.rpc();
    let far = to_quantity(1_000_000_000);
    let zero_hash = format!("0x{}", "11".repeat(32));
    assert_eq!(rpc.block(&far, false), Value::Null);
    assert_eq!(
        rpc.request("eth_getBlockByHash", json!([zero_hash, false])),
        Value::Null
    );
    assert_eq!(
        rpc.request("eth_getTransactionByHash", json!([zero_hash])),
        Value::Null
    );
    assert_eq!(
        rpc.request("eth_getTransactionReceipt", json!([zero_hash])),
        Value::Null
    );
    assert_eq!(
        rpc.request("eth_getBlockTransactionCountByHash", json!([zero_hash])),
        Value::Null
    );
}
