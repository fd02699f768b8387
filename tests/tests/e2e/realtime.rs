//! Real time for unmodified clients (Peregrine only): receipts, transactions, logs, blocks
//! and `latest` state from the preconfirmation on, consistent across methods, and every
//! block object served (a view of the open block, or a sealed block) an honest Ethereum
//! block: its hash is keccak256 of its header's RLP and its roots are the tries of what it
//! lists, recomputed here with alloy from the JSON alone.

use alloy_consensus::{
    ReceiptEnvelope,
    proofs::{calculate_receipt_root, calculate_transaction_root},
};
use alloy_primitives::{B256, Bloom};
use peregrine_tests::cast::{Cast, first_word};
use peregrine_tests::util::{as_str, hex_quantity, lower, to_quantity};
use peregrine_tests::{Node, NodeOptions, Rpc, dev, skip_on_anvil};
use serde_json::{Value, json};

use crate::blocks::assert_header_hash;
use crate::common::{
    assert_success, block_of, deploy_counter, just_after_a_seal, sealed_receipt, tx_hash,
};
use crate::preconf::sign_transfer;

/// Long blocks, so everything before the seal happens while the block is open.
const BLOCK_TIME: &str = "4s";

/// Asserts that `block` (fetched with full transactions) is honest: its hash recomputes
/// from its header, and its transactions root, receipts root, bloom and gas used are
/// those of the transactions it lists and of `receipts` (theirs, in order).
#[track_caller]
fn assert_honest(block: &Value, receipts: &[Value]) {
    assert_header_hash(block);
    let txs: Vec<_> = block["transactions"]
        .as_array()
        .expect("full transactions")
        .iter()
        .map(|t| {
            serde_json::from_value::<alloy_rpc_types_eth::Transaction>(t.clone())
                .unwrap_or_else(|e| panic!("alloy cannot parse transaction {t}: {e}"))
                .into_inner()
        })
        .collect();
    assert_eq!(txs.len(), receipts.len(), "one receipt per transaction");
    let receipts: Vec<ReceiptEnvelope> = receipts
        .iter()
        .map(|r| {
            serde_json::from_value::<alloy_rpc_types_eth::TransactionReceipt>(r.clone())
                .unwrap_or_else(|e| panic!("alloy cannot parse receipt {r}: {e}"))
                .inner
                .map_logs(|l| l.inner)
        })
        .collect();
    let field = |k: &str| lower(as_str(&block[k]));
    assert_eq!(
        field("transactionsRoot"),
        format!("{:#x}", calculate_transaction_root(&txs)),
        "transactionsRoot of block {}",
        block["hash"]
    );
    assert_eq!(
        field("receiptsRoot"),
        format!("{:#x}", calculate_receipt_root(&receipts)),
        "receiptsRoot of block {}",
        block["hash"]
    );
    let mut bloom = Bloom::ZERO;
    for r in &receipts {
        bloom.accrue_bloom(r.logs_bloom());
    }
    assert_eq!(field("logsBloom"), format!("{bloom:#x}"), "logsBloom");
    let gas = receipts.last().map_or(0, |r| r.cumulative_gas_used());
    assert_eq!(hex_quantity(&block["gasUsed"]), u128::from(gas), "gasUsed");
}

/// The receipts of the transactions `block` lists, in order, as eth_getTransactionReceipt
/// answers them.
fn receipts_of(rpc: &Rpc, block: &Value) -> Vec<Value> {
    block["transactions"]
        .as_array()
        .expect("transactions")
        .iter()
        .map(|t| {
            let hash = t["hash"].as_str().or(t.as_str()).expect("a hash");
            rpc.request("eth_getTransactionReceipt", json!([hash]))
        })
        .collect()
}

