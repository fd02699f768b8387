//! Hostile and careless clients: every list a request may carry is bounded, a replay
//! cannot start arbitrarily far back, one address cannot take every connection, a
//! WebSocket that answers no ping is closed, and a listed `Origin` is required when the
//! operator lists any. Each limit is a config key, answered with `-32005` (a limit) or
//! an HTTP status (a connection).

use peregrine_tests::dev;
use peregrine_tests::ws::WsClient;
use serde_json::{Value, json};
use std::time::Duration;

use crate::common::{node_with_config, send_value};

/// Asserts a JSON-RPC answer is the limit error naming `key`.
#[track_caller]
fn assert_limit(answer: &Value, key: &str) {
    assert_eq!(answer["error"]["code"], json!(-32005), "{answer}");
    let message = answer["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(key), "{answer}");
}

fn addresses(n: u8) -> Vec<String> {
    (1..=n)
        .map(|i| format!("0x{}", hex_byte(i).repeat(20)))
        .collect()
}

fn hex_byte(i: u8) -> String {
    format!("{i:02x}")
}

#[test]
fn every_list_a_request_carries_is_bounded() {
    if peregrine_tests::skip_on_anvil("Peregrine's [rpc] limits") {
        return;
    }
    let (_config, node) = node_with_config(
        "[rpc]\nmax-filter-items = 2\nmax-reward-percentiles = 2\nmax-replay-mini-blocks = 1\n",
    );
    let rpc = node.rpc();
    let call = |method: &str, params: Value| {
        rpc.post_raw(
            &json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string(),
        )
        .json()
        .clone()
    };

    // eth_feeHistory: geth's bound on percentiles, here 2.
    assert_limit(
        &call("eth_feeHistory", json!(["0x1", "latest", [10, 20, 30]])),
        "rpc.max-reward-percentiles",
    );
    assert!(call("eth_feeHistory", json!(["0x1", "latest", [10, 20]]))["result"].is_object());

    // eth_getLogs: addresses, and each topic position.
    let three = addresses(3);
    assert_limit(
        &call("eth_getLogs", json!([{"address": three}])),
        "rpc.max-filter-items",
    );
    let topics: Vec<String> = (1..=3u8)
        .map(|i| format!("0x{}", hex_byte(i).repeat(32)))
        .collect();
    assert_limit(
        &call("eth_getLogs", json!([{"topics": [null, topics]}])),
        "rpc.max-filter-items",
    );
    assert!(call("eth_getLogs", json!([{"address": addresses(2)}]))["result"].is_array());

    // The same bound on every subscription's filter.
    let (mut ws, _) = WsClient::connect(node.port(), 1 << 20);
    assert_limit(
        &ws.call("eth_subscribe", json!(["logs", {"address": three}])),
        "rpc.max-filter-items",
    );
    assert_limit(
        &ws.call(
            "eth_subscribe",
            json!(["stateChanges", {"addresses": three}]),
        ),
        "rpc.max-filter-items",
    );
    let hashes: Vec<String> = (1..=3u8)
        .map(|i| format!("0x{}", hex_byte(i).repeat(32)))
        .collect();
    assert_limit(
        &ws.call(
            "eth_subscribe",
            json!(["preconfirmations", {"txHashes": hashes}]),
        ),
        "rpc.max-filter-items",
    );
    assert_limit(
        &ws.call(
            "eth_subscribe",
            json!(["preconfirmations", {"from": three}]),
        ),
        "rpc.max-filter-items",
    );
    ws.subscribe(json!(["stateChanges", {"addresses": addresses(2)}]));

    // A replay may start at most max-replay-mini-blocks (here 1) behind the head.
    send_value(&node.cast(), dev(0), dev(1).address, 1);
    let last = send_value(&node.cast(), dev(0), dev(1).address, 1);
    let preconf = rpc.request(
        "preconf_getPreconfirmation",
        json!([last["transactionHash"]]),
    );
    let head = preconf["typedData"]["message"]["miniBlockNumber"]
        .as_u64()
        .expect("mini-block number");
    assert!(head >= 1, "{preconf}");
    let answer = ws.call(
        "eth_subscribe",
        json!(["miniBlocks", {"fromMiniBlock": head - 1}]),
    );
    assert_limit(&answer, "rpc.max-replay-mini-blocks");
    let sub = ws.subscribe(json!(["miniBlocks", {"fromMiniBlock": head}]));
    let first = ws.next_notification(&sub, Duration::from_secs(10), "the replayed mini-block");
    assert_eq!(
        first.json["result"]["header"]["miniBlockNumber"],
        json!(head)
    );
}

#[test]
fn one_address_may_hold_only_so_many_connections() {
    if peregrine_tests::skip_on_anvil("Peregrine's [rpc] limits") {
        return;
    }
    let (_config, node) = node_with_config("[rpc]\nmax-connections-per-ip = 3\n");
    let port = node.port();
    let mut open: Vec<WsClient> = (0..3)
        .map(|i| {
            WsClient::connect_with_origin(port, "http://x")
                .unwrap_or_else(|s| panic!("connection {i}: HTTP {s}"))
        })
        .collect();
    assert_eq!(
        WsClient::connect_with_origin(port, "http://x").err(),
        Some(429),
        "a fourth from 127.0.0.1"
    );
    // The open ones still work, and a closed one frees its place.
    assert_eq!(
        open[0].call("eth_chainId", json!([]))["result"],
        json!("0x385")
    );
    drop(open.pop());
    let mut again = None;
    for _ in 0..50 {
        if let Ok(ws) = WsClient::connect_with_origin(port, "http://x") {
            again = Some(ws);
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut again = again.expect("a place was freed by the closed connection");
    assert_eq!(
        again.call("eth_chainId", json!([]))["result"],
        json!("0x385")
    );
}

#[test]
fn a_listed_origin_is_required_once_any_is_listed() {
    if peregrine_tests::skip_on_anvil("Peregrine's [rpc] limits") {
        return;
    }
    let (_config, node) = node_with_config("[rpc]\nws-origins = [\"https://app.example\"]\n");
    let port = node.port();
    assert_eq!(
        WsClient::connect_with_origin(port, "https://evil.example").err(),
        Some(403)
    );
    let mut ws = WsClient::connect_with_origin(port, "https://app.example").expect("listed origin");
    assert_eq!(ws.call("eth_chainId", json!([]))["result"], json!("0x385"));
    // Plain HTTP (no browser WebSocket) is not affected.
    assert_eq!(node.rpc().request("eth_chainId", json!([])), json!("0x385"));
}

#[test]
fn a_websocket_that_answers_no_ping_is_closed() {
    if peregrine_tests::skip_on_anvil("Peregrine's [rpc] limits") {
        return;
    }
    let (_config, node) =
        node_with_config("[rpc]\nws-ping-interval = \"100ms\"\nws-idle-timeout = \"300ms\"\n");
    let (mut silent, _) = WsClient::connect(node.port(), 1 << 20);
    let (mut alive, _) = WsClient::connect(node.port(), 1 << 20);
    // `alive` reads (tungstenite answers each ping as it reads); `silent` reads nothing.
    assert!(
        !alive.closed_within(Duration::from_millis(1500)),
        "a connection that answers pings was closed"
    );
    assert!(
        silent.closed_within(Duration::from_secs(5)),
        "a connection that answered no ping for 1.5 s is still open"
    );
    assert_eq!(
        alive.call("eth_chainId", json!([]))["result"],
        json!("0x385")
    );
}
