//! Self-tests of the harness: start-up failure reporting and restart.

use peregrine_tests::{Node, Target};
use serde_json::json;

#[test]
#[should_panic(expected = "exited early")]
fn startup_failure_is_reported_with_the_log() {
    // `false` ignores its arguments and exits 1 at once.
    let _ = Node::start_with(Target::Peregrine, "/bin/false");
}

#[test]
fn restart_keeps_port_and_answers_again() {
    let mut node = Node::from_env();
    let port = node.port();
    let pid = node.pid().expect("running");
    node.restart()
        .expect("it was running, so stop() returned a status");
    assert_eq!(node.port(), port);
    assert_ne!(node.pid(), Some(pid), "a new process");
    assert!(node.is_running());
    assert_eq!(node.rpc().request("eth_chainId", json!([])), json!("0x385"));
    assert!(node.log().contains("===== start #2"), "log keeps both runs");
}