#[test]
fn receipts_blocks_and_latest_state_are_real_time_and_consistent() {
    if skip_on_anvil("block views of an open block are Peregrine's") {
        return;
    }
    let node = Node::from_env_opts(NodeOptions::block_time(BLOCK_TIME));
    let rpc = node.rpc();
    let cast = node.cast();
    let counter = deploy_counter(&node, dev(0), 1);
    let (alice, bob) = (dev(1), dev(2));
    just_after_a_seal(rpc);

    // Three transactions, each answered with its hash only (eth_sendRawTransaction), in
    // three mini-blocks: two transfers and a contract call with a log.
    let nonce = cast.uint(&["nonce", alice.address]) as u64;
    let bob_before = rpc.balance(bob.address);
    let mut hashes = Vec::new();
    for i in 0..2 {
        let (raw, hash) = sign_transfer(alice.private_key, nonce + i, bob.address, "5");
        assert_eq!(
            rpc.request("eth_sendRawTransaction", json!([raw])),
            json!(hash)
        );
        hashes.push(hash);
    }
    let inc = cast.ok(&[
        "send",
        "--async",
        "--private-key",
        dev(3).private_key,
        &counter.address,
        "increment()",
    ]);
    hashes.push(lower(inc.trim()));

    // At once, with no waiting: a receipt, the same from every method.
    let receipts: Vec<Value> = hashes
        .iter()
        .map(|h| rpc.request("eth_getTransactionReceipt", json!([h])))
        .collect();
    let n = block_of(&receipts[0]);
    for (h, r) in hashes.iter().zip(&receipts) {
        assert!(r.is_object(), "no receipt at once for {h}");
        assert_success(r);
        assert_eq!(&tx_hash(r), h);
        assert_eq!(block_of(r), n, "all in the open block");
        let status = rpc.request("peregrine_getTransactionStatus", json!([h]));
        assert_eq!(status["status"], json!("pending"), "{h} sealed too early");
        let tx = rpc.request("eth_getTransactionByHash", json!([h]));
        for k in ["blockHash", "blockNumber", "transactionIndex"] {
            assert_eq!(tx[k], r[k], "eth_getTransactionByHash {k} of {h}");
        }
        for id in [json!(to_quantity(n as u128)), r["blockHash"].clone()] {
            let all = rpc.request("eth_getBlockReceipts", json!([id]));
            let found = all
                .as_array()
                .and_then(|a| a.iter().find(|x| tx_hash(x) == *h));
            assert_eq!(found, Some(r), "eth_getBlockReceipts({id}) for {h}");
        }
    }
    let inc_receipt = &receipts[2];
    assert_eq!(inc_receipt["logs"].as_array().map(Vec::len), Some(1));
    let logs_by_hash = rpc.request(
        "eth_getLogs",
        json!([{"blockHash": inc_receipt["blockHash"], "address": counter.address}]),
    );
    assert_eq!(
        logs_by_hash, inc_receipt["logs"],
        "eth_getLogs by the view's hash"
    );
    let logs_to_latest = rpc.request(
        "eth_getLogs",
        json!([{"fromBlock": to_quantity(n as u128), "toBlock": "latest", "address": counter.address}]),
    );
    assert_eq!(logs_to_latest, inc_receipt["logs"], "eth_getLogs to latest");

    // Every block hash a receipt names resolves to an honest block holding the
    // transaction at its index: the view that ends with its mini-block.
    let mut views = Vec::new();
    for (h, r) in hashes.iter().zip(&receipts) {
        let view = rpc.request("eth_getBlockByHash", json!([r["blockHash"], true]));
        assert_eq!(view["hash"], r["blockHash"]);
        assert_eq!(hex_quantity(&view["number"]) as u64, n);
        let index = hex_quantity(&r["transactionIndex"]) as usize;
        assert_eq!(lower(as_str(&view["transactions"][index]["hash"])), *h);
        assert_eq!(
            view["transactions"].as_array().map(Vec::len),
            Some(index + 1),
            "the view ends with the transaction's mini-block"
        );
        assert_eq!(
            view["stateRoot"],
            json!(format!("{:#x}", B256::ZERO)),
            "a view's state root is zero until the seal"
        );
        assert_eq!(
            as_str(&view["extraData"]).len(),
            66,
            "extraData: the mini-block hash"
        );
        let parent = rpc.block(&to_quantity(n as u128 - 1), false);
        assert_eq!(view["parentHash"], parent["hash"]);
        assert_honest(&view, &receipts_of(rpc, &view));
        views.push(view);
    }

    // `latest`: the newest view; its number, state and nonces agree with it.
    assert_eq!(rpc.block_number(), n, "eth_blockNumber is the open block");
    let latest = rpc.block("latest", true);
    assert_eq!(latest, views[2], "latest is the newest view");
    assert_eq!(rpc.block(&to_quantity(n as u128), true), latest);
    assert_eq!(rpc.balance_at(bob.address, "latest"), bob_before + 10);
    assert_eq!(
        cast.uint(&["nonce", alice.address]),
        u128::from(nonce + 2),
        "cast's nonce (at latest) counts the preconfirmed transactions"
    );
    assert_eq!(
        first_word(&cast.ok(&["call", &counter.address, "count()(uint256)"])),
        "2",
        "eth_call at latest sees the increment"
    );
    // An earlier view has no state of its own.
    let err = rpc.request_err(
        "eth_getBalance",
        json!([bob.address, {"blockHash": views[0]["hash"]}]),
    );
    assert_eq!(err.code, -32000, "{err}");

    // After the seal: the same receipts but for the block hash, now the sealed block's;
    // the views named before still resolve, unchanged.
    let sealed: Vec<Value> = hashes.iter().map(|h| sealed_receipt(&node, h)).collect();
    let block = rpc.block(&to_quantity(n as u128), true);
    assert_honest(&block, &receipts_of(rpc, &block));
    assert_ne!(block["stateRoot"], json!(format!("{:#x}", B256::ZERO)));
    assert_eq!(block["extraData"], json!("0x"));
    for ((early, late), view) in receipts.iter().zip(&sealed).zip(&views) {
        assert_eq!(late["blockHash"], block["hash"]);
        let mut moved = early.clone();
        moved["blockHash"] = block["hash"].clone();
        if let Some(logs) = moved["logs"].as_array_mut() {
            for log in logs {
                log["blockHash"] = block["hash"].clone();
            }
        }
        assert_eq!(late, &moved, "only the block hash changes at the seal");
        assert_eq!(
            &rpc.request("eth_getBlockByHash", json!([early["blockHash"], true])),
            view,
            "a view named before the seal is served unchanged after it"
        );
        let tx = rpc.request("eth_getTransactionByHash", json!([late["transactionHash"]]));
        assert_eq!(tx["blockHash"], block["hash"]);
    }
}

