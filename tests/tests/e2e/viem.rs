//! The viem scenario in `tests/js/e2e.mjs`.

use peregrine_tests::Node;
use peregrine_tests::js::node_script;

#[test]
fn viem_scenario() {
    let node = Node::from_env();
    let out = node_script("e2e.mjs", &[&node.url()]);
    assert!(
        out.success(),
        "viem scenario failed ({}):\n{out}",
        out.status
    );
    assert!(
        out.stdout.contains("checks passed"),
        "viem scenario did not report its checks:\n{out}"
    );
    println!("{}", out.out());
}
