//! Short runs against `peregrine dev` (no latency assertions: this machine is shared).

use crate::support::{Node, check_complete, check_stages, harness, run_report};
use alloy_primitives::U256;
use peregrine_loadtest::dev_accounts;
use serde_json::json;

#[test]
fn dev_account_keys_match_the_node() {
    let node = Node::start(4);
    let ten_thousand_eth = U256::from(10_000u64) * U256::from(10u64).pow(U256::from(18));
    let accounts = dev_accounts(5);
    for (i, a) in accounts.iter().enumerate() {
        let balance: U256 = serde_json::from_value(
            node.call("eth_getBalance", json!([a.address, "latest"]))
                .unwrap(),
        )
        .unwrap();
        if i < 4 {
            assert_eq!(
                balance, ten_thousand_eth,
                "dev account {i} ({}) is not prefunded",
                a.address
            );
        } else {
            assert_eq!(balance, U256::ZERO, "only --dev.accounts 4 are prefunded");
        }
    }
}

#[test]
fn sync_over_http_accounts_for_every_transaction() {
    let node = Node::start(8);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sync.json");
    let r = run_report(
        &[
            "--rpc",
            &node.http(),
            "--mode",
            "open",
            "--rate",
            "150",
            "--count",
            "150",
            "--accounts",
            "8",
            "--send",
            "sync",
        ],
        &out,
    );
    check_complete(&r, 150);
    check_stages(&r, 150);
    assert_eq!(
        (r["send"].as_str(), r["transport"].as_str()),
        (Some("sync"), Some("http"))
    );
    assert_eq!(r["mode"], "open");
    assert_eq!(r["offered_rate"], 150.0);
}

#[test]
fn async_over_ws_closed_loop_with_an_erc20_mix() {
    let node = Node::start(16);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("async.json");
    let r = run_report(
        &[
            "--rpc",
            &node.ws(),
            "--mode",
            "closed",
            "--concurrency",
            "16",
            "--count",
            "400",
            "--accounts",
            "16",
            "--send",
            "async",
            "--mix",
            "eth=50,erc20=50",
        ],
        &out,
    );
    check_complete(&r, 400);
    check_stages(&r, 400);
    assert_eq!(
        (r["send"].as_str(), r["transport"].as_str()),
        (Some("async"), Some("ws"))
    );
    assert_eq!(r["concurrency"], 16);
    assert!(
        r["setup"]["token"].is_string(),
        "the ERC-20 token was deployed"
    );
    assert_eq!(
        r["setup"]["funded_accounts"], 0,
        "dev accounts are prefunded"
    );
    // Half the transactions were token transfers: the load accounts now hold moved tokens,
    // and the token's code is there.
    let token = r["setup"]["token"].as_str().unwrap();
    let code = node.call("eth_getCode", json!([token, "latest"])).unwrap();
    assert!(code.as_str().unwrap().len() > 100);
}

#[test]
fn poll_over_http_funds_missing_accounts_and_finds_every_receipt() {
    // Only 2 prefunded: the funder (mnemonic account 0) tops up the other 2.
    let node = Node::start(2);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("poll.json");
    let r = run_report(
        &[
            "--rpc",
            &node.http(),
            "--mode",
            "open",
            "--rate",
            "100",
            "--count",
            "100",
            "--accounts",
            "4",
            "--send",
            "poll",
            "--samples",
            dir.path().join("samples.csv").to_str().unwrap(),
        ],
        &out,
    );
    check_complete(&r, 100);
    assert!(r["stages"].is_null(), "poll has no stage timestamps");
    assert_eq!(r["setup"]["funded_accounts"], 2);
    let csv = std::fs::read_to_string(dir.path().join("samples.csv")).unwrap();
    assert_eq!(csv.lines().count(), 101);
    assert!(csv.lines().skip(1).all(|l| l.contains(",confirmed,")));
}

#[test]
fn remote_targets_are_refused_before_anything_is_sent() {
    let o = harness(&["--rpc", "http://192.0.2.1:8545", "--count", "10"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--allow-remote"), "{err}");
}

/// `--stalled-subscribers`: connections that subscribe to `miniBlocks` and read nothing.
/// The node buffers 16 notifications per connection for 100 ms at most, so once the
/// kernel's buffers (a few MB; a notification is ~2 kB) are full they fall behind within
/// the run: both must be reported closed by the node, with its error, and every
/// transaction of the run must still complete.
#[test]
fn stalled_subscribers_are_closed_by_the_node_and_reported() {
    let node = Node::start_with_config(
        16,
        Some("[rpc]\nsubscription-buffer = 16\nslow-subscriber-timeout = \"100ms\"\n"),
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("stalled.json");
    let r = run_report(
        &[
            "--rpc",
            &node.ws(),
            "--mode",
            "open",
            "--rate",
            "1000",
            "--count",
            "4000",
            "--accounts",
            "16",
            "--send",
            "async",
            "--stalled-subscribers",
            "2",
        ],
        &out,
    );
    check_complete(&r, 4000);
    let st = &r["stalled_subscribers"];
    assert_eq!(st["connections"], 2, "{st}");
    assert_eq!(st["subscription"], "miniBlocks", "{st}");
    assert_eq!(st["closed_by_server"], 2, "{st}");
    assert!(
        st["example_error"]
            .as_str()
            .is_some_and(|e| e.contains("fell behind") && e.contains("fromMiniBlock")),
        "{st}"
    );
    assert!(
        st["notifications"].as_u64().unwrap() >= 2 * 16,
        "each got at least the node's buffer: {st}"
    );
    // Without the flag the report has no such field.
    let plain = run_report(
        &[
            "--rpc",
            &node.ws(),
            "--count",
            "20",
            "--accounts",
            "16",
            "--send",
            "async",
        ],
        &dir.path().join("plain.json"),
    );
    assert!(plain.get("stalled_subscribers").is_none(), "{plain}");
}

#[test]
fn bounds_and_flags_are_checked() {
    let o = harness(&["--rpc", "ws://127.0.0.1:1", "--count", "3000000"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("hard cap"));
    let o = harness(&[
        "--rpc",
        "http://127.0.0.1:1",
        "--send",
        "async",
        "--count",
        "5",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("ws://"));
    let o = harness(&["--rpc", "ws://127.0.0.1:1", "--stalled-subscribers", "65"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--stalled-subscribers"));
}
