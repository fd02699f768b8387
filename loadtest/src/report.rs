//! The report: what `--out` writes as JSON (field names are a contract with other tools)
//! and the human summary printed at the end of a run.

use crate::{config::Mix, verify::ReceiptCheck};
use serde::Serialize;
use std::{fmt::Write, path::Path};

/// Percentiles of a latency distribution, µs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Percentiles {
    /// Samples.
    pub count: u64,
    /// Smallest.
    pub min: u64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest.
    pub max: u64,
}

/// Where a preconfirmation's time went (Peregrine only), from its `timestamps`; each stage
/// in µs.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stages {
    /// Client write → node ingress (`received`): client send, network, RPC decode.
    pub client_to_ingress: Percentiles,
    /// `received` → `ordered`: ingress checks, the ring, waiting for the sequencer loop.
    pub ingress_to_ordered: Percentiles,
    /// `ordered` → `executed`: EVM execution and the rest of the mini-block.
    pub ordered_to_executed: Percentiles,
    /// `executed` → `signed`: Merkle roots and the EIP-712 signature.
    pub executed_to_signed: Percentiles,
    /// `signed` → `sent`: feed fan-out and JSON encoding of the answer.
    pub signed_to_sent: Percentiles,
    /// `sent` → the client read it: socket, WebSocket framing, client parsing.
    pub sent_to_client_received: Percentiles,
    /// `received` → `sent`: all of the node's part.
    pub ingress_to_sent: Percentiles,
}

/// One window of the latency-over-time series (windows by intended send time).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Window {
    /// Window start, seconds since the clock started.
    pub t_s: f64,
    /// Window length, seconds.
    pub width_s: f64,
    /// Transactions intended in the window and confirmed.
    pub count: u64,
    /// Transactions intended in the window that failed.
    pub failed: u64,
    /// Confirmations that arrived in the window, per second.
    pub completed_tps: f64,
    /// Latency percentiles of the window, µs.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// Largest.
    pub max_us: u64,
}

/// A bucket of the latency histogram (log-spaced, ten per decade).
#[derive(Debug, Clone, Serialize)]
pub struct Bucket {
    /// Lower bound, µs (inclusive).
    pub lo_us: u64,
    /// Upper bound, µs (exclusive).
    pub hi_us: u64,
    /// Transactions.
    pub count: u64,
}

/// One error kind.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorCount {
    /// JSON-RPC code (absent for transport errors and timeouts).
    pub code: Option<i64>,
    /// Message with numbers and hex masked.
    pub class: String,
    /// How many.
    pub count: u64,
    /// One complete message of this kind.
    pub example: String,
}

/// Preparation before the clock.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SetupSummary {
    /// Load accounts the funder topped up.
    pub funded_accounts: usize,
    /// The ERC-20 token, when the mix uses it.
    pub token: Option<String>,
    /// Seconds spent signing.
    pub signing_s: f64,
    /// Seconds of setup in all (probe, funding, token, nonces, signing, connecting).
    pub setup_s: f64,
    /// Fee cap of every transaction, wei.
    pub max_fee_per_gas: String,
    /// Priority fee of every transaction, wei.
    pub max_priority_fee_per_gas: String,
}

/// What the stalled subscribers (`--stalled-subscribers`) saw.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StalledSummary {
    /// Connections that subscribed and then read nothing until the drain ended.
    pub connections: usize,
    /// The feed each subscribed to (`miniBlocks`).
    pub subscription: String,
    /// Their `SO_RCVBUF` as asked (Linux doubles it).
    pub recv_buffer_bytes: u32,
    /// Notifications they received in all, once they read again.
    pub notifications: u64,
    /// Connections the node closed for falling behind (error notification or close).
    pub closed_by_server: usize,
    /// One of the error notifications, as the node worded it.
    pub example_error: Option<String>,
}

/// How far a replica's feed trailed the sequencer's (`--replica`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReplicaLagSummary {
    /// The replica's URL.
    pub replica: String,
    /// Mini-blocks the sequencer's feed sent during the run.
    pub mini_blocks: u64,
    /// Of those, sent by the replica's feed too (the lag distribution's count).
    pub matched: u64,
    /// Sent by the replica's feed before this client had the sequencer's copy (not in
    /// the distribution).
    pub replica_first: u64,
    /// Not sent by the replica's feed within 20 s of the run's end.
    pub missing: u64,
    /// Sequencer's feed → replica's feed, µs.
    pub lag_us: Percentiles,
}

