//! One in-process node for the targets that need a chain (started once per process).

use peregrine_sequencer::{GenesisSpec, Node, SequencerConfig};
use std::sync::OnceLock;

pub struct Shared {
    _dir: tempfile::TempDir,
    pub node: Node,
}

pub fn shared() -> &'static Shared {
    static NODE: OnceLock<Shared> = OnceLock::new();
    NODE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut cfg = SequencerConfig::new(dir.path().to_path_buf());
        cfg.block_time = std::time::Duration::from_millis(100);
        let balance = alloy_primitives::U256::from(10u64).pow(alloy_primitives::U256::from(22));
        let node = Node::start(cfg, &GenesisSpec::dev(0, balance)).expect("start a node");
        Shared { _dir: dir, node }
    })
}
