//! State survives a graceful restart on the same datadir (Peregrine only).

use peregrine_tests::util::{as_str, hex_quantity, lower, to_quantity};
use peregrine_tests::{Node, dev, skip_on_anvil};
use serde_json::json;

use crate::common::{
    assert_success, block_of, fee_paid, send_value, settled, tx_hash, wait_for_block,
};

#[test]
fn state_survives_sigterm_restart() {
    if skip_on_anvil("anvil does not persist state to a datadir") {
        return;
    }
    let mut node = Node::from_env();
    let cast = node.cast();
    let (alice, bob) = (dev(0), dev(2));
    let value = 1_500_000_000_000_000_000u128;
    let r = send_value(&cast, alice, bob.address, value);
    assert_success(&r);
    let r = settled(&node, &r);
    let n = block_of(&r);
    let alice_bal = cast.uint(&["balance", alice.address]);
    let bob_bal = cast.uint(&["balance", bob.address]);
    assert_eq!(bob_bal, peregrine_tests::accounts::DEV_BALANCE_WEI + value);
    assert_eq!(
        alice_bal,
        peregrine_tests::accounts::DEV_BALANCE_WEI - value - fee_paid(&r)
    );
    // Let a couple more blocks be produced after the transfer.
    let head_before = wait_for_block(&node, n + 2);
    let head_block = node.rpc().block(&to_quantity(head_before as u128), false);
    let tx_block = node.rpc().block(&to_quantity(n as u128), false);
    let port = node.port();

    let status = node.restart().expect("node was running");
    assert!(
        status.success(),
        "peregrine should exit 0 on SIGTERM, got {status}"
    );
    assert_eq!(node.port(), port, "restart keeps the port");

    let rpc = node.rpc();
    // The chain is still there: same blocks, same hashes.
    let head_after = rpc.block_number();
    assert!(
        head_after >= head_before,
        "head went back from {head_before} to {head_after}"
    );
    assert_eq!(
        rpc.block(&to_quantity(head_before as u128), false)["hash"],
        head_block["hash"]
    );
    assert_eq!(rpc.block(&to_quantity(n as u128), false), tx_block);
    // So is the state.
    assert_eq!(cast.uint(&["balance", alice.address]), alice_bal);
    assert_eq!(cast.uint(&["balance", bob.address]), bob_bal);
    assert_eq!(cast.uint(&["nonce", alice.address]), 1);
    // And the transaction and its receipt.
    let again = cast.json(&["receipt", &tx_hash(&r), "--json"]);
    assert_eq!(again["blockHash"], r["blockHash"]);
    let tx = rpc.request("eth_getTransactionByHash", json!([tx_hash(&r)]));
    assert_eq!(lower(as_str(&tx["hash"])), tx_hash(&r));

    // The chain continues from where it stopped.
    let next = wait_for_block(&node, head_after + 2);
    let b = rpc.block(&to_quantity(head_before as u128 + 1), false);
    assert_eq!(
        b["parentHash"], head_block["hash"],
        "new blocks extend the old head"
    );
    assert!(next > head_after);
    let r2 = send_value(&cast, alice, bob.address, 1);
    assert_success(&r2);
    assert!(block_of(&r2) > head_before);
    assert_eq!(cast.uint(&["nonce", alice.address]), 2);
    assert_eq!(
        hex_quantity(&rpc.request("eth_getBalance", json!([bob.address, "latest"]))),
        bob_bal + 1
    );

    // A second restart works as well.
    let status = node.restart().expect("node was running");
    assert!(status.success(), "second SIGTERM exit status {status}");
    assert_eq!(node.cast().uint(&["nonce", alice.address]), 2);
}