#[test]
fn cast_sends_back_to_back_without_a_nonce() {
    // anvil mining every second fails this ("transaction already imported": its `latest`
    // leaves out what it has not mined yet), as Peregrine did before its `latest` became
    // the newest mini-block.
    if skip_on_anvil("anvil's `latest` lags its pool under interval mining") {
        return;
    }
    let node = Node::from_env_opts(NodeOptions::block_time(BLOCK_TIME));
    let cast = node.cast();
    let (from, to) = (dev(4), dev(5));
    let start = cast.uint(&["nonce", from.address]);
    // Ten `cast send --async` in a row: each cast takes the nonce at `latest`.
    let hashes: Vec<String> = (0..10)
        .map(|_| {
            let out = cast.ok(&[
                "send",
                "--async",
                "--private-key",
                from.private_key,
                to.address,
                "--value",
                "1",
            ]);
            lower(out.trim())
        })
        .collect();
    for (i, hash) in hashes.iter().enumerate() {
        let receipt = cast.json(&["receipt", hash, "--json"]);
        assert_success(&receipt);
        let tx = node
            .rpc()
            .request("eth_getTransactionByHash", json!([hash]));
        assert_eq!(
            hex_quantity(&tx["nonce"]),
            start + i as u128,
            "send {i} took the next nonce"
        );
    }
    assert_eq!(cast.uint(&["nonce", from.address]), start + 10);
}

