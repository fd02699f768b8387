//! Contract deployment and interaction: code, calls, storage, events/logs, reverts.

use peregrine_tests::cast::{Cast, first_word};
use peregrine_tests::util::{as_str, hex_quantity, lower, to_quantity};
use peregrine_tests::{Node, dev};
use serde_json::{Value, json};

use crate::common::{
    assert_code, assert_success, block_of, deploy_counter, fee_paid, settled, tx_hash,
};

const INCREMENTED: &str = "Incremented(address,uint256)";

/// `uint256` as a 32-byte word, `0x`-hex.
fn word(n: u128) -> String {
    format!("0x{n:064x}")
}

/// The standard log fields agree (extra fields such as `blockTimestamp` are ignored).
#[track_caller]
fn assert_same_log(a: &Value, b: &Value) {
    for k in [
        "address",
        "topics",
        "data",
        "blockNumber",
        "blockHash",
        "transactionHash",
        "transactionIndex",
        "logIndex",
        "removed",
    ] {
        assert_eq!(
            a[k], b[k],
            "log field {k} differs between eth_getLogs and the receipt"
        );
    }
}

#[test]
fn deploy_call_increment_storage_and_logs() {
    let node = Node::from_env();
    let cast = node.cast();
    let rpc = node.rpc();
    let (alice, bob) = (dev(0), dev(1));

    let d = deploy_counter(&node, alice, 5);
    let addr = d.address.as_str();
    let deploy_block = block_of(&d.receipt);

    // Runtime code is exactly what solc produced (no immutables in Counter).
    assert_eq!(
        cast.ok(&["code", addr]).to_lowercase(),
        d.contract.deployed_bytecode.to_lowercase()
    );
    // An EOA has no code.
    assert_eq!(cast.ok(&["code", alice.address]), "0x");
    // Constructor argument landed in storage.
    assert_eq!(
        first_word(&cast.ok(&["call", addr, "count()(uint256)"])),
        "5"
    );

    // Two increments, from two different senders.
    let inc = |who: peregrine_tests::DevAccount| {
        let r = cast.json(&[
            "send",
            "--private-key",
            who.private_key,
            addr,
            "increment()",
            "--json",
        ]);
        assert_success(&r);
        settled(&node, &r)
    };
    let r1 = inc(alice);
    let r2 = inc(bob);
    assert!(block_of(&r1) > deploy_block || block_of(&r1) == deploy_block);
    assert!(block_of(&r2) >= block_of(&r1));

    assert_eq!(
        first_word(&cast.ok(&["call", addr, "count()(uint256)"])),
        "7"
    );
    assert_eq!(
        cast.ok(&["call", addr, "lastCaller()(address)"])
            .to_lowercase(),
        bob.addr_lower()
    );
    assert_eq!(
        first_word(&cast.ok(&["call", addr, "perCaller(address)(uint256)", alice.address])),
        "1"
    );

    // Raw storage: slot 0 = count, slot 1 = lastCaller, mapping at slot 2.
    assert_eq!(cast.ok(&["storage", addr, "0"]).to_lowercase(), word(7));
    assert_eq!(
        cast.ok(&["storage", addr, "1"]).to_lowercase(),
        bob.as_topic()
    );
    let slot = Cast::offline_ok(&["index", "address", bob.address, "2"]);
    assert_eq!(cast.ok(&["storage", addr, &slot]).to_lowercase(), word(1));
    let unused = cast.ok(&["storage", addr, "3"]);
    assert_eq!(unused.to_lowercase(), word(0));
    // Event shape in the receipts.
    let topic0 = Cast::keccak(INCREMENTED);
    assert_eq!(
        Cast::offline_ok(&["sig-event", "Incremented(address indexed,uint256)"]).to_lowercase(),
        topic0
    );
    for (r, who, n) in [(&r1, alice, 6u128), (&r2, bob, 7u128)] {
        let logs = r["logs"].as_array().expect("logs array");
        assert_eq!(logs.len(), 1, "one event per increment: {r}");
        let log = &logs[0];
        assert_eq!(lower(as_str(&log["address"])), addr);
        assert_eq!(log["topics"], json!([topic0, who.as_topic()]));
        assert_eq!(lower(as_str(&log["data"])), word(n));
        assert_eq!(log["transactionHash"], r["transactionHash"]);
        assert_eq!(log["blockHash"], r["blockHash"]);
        assert_eq!(log["blockNumber"], r["blockNumber"]);
        assert_eq!(log["removed"], json!(false));
        // Decoding with cast.
        assert_eq!(
            Cast::offline_ok(&["abi-decode", "x()(uint256)", as_str(&log["data"])]),
            n.to_string()
        );
        assert_eq!(
            Cast::offline_ok(&["parse-bytes32-address", as_str(&log["topics"][1])]).to_lowercase(),
            who.addr_lower()
        );
        // The logs bloom is non-empty once a log was emitted.
        let bloom = as_str(&r["logsBloom"]);
        assert!(
            bloom.len() == 2 + 512 && bloom[2..].chars().any(|c| c != '0'),
            "empty bloom: {r}"
        );
    }

    // `cast logs` with address + event signature over a block range.
    let from = deploy_block.to_string();
    let logs = cast.json(&[
        "logs",
        "--json",
        "--from-block",
        &from,
        "--to-block",
        "latest",
        "--address",
        addr,
        "Incremented(address indexed,uint256)",
    ]);
    let logs = logs.as_array().expect("cast logs prints an array");
    assert_eq!(logs.len(), 2, "{logs:?}");
    assert_eq!(logs[0]["transactionHash"], r1["transactionHash"]);
    assert_eq!(logs[1]["transactionHash"], r2["transactionHash"]);
    // ... filtered on the indexed `by` argument.
    let only_bob = cast.json(&[
        "logs",
        "--json",
        "--from-block",
        &from,
        "--to-block",
        "latest",
        "--address",
        addr,
        "Incremented(address indexed,uint256)",
        bob.address,
    ]);
    assert_eq!(only_bob.as_array().map(Vec::len), Some(1), "{only_bob}");
    assert_eq!(only_bob[0]["transactionHash"], r2["transactionHash"]);

    // Raw eth_getLogs filters.
    let get_logs = |filter: Value| -> Vec<Value> {
        rpc.request("eth_getLogs", json!([filter]))
            .as_array()
            .unwrap_or_else(|| panic!("eth_getLogs result is not an array"))
            .clone()
    };
    let range = |f: u64, t: &str| json!({"fromBlock": to_quantity(f as u128), "toBlock": t});
    let mut f = range(deploy_block, "latest");
    f["address"] = json!(addr);
    f["topics"] = json!([topic0]);
    let all = get_logs(f.clone());
    assert_eq!(all.len(), 2);
    assert_same_log(&all[0], &r1["logs"][0]);
    assert_same_log(&all[1], &r2["logs"][0]);
    assert!(
        (block_of(&all[0]), hex_quantity(&all[0]["logIndex"]))
            < (block_of(&all[1]), hex_quantity(&all[1]["logIndex"])),
        "logs not in chain order"
    );
    // Topic 1 = alice.
    f["topics"] = json!([topic0, alice.as_topic()]);
    let a = get_logs(f.clone());
    assert_eq!(a.len(), 1);
    assert_eq!(a[0]["transactionHash"], r1["transactionHash"]);
    // Wildcard topic 0, OR-list on topic 1.
    f["topics"] = json!([null, [alice.as_topic(), bob.as_topic()]]);
    assert_eq!(get_logs(f.clone()).len(), 2);
    // A topic that never occurs.
    f["topics"] = json!([word(12345)]);
    assert_eq!(get_logs(f.clone()).len(), 0);
    // Address OR-list; another address alone matches nothing.
    let mut g = range(deploy_block, "latest");
    g["address"] = json!([addr, alice.address]);
    assert_eq!(get_logs(g.clone()).len(), 2);
    g["address"] = json!(bob.address);
    assert_eq!(get_logs(g).len(), 0);
    // Block range ending before the first increment: nothing.
    let before = range(deploy_block, &to_quantity(block_of(&r1) as u128 - 1));
    if block_of(&r1) > deploy_block {
        assert_eq!(get_logs(before).len(), 0);
    }
    // Exactly the block of the second increment, by number and by hash.
    let n2 = to_quantity(block_of(&r2) as u128);
    let only2 = get_logs(json!({"fromBlock": n2, "toBlock": n2, "address": addr}));
    let by_hash = get_logs(json!({"blockHash": r2["blockHash"], "address": addr}));
    assert_eq!(only2, by_hash);
    assert_eq!(
        only2
            .iter()
            .map(|l| l["transactionHash"].clone())
            .collect::<Vec<_>>(),
        if block_of(&r1) == block_of(&r2) {
            vec![r1["transactionHash"].clone(), r2["transactionHash"].clone()]
        } else {
            vec![r2["transactionHash"].clone()]
        }
    );
}