/// The machine the client ran on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// Logical CPUs.
    pub cpus: usize,
    /// `linux-x86_64` etc.
    pub os: String,
}

/// Everything a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `peregrine-loadtest <version>`.
    pub tool: String,
    /// `peregrine`, `anvil` or `unknown` (from `web3_clientVersion`).
    pub target: String,
    /// `web3_clientVersion`.
    pub client_version: String,
    /// `--rpc`.
    pub rpc: String,
    /// `eth_chainId`.
    pub chain_id: u64,
    /// `open` or `closed`.
    pub mode: String,
    /// `sync`, `async` or `poll`.
    pub send: String,
    /// `http` or `ws`.
    pub transport: String,
    /// Connections used.
    pub connections: usize,
    /// Open loop: the intended rate, transactions per second.
    pub offered_rate: Option<f64>,
    /// Closed loop: transactions kept in flight.
    pub concurrency: Option<usize>,
    /// Sender accounts.
    pub accounts: usize,
    /// Transaction mix weights.
    pub mix: Mix,
    /// Transactions signed before the clock (the run's count bound).
    pub planned: u64,
    /// Transactions handed to a sender (scheduled).
    pub dispatched: u64,
    /// Transactions written to the node.
    pub transactions: u64,
    /// Transactions the node accepted.
    pub accepted: u64,
    /// Transactions confirmed (preconfirmation, sync receipt, or polled receipt).
    pub completed: u64,
    /// Transactions refused or lost.
    pub failed: u64,
    /// Dispatched transactions neither confirmed nor failed when the drain ended.
    pub incomplete: u64,
    /// Confirmed with status 0.
    pub reverted: u64,
    /// Clock start → last confirmation or failure, seconds.
    pub duration_s: f64,
    /// Clock start → end of dispatching, seconds.
    pub send_duration_s: f64,
    /// `completed / duration_s`.
    pub throughput_tps: f64,
    /// Failed transactions (the sum of `errors_by_kind`).
    pub errors: u64,
    /// Failures by JSON-RPC code and message class.
    pub errors_by_kind: Vec<ErrorCount>,
    /// Submit → confirmation, from each transaction's *intended* send time (open loop:
    /// `i / rate`; closed loop: when its slot freed), so stalls are not hidden.
    pub latency_us: Percentiles,
    /// Actual write → confirmation.
    pub service_latency_us: Percentiles,
    /// Intended → actual send (the client's own lateness and queueing).
    pub send_lag_us: Percentiles,
    /// Per-stage breakdown (Peregrine with `sync` or `async`).
    pub stages: Option<Stages>,
    /// Latency over time.
    pub timeline: Vec<Window>,
    /// Latency histogram.
    pub histogram: Vec<Bucket>,
    /// The end-of-run receipt check.
    pub receipts: ReceiptCheck,
    /// Accepted transactions without a receipt (first 1000; `receipts.missing` counts all).
    pub missing_receipts: Vec<String>,
    /// Preparation before the clock.
    pub setup: SetupSummary,
    /// Plot files written.
    pub plots: Vec<String>,
    /// The stalled subscribers, when the run had any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stalled_subscribers: Option<StalledSummary>,
    /// The replica's lag, when the run had `--replica`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replica_lag: Option<ReplicaLagSummary>,
    /// Anything the reader should know (closed connections, timeouts, skipped plots).
    pub notes: Vec<String>,
    /// Wall-clock start, seconds since the epoch.
    pub started_at_unix_s: u64,
    /// The client machine.
    pub machine: Machine,
}

fn us(v: u64) -> String {
    if v >= 10_000_000 {
        format!("{:.1}s", v as f64 / 1e6)
    } else if v >= 10_000 {
        format!("{:.1}ms", v as f64 / 1e3)
    } else {
        format!("{v}µs")
    }
}

