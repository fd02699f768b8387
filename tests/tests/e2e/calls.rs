//! `eth_call` never holds anything up: it runs against a snapshot on its own bounded
//! pool of threads, and stops at `rpc.evm-timeout`.

use peregrine_tests::{Node, NodeOptions, dev};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

use crate::common::node_with_config;

/// Init code that loops until its gas is gone: `JUMPDEST PUSH1 0 JUMP`. With the 50 M
/// gas cap it runs the EVM for about a second on this machine.
const LOOP: &str = "0x5b600056";

fn loop_call(node: &Node, gas: u64) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "eth_call",
        "params": [{"data": LOOP, "gas": format!("{gas:#x}")}, "pending"]});
    node.rpc().post_raw(&body.to_string()).json().clone()
}

#[test]
fn a_call_that_runs_past_the_evm_timeout_is_aborted() {
    if peregrine_tests::skip_on_anvil("Peregrine's rpc.evm-timeout") {
        return;
    }
    let (_config, node) = node_with_config("[rpc]\nevm-timeout = \"100ms\"\n");
    let answer = loop_call(&node, 50_000_000);
    assert_eq!(answer["error"]["code"], json!(-32000), "{answer}");
    assert_eq!(
        answer["error"]["message"],
        json!("execution aborted (timeout = 100ms)"),
        "{answer}"
    );
    // A loop that runs out of gas first is an ordinary out-of-gas failure.
    let short = loop_call(&node, 100_000);
    assert_eq!(short["error"]["message"], json!("out of gas"), "{short}");
}

/// Eight calls of about a second each, on two call threads: before the fix each held the
/// pending view's read lock for its whole run, the chain service's write queued behind
/// them, and every `pending` read behind that. Now a transfer is preconfirmed and its
/// effect is read at `pending` while the first of those calls is still running.
#[test]
fn pending_reads_and_sends_do_not_wait_behind_running_calls() {
    if peregrine_tests::skip_on_anvil("Peregrine's call pool") {
        return;
    }
    let node = Node::from_env_opts(NodeOptions::default());
    let started = Instant::now();
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let rpc = node.rpc().clone();
            std::thread::spawn(move || {
                let body = json!({"jsonrpc": "2.0", "id": 1, "method": "eth_call",
                    "params": [{"data": LOOP, "gas": "0x2faf080"}, "pending"]});
                let answer = rpc.post_raw(&body.to_string()).json().clone();
                (Instant::now(), answer)
            })
        })
        .collect();
    // Give the calls time to reach the EVM.
    std::thread::sleep(Duration::from_millis(100));
    // Signed offline: `cast send` would ask for a gas estimate, which waits for a call
    // thread like any call.
    let (alice, bob) = (dev(3), dev(4));
    let before = node.rpc().balance_at(bob.address, "pending");
    let raw = crate::preconf::sign_transfer(alice.private_key, 0, bob.address, "12345").0;
    node.rpc().request("eth_sendRawTransaction", json!([raw]));
    let seen = peregrine_tests::wait_until(
        "the transfer at pending",
        Duration::from_secs(20),
        Duration::from_millis(1),
        || {
            Some(Instant::now())
                .filter(|_| node.rpc().balance_at(bob.address, "pending") == before + 12_345)
        },
    );
    let finished: Vec<(Instant, Value)> = calls.into_iter().map(|c| c.join().unwrap()).collect();
    let first_call_done = finished.iter().map(|(t, _)| *t).min().unwrap();
    for (_, answer) in &finished {
        // On a loaded machine a call may reach the 5 s timeout before its gas runs out.
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message == "out of gas" || message.starts_with("execution aborted"),
            "{answer}"
        );
    }
    println!(
        "transfer visible at pending after {:?}; first call answered after {:?}",
        seen - started,
        first_call_done - started
    );
    assert!(
        seen < first_call_done,
        "the pending read waited for a call: visible after {:?}, first call done after {:?}",
        seen - started,
        first_call_done - started
    );
}
