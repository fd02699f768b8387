//! `peregrine-loadtest compare`: anvil and Peregrine side by side, in one run, on this
//! machine, with the same workload. One node runs at a time (anvil first), each on a free
//! loopback port, so an idle node does not take CPU from the measured one; and each run
//! gets a fresh node, so a run that left a backlog (a rate the node could not sustain)
//! does not carry it into the next.
//!
//! 1. **Throughput at saturation**: closed loop with K in flight, each with its fastest way
//!    to learn a transaction is in: anvil (automine) by receipt polling, Peregrine by its
//!    preconfirmation subscription.
//! 2. **Latency at a rate both sustain** (open loop, `--rate`, default 200 tps), both with
//!    receipt polling for fairness; then Peregrine with `sync` and `async` against anvil
//!    with `sync` (EIP-7966, which anvil answers once the transaction is mined): each
//!    with its fastest way to learn a transaction is in.

use crate::{
    config::{LoadConfig, Mix, Mode, SendMethod},
    error::{LoadError, LoadResult},
    load,
    node::{NodeProcess, dev_supports, first_existing, workspace_root},
    report::Report,
};
use serde::Serialize;
use std::{
    fmt::Write,
    path::{Path, PathBuf},
    time::Duration,
};

/// Closed-loop transactions in flight when `--concurrency` is absent.
pub const DEFAULT_COMPARE_CONCURRENCY: usize = 256;
/// Open-loop rate of the latency comparison when `--rate` is absent.
pub const DEFAULT_COMPARE_RATE: f64 = 200.0;
/// Pre-signed transactions per second of `--duration` for anvil's saturation run (anvil
/// automines one block per transaction; it does not get near this).
const ANVIL_BUDGET_TPS: u64 = 5_000;
/// The same for Peregrine.
const PEREGRINE_BUDGET_TPS: u64 = 60_000;

/// Flags of `compare`.
#[derive(Debug, Clone)]
pub struct CompareConfig {
    /// `peregrine` binary (default: `target/release/peregrine`, else `target/debug/peregrine`).
    pub peregrine_bin: Option<PathBuf>,
    /// anvil binary (default: `tests/js/node_modules/.bin/anvil`).
    pub anvil_bin: Option<PathBuf>,
    /// Sender accounts.
    pub accounts: usize,
    /// Length of each measured run.
    pub duration: Duration,
    /// Closed-loop transactions in flight.
    pub concurrency: usize,
    /// Open-loop rate of the latency runs.
    pub rate: f64,
    /// Transaction mix.
    pub mix: Mix,
    /// Peregrine's `--block-time`.
    pub block_time: String,
    /// Combined JSON report; per-run reports and plots go beside it.
    pub out: Option<PathBuf>,
    /// Progress bars.
    pub progress: bool,
}

/// One measured run of a comparison.
#[derive(Debug, Clone, Serialize)]
pub struct CompareRun {
    /// Short name (`saturation-anvil`, …).
    pub name: String,
    /// What it measures.
    pub description: String,
    /// Its report.
    pub report: Report,
}

/// One line of the comparison table.
#[derive(Debug, Clone, Serialize)]
pub struct CompareRow {
    /// What is compared.
    pub metric: String,
    /// anvil's value.
    pub anvil: Option<f64>,
    /// Peregrine's value.
    pub peregrine: Option<f64>,
    /// How many times better Peregrine is (throughput: P/A; latency: A/P).
    pub peregrine_advantage: Option<f64>,
}

/// The result of `compare`.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// anvil's `web3_clientVersion`.
    pub anvil_version: String,
    /// Peregrine's.
    pub peregrine_version: String,
    /// Logical CPUs of the machine (both nodes and the client share them).
    pub cpus: usize,
    /// The table.
    pub table: Vec<CompareRow>,
    /// Every run, in order.
    pub runs: Vec<CompareRun>,
}

impl Comparison {
    /// The table as text.
    pub fn table_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "\n{:<58} {:>12} {:>12} {:>12}",
            "metric", "anvil", "peregrine", "advantage"
        );
        let _ = writeln!(s, "{}", "-".repeat(97));
        let f = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{v:.1}"));
        let ratio = |a: f64| {
            if a < 0.1 {
                format!("{a:.3}×")
            } else if a < 10.0 {
                format!("{a:.2}×")
            } else {
                format!("{a:.1}×")
            }
        };
        for r in &self.table {
            let adv = r.peregrine_advantage.map_or("—".to_string(), ratio);
            let _ = writeln!(
                s,
                "{:<58} {:>12} {:>12} {:>12}",
                r.metric,
                f(r.anvil),
                f(r.peregrine),
                adv
            );
        }
        let _ = writeln!(
            s,
            "\nanvil: {}; peregrine: {}; {} CPUs (one node at a time, sharing them with the client)",
            self.anvil_version, self.peregrine_version, self.cpus
        );
        s
    }
}