#[test]
fn reverts_surface_revert_data() {
    let node = Node::from_env();
    let cast = node.cast();
    let rpc = node.rpc();
    let alice = dev(2);
    let d = deploy_counter(&node, alice, 7);
    let addr = d.address.as_str();

    // require/revert with a string: Error(string) revert data, code 3 (geth convention).
    let fail_data = Cast::offline_ok(&["calldata", "fail()"]);
    let err = rpc.request_err(
        "eth_call",
        json!([{"to": addr, "data": fail_data}, "latest"]),
    );
    let expected = Cast::offline_ok(&["calldata", "Error(string)", "Counter: always fails"]);
    assert_code(&node, &err, 3, false);
    assert!(
        err.message.to_lowercase().contains("execution reverted"),
        "message should say execution reverted: {err}"
    );
    assert_eq!(err.data, Some(json!(expected)), "revert data: {err}");

    // Custom error with arguments: TooLow(7, 100).
    let data = Cast::offline_ok(&["calldata", "requireAtLeast(uint256)", "100"]);
    let err = rpc.request_err("eth_call", json!([{"to": addr, "data": data}, "latest"]));
    assert_code(&node, &err, 3, false);
    let expected = Cast::offline_ok(&["calldata", "TooLow(uint256,uint256)", "7", "100"]);
    assert_eq!(err.data, Some(json!(expected)), "custom error data: {err}");
    // ... while a satisfiable call returns normally.
    assert_eq!(
        first_word(&cast.ok(&["call", addr, "requireAtLeast(uint256)(uint256)", "7"])),
        "7"
    );

    // eth_estimateGas reverts the same way.
    let err = rpc.request_err(
        "eth_estimateGas",
        json!([{"from": alice.address, "to": addr, "data": fail_data}]),
    );
    assert_code(&node, &err, 3, false);
    let expected_fail = Cast::offline_ok(&["calldata", "Error(string)", "Counter: always fails"]);
    assert_eq!(
        err.data,
        Some(json!(expected_fail)),
        "estimateGas revert data: {err}"
    );

    // cast call / cast estimate fail with the reason in their output.
    let out = cast.run(&["call", addr, "fail()"]).expect_failure();
    assert!(out.combined().contains("Counter: always fails"), "{out}");
    let out = cast.run(&["estimate", addr, "fail()"]).expect_failure();
    assert!(out.combined().to_lowercase().contains("revert"), "{out}");

    // A reverting transaction forced through with a gas limit is mined with status 0:
    // nonce consumed, gas charged, no state change, no logs.
    let before = cast.uint(&["balance", alice.address]);
    let nonce = cast.uint(&["nonce", alice.address]);
    let r = cast.json(&[
        "send",
        "--private-key",
        alice.private_key,
        "--gas-limit",
        "100000",
        addr,
        "fail()",
        "--json",
    ]);
    let r = settled(&node, &r);
    assert_eq!(
        r["status"],
        json!("0x0"),
        "reverted tx must have status 0: {r}"
    );
    assert_eq!(r["logs"], json!([]));
    let used = hex_quantity(&r["gasUsed"]);
    assert!(used > 21_000 && used < 100_000, "gasUsed {used}");
    assert_eq!(
        before - cast.uint(&["balance", alice.address]),
        fee_paid(&r)
    );
    assert_eq!(cast.uint(&["nonce", alice.address]), nonce + 1);
    let tx = rpc.request("eth_getTransactionByHash", json!([tx_hash(&r)]));
    assert_eq!(tx["blockHash"], r["blockHash"]);
    assert_eq!(
        first_word(&cast.ok(&["call", addr, "count()(uint256)"])),
        "7"
    );
}