/// viem and ethers v6, unmodified: ten sends in a row without waiting, waits with one and
/// two confirmations across the seal, `cast receipt`, block watchers (`tests/js/realtime.mjs`).
#[test]
fn viem_ethers_and_cast_wallet_flows() {
    let node = Node::from_env();
    let out = peregrine_tests::js::node_script("realtime.mjs", &["check", &node.url()]);
    assert!(
        out.success(),
        "realtime.mjs failed ({}):\n{out}",
        out.status
    );
    assert!(
        out.stdout.contains("checks passed"),
        "realtime.mjs did not report its checks:\n{out}"
    );
    println!("{}", out.out());
}

/// `eth_fillTransaction` (geth's; viem asks for it before every send): nonce, fees and gas
/// filled in as the node would take them, unsigned; bad requests answer `-32602`.
#[test]
fn fill_transaction_completes_a_request() {
    if skip_on_anvil("anvil fills with its own fee defaults; the fields checked are Peregrine's") {
        return;
    }
    let node = Node::from_env();
    let rpc = node.rpc();
    let (alice, bob) = (dev(6), dev(7));
    let filled = rpc.request(
        "eth_fillTransaction",
        json!([{"from": alice.address, "to": bob.address, "value": "0x1"}]),
    );
    let tx = &filled["tx"];
    assert_eq!(tx["type"], json!("0x2"));
    assert_eq!(tx["chainId"], json!("0x385"));
    assert_eq!(tx["gas"], json!("0x5208"), "a plain transfer needs 21 000");
    let nonce = rpc.request("eth_getTransactionCount", json!([alice.address, "pending"]));
    assert_eq!(tx["nonce"], nonce);
    assert_eq!(
        hex_quantity(&tx["maxPriorityFeePerGas"]),
        hex_quantity(&rpc.request("eth_maxPriorityFeePerGas", json!([])))
    );
    let base_fee = hex_quantity(&rpc.block("latest", false)["baseFeePerGas"]);
    assert!(
        hex_quantity(&tx["maxFeePerGas"]) >= base_fee + hex_quantity(&tx["maxPriorityFeePerGas"])
    );
    // `raw` is the same transaction, unsigned: cast decodes it to the same fields.
    let printed = Cast::offline_ok(&["decode-transaction", as_str(&filled["raw"]), "--json"]);
    // cast 1.7 prints the JSON as a JSON string.
    let decoded: Value = serde_json::from_str(&printed)
        .ok()
        .and_then(|v: Value| v.as_str().and_then(|s| serde_json::from_str(s).ok()))
        .unwrap_or_else(|| panic!("cast decode-transaction printed {printed}"));
    for k in [
        "nonce",
        "gas",
        "maxFeePerGas",
        "maxPriorityFeePerGas",
        "to",
        "value",
        "hash",
    ] {
        assert_eq!(
            lower(&decoded[k].to_string()),
            lower(&tx[k].to_string()),
            "raw and tx disagree on {k}: {decoded}"
        );
    }
    // A contract call is estimated, a legacy request stays legacy.
    let counter = deploy_counter(&node, alice, 1);
    let call = rpc.request(
        "eth_fillTransaction",
        json!([{"from": bob.address, "to": counter.address, "data": "0xd09de08a"}]),
    );
    assert!(hex_quantity(&call["tx"]["gas"]) > 21_000, "{call}");
    let legacy = rpc.request(
        "eth_fillTransaction",
        json!([{"from": bob.address, "to": alice.address, "gasPrice": "0x3b9aca00"}]),
    );
    assert_eq!(legacy["tx"]["type"], json!("0x0"));
    assert_eq!(legacy["tx"]["gasPrice"], json!("0x3b9aca00"));
    for bad in [
        json!({"to": bob.address}),
        json!({"from": bob.address, "gasPrice": "0x1", "maxFeePerGas": "0x2"}),
        json!({"from": bob.address, "maxFeePerGas": "0x1", "maxPriorityFeePerGas": "0x2"}),
        json!({"from": bob.address, "chainId": "0x1"}),
    ] {
        let err = rpc.request_err("eth_fillTransaction", json!([bad]));
        assert_eq!(err.code, -32602, "{bad}: {err}");
    }
}