fn peregrine_bin(cfg: &CompareConfig) -> LoadResult<PathBuf> {
    if let Some(p) = &cfg.peregrine_bin {
        return Ok(p.clone());
    }
    let root = workspace_root();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    first_existing(&[target.join("release/peregrine"), target.join("debug/peregrine")]).ok_or_else(
        || {
            LoadError::Node(format!(
                "no peregrine binary under {}; build it with `cargo build --release --bin peregrine` or pass --peregrine-bin",
                target.display()
            ))
        },
    )
}

fn anvil_bin(cfg: &CompareConfig) -> LoadResult<PathBuf> {
    if let Some(p) = &cfg.anvil_bin {
        return Ok(p.clone());
    }
    let p = workspace_root().join("tests/js/node_modules/.bin/anvil");
    if p.exists() {
        Ok(p)
    } else {
        Err(LoadError::Node(format!(
            "anvil not found at {}; run scripts/install-tools.sh or pass --anvil-bin",
            p.display()
        )))
    }
}

fn sibling(out: &Path, suffix: &str, ext: &str) -> PathBuf {
    let stem = out
        .file_stem()
        .map_or("compare".into(), |s| s.to_string_lossy().into_owned());
    out.with_file_name(format!("{stem}-{suffix}.{ext}"))
}

