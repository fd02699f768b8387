//! `peregrine-loadtest compare` against the real anvil (`scripts/install-tools.sh`) and the
//! debug `peregrine`: short runs, no latency assertions (this machine is shared).

use crate::support::{harness, peregrine_bin};
use serde_json::Value;
use std::path::Path;

/// Every run of the comparison accounts for all its transactions, the table has both
/// nodes' values and their ratio, and each run had a node of its own (seven runs, seven
/// node processes), so no run inherits the backlog of one before it.
#[test]
fn compare_runs_each_workload_on_a_fresh_node_of_each_kind() {
    let anvil = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/js/node_modules/.bin/anvil");
    assert!(
        anvil.exists(),
        "anvil not found at {}: run scripts/install-tools.sh (scripts/test.sh does)",
        anvil.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("compare.json");
    let o = harness(&[
        "compare",
        "--peregrine-bin",
        peregrine_bin().to_str().unwrap(),
        "--anvil-bin",
        anvil.to_str().unwrap(),
        "--accounts",
        "4",
        "--duration",
        "500ms",
        "--rate",
        "40",
        "--concurrency",
        "8",
        "--out",
        out.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success(),
        "compare failed ({}):\n{stderr}",
        o.status
    );
    let c: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();

    let runs = c["runs"].as_array().unwrap();
    let names: Vec<&str> = runs.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "latency-poll-anvil",
            "latency-sync-anvil",
            "saturation-anvil",
            "latency-poll-peregrine",
            "latency-sync-peregrine",
            "latency-async-peregrine",
            "saturation-peregrine",
            "saturation-poll-peregrine",
        ]
    );
    for run in runs {
        let (name, r) = (run["name"].as_str().unwrap(), &run["report"]);
        assert!(
            r["transactions"].as_u64().unwrap() > 0,
            "{name}: nothing sent"
        );
        assert_eq!(r["completed"], r["transactions"], "{name}: {r}");
        assert_eq!(r["failed"], 0, "{name}");
        let missing = r["missing_receipts"].as_array().unwrap();
        assert!(missing.is_empty(), "{name}: no receipt for {missing:?}");
        if name.ends_with("anvil") {
            assert_eq!(r["target"], "anvil", "{name}");
            assert_eq!(
                r["setup"]["funded_accounts"], 4,
                "{name}: anvil prefunds none of them"
            );
        } else {
            assert_eq!(r["target"], "peregrine", "{name}");
        }
    }
    // Each node printed its own pid: one node per run.
    let pids: std::collections::BTreeSet<&str> = stderr
        .lines()
        .filter_map(|l| l.split(" pid ").nth(1)?.split(' ').next())
        .collect();
    assert_eq!(pids.len(), runs.len(), "one node per run:\n{stderr}");

    let table = c["table"].as_array().unwrap();
    assert!(!table.is_empty());
    for row in table {
        let metric = row["metric"].as_str().unwrap();
        for side in ["anvil", "peregrine", "peregrine_advantage"] {
            let v = row[side].as_f64();
            assert!(
                v.is_some_and(|v| v > 0.0),
                "{metric}: {side} = {}",
                row[side]
            );
        }
    }
}