fn line(p: &Percentiles) -> String {
    if p.count == 0 {
        return "no samples".into();
    }
    format!(
        "p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  (n={})",
        us(p.p50),
        us(p.p90),
        us(p.p99),
        us(p.p999),
        us(p.max),
        p.count
    )
}

impl Report {
    /// Writes the JSON report.
    pub fn write_json(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(path, text + "\n")
    }

    /// A one-line description of the workload.
    pub fn workload_line(&self) -> String {
        let shape = match (self.offered_rate, self.concurrency) {
            (Some(r), _) => format!("open loop at {r} tps"),
            (_, Some(k)) => format!("closed loop, {k} in flight"),
            _ => self.mode.clone(),
        };
        format!(
            "{shape}, send {} over {} ({} connection{}), {} accounts, mix {}",
            self.send,
            self.transport,
            self.connections,
            if self.connections == 1 { "" } else { "s" },
            self.accounts,
            self.mix
        )
    }

    /// The human summary.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "peregrine-loadtest: {} ({}) at {}, chain {}",
            self.target, self.client_version, self.rpc, self.chain_id
        );
        let _ = writeln!(s, "  workload      {}", self.workload_line());
        let _ = writeln!(
            s,
            "  transactions  {} sent, {} accepted, {} confirmed, {} failed, {} incomplete, {} reverted",
            self.transactions,
            self.accepted,
            self.completed,
            self.failed,
            self.incomplete,
            self.reverted
        );
        let _ = writeln!(
            s,
            "  throughput    {:.1} tps over {:.2} s (sending for {:.2} s)",
            self.throughput_tps, self.duration_s, self.send_duration_s
        );
        let _ = writeln!(s, "  latency       {}", line(&self.latency_us));
        let _ = writeln!(s, "  service       {}", line(&self.service_latency_us));
        let _ = writeln!(s, "  send lag      {}", line(&self.send_lag_us));
        if let Some(st) = &self.stages {
            let _ = writeln!(s, "  stages (p50 / p99):");
            for (name, p) in [
                ("client → ingress", &st.client_to_ingress),
                ("ingress → ordered", &st.ingress_to_ordered),
                ("ordered → executed", &st.ordered_to_executed),
                ("executed → signed", &st.executed_to_signed),
                ("signed → sent", &st.signed_to_sent),
                ("sent → client", &st.sent_to_client_received),
                ("node total", &st.ingress_to_sent),
            ] {
                let _ = writeln!(s, "    {name:<20} {:>9} / {}", us(p.p50), us(p.p99));
            }
        }
        if self.errors_by_kind.is_empty() {
            let _ = writeln!(s, "  errors        none");
        } else {
            let _ = writeln!(s, "  errors        {}", self.errors);
            for e in &self.errors_by_kind {
                let code = e.code.map_or("-".to_string(), |c| c.to_string());
                let _ = writeln!(s, "    {:>8} × [{code}] {}", e.count, e.class);
            }
        }
        let r = &self.receipts;
        let _ = writeln!(
            s,
            "  receipts      {}/{} found, {} missing, {} reverted, {} included after an error ({:.1} s, {})",
            r.found, r.expected, r.missing, r.reverted, r.included_after_error, r.seconds, r.method
        );
        if let Some(st) = &self.stalled_subscribers {
            let _ = writeln!(
                s,
                "  stalled       {} {} subscriber(s) that read nothing: {} closed by the node, {} notifications",
                st.connections, st.subscription, st.closed_by_server, st.notifications
            );
        }
        if let Some(r) = &self.replica_lag {
            let l = &r.lag_us;
            let _ = writeln!(
                s,
                "  replica lag   p50 {}µs  p90 {}µs  p99 {}µs  max {}µs  ({} of {} mini-blocks; {} first on the replica, {} missing) {}",
                l.p50,
                l.p90,
                l.p99,
                l.max,
                r.matched,
                r.mini_blocks,
                r.replica_first,
                r.missing,
                r.replica
            );
        }
        for n in &self.notes {
            let _ = writeln!(s, "  note: {n}");
        }
        for p in &self.plots {
            let _ = writeln!(s, "  plot: {p}");
        }
        s
    }
}