/// Runs the comparison and prints the table.
pub async fn compare(cfg: &CompareConfig) -> LoadResult<Comparison> {
    let peregrine = peregrine_bin(cfg)?;
    let anvil = anvil_bin(cfg)?;
    let accounts = cfg.accounts.to_string();
    // `--prune-history`: anvil keeps no historical states, like Peregrine, which serves
    // state at the head only. Without it anvil 1.7 writes old states to
    // `$HOME/.foundry/anvil/tmp` (gigabytes per saturation run), which costs it throughput
    // and, as the kernel writes them back, stalls the runs after it.
    let anvil_args: Vec<&str> = vec![
        "--port",
        "{port}",
        "--chain-id",
        "901",
        "--accounts",
        "10",
        "--balance",
        "10000",
        "--prune-history",
    ];
    let mut peregrine_args = vec![
        "dev",
        "--rpc.addr",
        "127.0.0.1:{port}",
        "--dev.accounts",
        &accounts,
        "--block-time",
        &cfg.block_time,
        "--datadir",
        "{dir}",
    ];
    if dev_supports(&peregrine, "--metrics.addr") {
        peregrine_args.extend(["--metrics.addr", "127.0.0.1:{port2}"]);
    }

    let secs = cfg.duration.as_secs_f64();
    let budget =
        |tps: u64| ((secs * tps as f64).ceil() as u64).min(crate::config::MAX_TRANSACTIONS);
    struct Planned {
        name: &'static str,
        description: String,
        mode: Mode,
        send: SendMethod,
        count: u64,
    }
    let k = cfg.concurrency;
    let rate = cfg.rate;
    let open_count = (secs * rate).ceil() as u64;
    let open = |name, send: SendMethod| Planned {
        name,
        description: format!("open loop {rate} tps, {send} (ws)"),
        mode: Mode::Open { rate },
        send,
        count: open_count,
    };
    let saturation = |name, send: SendMethod, tps| Planned {
        name,
        description: format!("closed loop, {k} in flight, {send} (ws)"),
        mode: Mode::Closed { concurrency: k },
        send,
        count: budget(tps),
    };
    // One node at a time, a fresh one per run: an idle node would compete for the same
    // cores (Peregrine's sequencer spins while it waits, with the default
    // `--sequencer.wait yield`), and a node still working off the previous run's backlog
    // would slow the next run or fail its setup.
    let phases: [(&'static str, PathBuf, Vec<&str>, Vec<Planned>); 2] = [
        (
            "anvil",
            anvil,
            anvil_args,
            vec![
                open("latency-poll-anvil", SendMethod::Poll),
                open("latency-sync-anvil", SendMethod::Sync),
                saturation("saturation-anvil", SendMethod::Poll, ANVIL_BUDGET_TPS),
            ],
        ),
        (
            "peregrine",
            peregrine.clone(),
            peregrine_args,
            vec![
                open("latency-poll-peregrine", SendMethod::Poll),
                open("latency-sync-peregrine", SendMethod::Sync),
                open("latency-async-peregrine", SendMethod::Async),
                saturation(
                    "saturation-peregrine",
                    SendMethod::Async,
                    PEREGRINE_BUDGET_TPS,
                ),
                // Like for like with anvil's: a wallet that polls for its receipt.
                saturation(
                    "saturation-poll-peregrine",
                    SendMethod::Poll,
                    PEREGRINE_BUDGET_TPS,
                ),
            ],
        ),
    ];

    let mut runs = Vec::new();
    for (node_name, program, args, planned) in phases {
        for p in planned {
            let node = NodeProcess::start_ready(node_name, &program, &args).await?;
            eprintln!(
                "compare: {} — {} ({node_name} pid {} on port {}, {})",
                p.name,
                p.description,
                node.pid(),
                node.port,
                program.display()
            );
            let mut lc = LoadConfig::new(node.endpoint("ws"), p.mode, cfg.duration, p.count);
            lc.accounts = cfg.accounts;
            lc.mix = cfg.mix;
            lc.send = Some(p.send);
            lc.progress = cfg.progress;
            lc.out = cfg.out.as_ref().map(|o| sibling(o, p.name, "json"));
            let report = load::run(&lc).await.map_err(|e| {
                LoadError::Node(format!(
                    "{} failed: {e}\n{node_name} log tail:\n{}",
                    p.name,
                    node.log_tail()
                ))
            })?;
            runs.push(CompareRun {
                name: p.name.to_owned(),
                description: p.description,
                report,
            });
        }
    }

    let get = |name: &str| runs.iter().find(|r| r.name == name).map(|r| &r.report);
    let ms = |us: u64| us as f64 / 1000.0;
    let mut table = Vec::new();
    let mut row = |metric: String, a: Option<f64>, p: Option<f64>, higher_better: bool| {
        let adv = match (a, p) {
            (Some(a), Some(p)) if a > 0.0 && p > 0.0 => {
                Some(if higher_better { p / a } else { a / p })
            }
            _ => None,
        };
        table.push(CompareRow {
            metric,
            anvil: a,
            peregrine: p,
            peregrine_advantage: adv,
        });
    };
    let (sa, sp) = (get("saturation-anvil"), get("saturation-peregrine"));
    row(
        format!("throughput, closed loop K={k} (tps; anvil poll, peregrine async)"),
        sa.map(|r| r.throughput_tps),
        sp.map(|r| r.throughput_tps),
        true,
    );
    row(
        "  latency p50 at saturation (ms)".to_string(),
        sa.map(|r| ms(r.latency_us.p50)),
        sp.map(|r| ms(r.latency_us.p50)),
        false,
    );
    let spp = get("saturation-poll-peregrine");
    row(
        format!("throughput, closed loop K={k}, both poll (tps)"),
        sa.map(|r| r.throughput_tps),
        spp.map(|r| r.throughput_tps),
        true,
    );
    row(
        "  latency p50 at saturation, both poll (ms)".to_string(),
        sa.map(|r| ms(r.latency_us.p50)),
        spp.map(|r| ms(r.latency_us.p50)),
        false,
    );
    let (la, lp) = (get("latency-poll-anvil"), get("latency-poll-peregrine"));
    for (label, pick) in [
        ("p50", (|r: &Report| r.latency_us.p50) as fn(&Report) -> u64),
        ("p99", |r: &Report| r.latency_us.p99),
        ("max", |r: &Report| r.latency_us.max),
    ] {
        row(
            format!("latency {label} at {rate} tps, both poll (ms)"),
            la.map(|r| ms(pick(r))),
            lp.map(|r| ms(pick(r))),
            false,
        );
    }
    // Each against anvil's fastest way to learn a transaction is in at a rate it sustains:
    // `eth_sendRawTransactionSync` (EIP-7966), which anvil answers once it has mined it.
    let anvil_sync = get("latency-sync-anvil");
    for (name, label) in [
        ("latency-sync-peregrine", "sync"),
        ("latency-async-peregrine", "async"),
    ] {
        let Some(r) = get(name) else { continue };
        for (q, pick) in [
            ("p50", (|r: &Report| r.latency_us.p50) as fn(&Report) -> u64),
            ("p99", |r: &Report| r.latency_us.p99),
        ] {
            row(
                format!("latency {q} at {rate} tps, peregrine {label} vs anvil sync (ms)"),
                anvil_sync.map(|r| ms(pick(r))),
                Some(ms(pick(r))),
                false,
            );
        }
    }
    let comparison = Comparison {
        anvil_version: sa.map(|r| r.client_version.clone()).unwrap_or_default(),
        peregrine_version: sp.map(|r| r.client_version.clone()).unwrap_or_default(),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        table,
        runs,
    };
    print!("{}", comparison.table_text());
    if let Some(out) = &cfg.out {
        if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| LoadError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let text = serde_json::to_string_pretty(&comparison).map_err(|e| LoadError::Io {
            path: out.clone(),
            source: std::io::Error::other(e),
        })?;
        std::fs::write(out, text + "\n").map_err(|source| LoadError::Io {
            path: out.clone(),
            source,
        })?;
        println!("comparison report: {}", out.display());
    }
    Ok(comparison)
}
