//! The viem scenario in `tests/js/e2e.mjs`.

use peregrine_tests::Node;
use peregrine_tests::js::checked_script;

#[test]
fn viem_scenario() {
    let node = Node::from_env();
    checked_script("e2e.mjs", &[&node.url()]);
}
