//! Bad input: protocol errors, invalid params and rejected transactions.
//! After each one the server must still answer.

use peregrine_tests::cast::Cast;
use peregrine_tests::js::node_script_timeout;
use peregrine_tests::preconf::script_result;
use peregrine_tests::rpc::Rpc;
use peregrine_tests::{Node, dev};
use serde_json::{Value, json};
use std::time::Duration;

use crate::common::{
    assert_code, assert_msg_contains, assert_success, node_with_config, send_value,
};

/// The server still answers a normal request correctly.
#[track_caller]
fn still_up(rpc: &Rpc) {
    assert_eq!(
        rpc.request("eth_chainId", json!([])),
        json!("0x385"),
        "server not answering after bad input"
    );
}

/// Signs a transfer offline with explicit fields; returns the raw signed tx.
#[track_caller]
fn sign(key: &str, chain: u64, nonce: u64, gas_limit: u64, value: &str) -> String {
    Cast::offline_ok(&[
        "mktx",
        "--private-key",
        key,
        "--chain",
        &chain.to_string(),
        "--nonce",
        &nonce.to_string(),
        "--gas-limit",
        &gas_limit.to_string(),
        "--gas-price",
        "100gwei",
        "--priority-gas-price",
        "1gwei",
        dev(9).address,
        "--value",
        value,
    ])
}

#[test]
fn protocol_errors_use_standard_codes() {
    let node = Node::from_env();
    let rpc = node.rpc();

    // Malformed JSON: -32700 Parse error, id null.
    // anvil deviates (answers -32600 Invalid request), so the code is checked on peregrine only.
    let resp = rpc.post_raw(r#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":["#);
    let err = resp.error();
    assert_code(&node, &err, -32700, true);
    assert_eq!(
        resp.json()["id"],
        Value::Null,
        "parse error must carry id null"
    );
    still_up(rpc);

    // Not JSON at all.
    let resp = rpc.post_raw("hello");
    assert_code(&node, &resp.error(), -32700, true);
    still_up(rpc);

    // Valid JSON, not a request object: -32600 Invalid Request.
    let resp = rpc.post_raw(r#"{"jsonrpc":"2.0","id":7}"#);
    assert_code(&node, &resp.error(), -32600, false);
    still_up(rpc);
    // Empty batch: a single -32600 error.
    let resp = rpc.post_raw("[]");
    assert_code(&node, &resp.error(), -32600, false);
    still_up(rpc);

    // Unknown method: -32601, echoing the request id.
    let resp =
        rpc.post_raw(r#"{"jsonrpc":"2.0","id":"abc","method":"eth_noSuchMethod","params":[]}"#);
    assert_code(&node, &resp.error(), -32601, false);
    assert_eq!(resp.json()["id"], json!("abc"));
    let err = rpc.request_err("peregrine_definitelyNotAMethod", json!([]));
    assert_eq!(err.code, -32601, "{err}");
    still_up(rpc);

    // Request ids come back exactly as sent: any unsigned integer that fits 64 bits, a
    // string (escapes included), or null.
    for id in [
        json!(0),
        json!(1u64 << 53),
        json!("abc"),
        json!("a \"quoted\" \u{e9} id"),
        json!(""),
        Value::Null,
    ] {
        let body = json!({"jsonrpc": "2.0", "id": id, "method": "eth_chainId", "params": []});
        let resp = rpc.post_raw(&body.to_string());
        assert_eq!(resp.json()["id"], id, "{body}");
        assert_eq!(resp.json()["result"], json!("0x385"), "{body}");
    }
    // Any other id makes an invalid request, answered with id null (before, such a
    // message ran as a notification and got no answer at all). anvil answers some of
    // them and refuses u64::MAX, so this is checked on peregrine only.
    if !node.is_anvil() {
        let body = json!({"jsonrpc": "2.0", "id": u64::MAX, "method": "eth_chainId", "params": []});
        assert_eq!(
            rpc.post_raw(&body.to_string()).json()["id"],
            json!(u64::MAX)
        );
        for id in ["-1", "1.5", "18446744073709551616", "{}", "[1]", "true"] {
            let body =
                format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"eth_chainId","params":[]}}"#);
            let resp = rpc.post_raw(&body);
            assert_code(&node, &resp.error(), -32600, false);
            assert_eq!(resp.json()["id"], Value::Null, "{body}");
        }
    }
    still_up(rpc);

    // Wrong params: -32602.
    for (method, params) in [
        ("eth_getBalance", json!(["0x1234", "latest"])), // address too short
        ("eth_getBalance", json!(["not-an-address", "latest"])),
        ("eth_getBlockByNumber", json!(["0xZZ", false])), // not a quantity
        ("eth_getBlockByNumber", json!([1, 2, 3, 4])),    // too many / wrong types
        ("eth_getTransactionByHash", json!(["0x12"])),    // hash too short
        ("eth_getTransactionCount", json!([])),           // missing required params
    ] {
        let err = rpc.request_err(method, params.clone());
        assert_eq!(err.code, -32602, "{method}({params}): {err}");
        still_up(rpc);
    }

    // A batch answers every member, ids preserved (order may differ per spec).
    let resp = rpc.post_raw(
        r#"[{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]},
            {"jsonrpc":"2.0","id":2,"method":"net_version","params":[]},
            {"jsonrpc":"2.0","id":3,"method":"eth_noSuchMethod","params":[]}]"#,
    );
    let arr = resp
        .json()
        .as_array()
        .expect("batch response is an array")
        .clone();
    assert_eq!(arr.len(), 3);
    let by_id = |id: u64| {
        arr.iter()
            .find(|r| r["id"] == json!(id))
            .unwrap_or_else(|| panic!("batch response lacks id {id}: {arr:?}"))
    };
    assert_eq!(by_id(1)["result"], json!("0x385"));
    assert_eq!(by_id(2)["result"], json!("901"));
    assert_eq!(by_id(3)["error"]["code"], json!(-32601));
    still_up(rpc);
}

#[test]
fn rejected_transactions_are_reported() {
    let node = Node::from_env();
    let rpc = node.rpc();
    let cast = node.cast();
    let alice = dev(0);
    let send_raw = |raw: &str| rpc.call("eth_sendRawTransaction", json!([raw]));

    // Garbage bytes: an error (code varies between implementations), nothing mined.
    for raw in ["0xdeadbeef", "0x", "0x02", "0xf8"] {
        let err = send_raw(raw).expect_err("garbage raw tx must be rejected");
        assert!(!err.message.is_empty(), "{err}");
        still_up(rpc);
    }
    // Not even hex.
    let err = send_raw("0xnothex").expect_err("non-hex raw tx must be rejected");
    assert_eq!(err.code, -32602, "{err}");

    // Signed for another chain (id 1): rejected.
    let foreign = sign(alice.private_key, 1, 0, 21_000, "1");
    let err = send_raw(&foreign).expect_err("a chain-1 tx must be rejected on chain 901");
    assert_msg_contains(&err, "chain");
    still_up(rpc);

    // Intrinsic gas too low.
    let low = sign(alice.private_key, 901, 0, 20_000, "1");
    let err = send_raw(&low).expect_err("gas limit below 21000 must be rejected");
    assert_code(&node, &err, -32000, false);
    assert_msg_contains(&err, "intrinsic gas too low");
    still_up(rpc);

    // Insufficient funds: a fresh key with zero balance. anvil answers -32003 (not geth's -32000).
    let wallet = Cast::offline_ok(&["wallet", "new", "--json"]);
    let wallet: Value = serde_json::from_str(&wallet).expect("cast wallet new --json");
    let pauper = wallet[0]["private_key"]
        .as_str()
        .expect("private_key")
        .to_owned();
    let broke = sign(&pauper, 901, 0, 21_000, "1");
    let err = send_raw(&broke).expect_err("unfunded tx must be rejected");
    assert_code(&node, &err, -32000, true);
    assert_msg_contains(&err, "insufficient funds for gas * price + value");
    // Also for a funded account sending more than its balance.
    let too_much = sign(alice.private_key, 901, 0, 21_000, "10001ether");
    let err = send_raw(&too_much).expect_err("overdraft must be rejected");
    assert_code(&node, &err, -32000, true);
    assert_msg_contains(&err, "insufficient funds");
    still_up(rpc);

    // Nonce too low: use nonce 0, then submit a different nonce-0 tx.
    let r = send_value(&cast, alice, dev(1).address, 1);
    assert_success(&r);
    let stale = sign(alice.private_key, 901, 0, 21_000, "2");
    let err = send_raw(&stale).expect_err("nonce 0 again must be rejected");
    assert_code(&node, &err, -32000, true);
    assert_msg_contains(&err, "nonce too low");
    // Through cast too: the error surfaces in cast's output.
    let out = cast.run(&["publish", &stale]).expect_failure();
    assert!(
        out.combined().to_lowercase().contains("nonce too low"),
        "{out}"
    );
    still_up(rpc);

    // None of the rejected transactions changed the sender's state.
    assert_eq!(cast.uint(&["nonce", alice.address]), 1);
    let ok = sign(alice.private_key, 901, 1, 21_000, "3");
    let hash = send_raw(&ok).expect("a valid nonce-1 tx is accepted");
    let receipt = cast.json(&["receipt", hash.as_str().expect("tx hash"), "--json"]);
    assert_success(&receipt);
    assert_eq!(cast.uint(&["nonce", alice.address]), 2);
}

/// Every RPC limit in `[rpc]` is enforced with the answer jsonrpsee (and geth) give, and
/// the server stays usable: request and response size (-32007 / -32008, HTTP 413),
/// batch length (-32010),
/// subscriptions per connection (-32006, freed by `eth_unsubscribe`) and connections
/// (HTTP 429 until one closes). Driven by `tests/js/limits.mjs` with real `ws` and
/// `http` clients against a node started with small limits from a config file.
#[test]
fn rpc_limits_are_enforced() {
    if peregrine_tests::skip_on_anvil("Peregrine's [rpc] limits") {
        return;
    }
    let (request, response, connections, subscriptions, batch) = (2048, 4096, 4, 2, 5);
    let (_config, node) = node_with_config(&format!(
        "[rpc]\nmax-request-size = {request}\nmax-response-size = {response}\n\
         max-connections = {connections}\nmax-subscriptions = {subscriptions}\n\
         max-batch-len = {batch}\n"
    ));
    let (url, ws) = (node.url(), node.ws_url());
    let limits = [request, response, connections, subscriptions, batch].map(|n| n.to_string());
    let mut args = vec![url.as_str(), ws.as_str()];
    args.extend(limits.iter().map(String::as_str));
    let out = node_script_timeout("limits.mjs", &args, Duration::from_secs(60));
    assert!(out.success(), "limits.mjs failed ({}):\n{out}", out.status);
    let result = script_result(&out);
    println!("limits: {result}");
    assert!(result["checks"].as_u64() >= Some(15), "{result}");
    still_up(node.rpc());
}
