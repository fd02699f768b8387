//! The `peregrine-loadtest` command line (flag names are a contract: other tools rely on
//! them).

use crate::{
    compare::{CompareConfig, DEFAULT_COMPARE_CONCURRENCY, DEFAULT_COMPARE_RATE},
    config::{
        DEFAULT_ACCOUNTS, DEFAULT_CONCURRENCY, DEFAULT_FUNDER_KEY, DEFAULT_RATE, Endpoint,
        LoadConfig, Mix, Mode, SendMethod, resolve_bounds,
    },
    error::{LoadError, LoadResult},
};
use alloy_primitives::B256;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::{path::PathBuf, time::Duration};

/// Load generator for Peregrine (and any Ethereum JSON-RPC node on this machine).
///
/// Without a subcommand it runs one load test against `--rpc`.
#[derive(Debug, Parser)]
#[command(
    name = "peregrine-loadtest",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// Subcommands.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The load test flags (without a subcommand).
    #[command(flatten)]
    pub run: RunArgs,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start anvil and `peregrine dev` on loopback ports, run the same workloads against
    /// both, and print a table with both and their ratio.
    Compare(CompareArgs),
}

/// Open or closed loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// Fixed rate (`--rate`); latency from each intended send time.
    Open,
    /// Fixed number in flight (`--concurrency`), to find the maximum throughput.
    Closed,
}

/// Flags of a load run.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// JSON-RPC endpoint, `http://…` or `ws://…` (the transport follows the scheme).
    #[arg(long, value_name = "URL")]
    pub rpc: Option<String>,
    /// Open loop (fixed rate) or closed loop (fixed concurrency).
    #[arg(long, value_enum, default_value = "open")]
    pub mode: ModeArg,
    /// Open loop: transactions per second.
    #[arg(long, value_name = "TPS", default_value_t = DEFAULT_RATE)]
    pub rate: f64,
    /// Closed loop: transactions in flight.
    #[arg(long, value_name = "K", default_value_t = DEFAULT_CONCURRENCY)]
    pub concurrency: usize,
    /// How long to send (e.g. `10s`, `2m`) [default: 10s unless --count is given].
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// How many transactions at most (all signed before the clock starts).
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Sender accounts: the keys `peregrine dev --dev.accounts N` prefunds.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_ACCOUNTS)]
    pub accounts: usize,
    /// How to submit and observe [default: async over ws and sync over http against
    /// Peregrine, poll elsewhere].
    #[arg(long, value_enum, value_name = "sync|async|poll")]
    pub send: Option<SendMethod>,
    /// Transaction mix, e.g. `eth=80,erc20=20`.
    #[arg(long, value_name = "KIND=WEIGHT,...", default_value = "eth=100")]
    pub mix: Mix,
    /// Write the JSON report here (plots go beside it unless --plots is given).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Write the SVG and PNG plots in this directory.
    #[arg(long, value_name = "DIR")]
    pub plots: Option<PathBuf>,
    /// Write one CSV line per transaction (intended, sent and confirmed times) here.
    #[arg(long, value_name = "FILE")]
    pub samples: Option<PathBuf>,
    /// Connections [default: 1 WebSocket; over HTTP, the concurrency (closed) or 32 (open)].
    #[arg(long, value_name = "N")]
    pub connections: Option<usize>,
    /// Also open N WebSocket connections that subscribe to `miniBlocks` and read nothing
    /// during the run (4 KiB receive buffers): does a consumer that falls behind slow the
    /// others? The report's `stalled_subscribers` says how many the node closed.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub stalled_subscribers: usize,
    /// A replica following the target (`ws://` URL): the run also subscribes to
    /// `miniBlocks` on both and reports how long each mini-block took from the target's
    /// feed to the replica's (`replica_lag`).
    #[arg(long, value_name = "URL")]
    pub replica: Option<String>,
    /// Hex private key that funds load accounts the target did not prefund, and deploys the
    /// ERC-20 token.
    #[arg(long, value_name = "HEX", default_value = DEFAULT_FUNDER_KEY)]
    pub funder_key: B256,
    /// Allow a target that is not on this machine (a node you operate).
    #[arg(long)]
    pub allow_remote: bool,
    /// `--send poll`: pause between receipt polls.
    #[arg(long, value_name = "DURATION", default_value = "5ms", value_parser = humantime::parse_duration)]
    pub poll_interval: Duration,
    /// How long to wait after the last send for transactions in flight.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
    pub drain_timeout: Duration,
    /// How long the end-of-run check waits for every accepted transaction's receipt.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = humantime::parse_duration)]
    pub receipt_timeout: Duration,
    /// Never draw the progress bar (it is drawn only on a terminal anyway).
    #[arg(long)]
    pub no_progress: bool,
}

/// Flags of `compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The peregrine binary [default: target/release/peregrine, else target/debug/peregrine].
    #[arg(long, value_name = "PATH")]
    pub peregrine_bin: Option<PathBuf>,
    /// The anvil binary [default: tests/js/node_modules/.bin/anvil].
    #[arg(long, value_name = "PATH")]
    pub anvil_bin: Option<PathBuf>,
    /// Sender accounts.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_ACCOUNTS)]
    pub accounts: usize,
    /// Length of each measured run.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Closed-loop transactions in flight (the saturation runs).
    #[arg(long, value_name = "K", default_value_t = DEFAULT_COMPARE_CONCURRENCY)]
    pub concurrency: usize,
    /// Open-loop rate of the latency runs, transactions per second.
    #[arg(long, value_name = "TPS", default_value_t = DEFAULT_COMPARE_RATE)]
    pub rate: f64,
    /// Transaction mix.
    #[arg(long, value_name = "KIND=WEIGHT,...", default_value = "eth=100")]
    pub mix: Mix,
    /// Peregrine's block time.
    #[arg(long, value_name = "DURATION", default_value = "1s")]
    pub block_time: String,
    /// Combined JSON report; each run's report and plots go beside it.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Never draw progress bars.
    #[arg(long)]
    pub no_progress: bool,
}

impl RunArgs {
    /// The run these flags describe.
    pub fn to_config(&self) -> LoadResult<LoadConfig> {
        let url = self.rpc.as_deref().ok_or_else(|| {
            LoadError::Config("--rpc <URL> is required (or use the `compare` subcommand)".into())
        })?;
        let endpoint = Endpoint::parse(url)?;
        let mode = match self.mode {
            ModeArg::Open => Mode::Open { rate: self.rate },
            ModeArg::Closed => Mode::Closed {
                concurrency: self.concurrency,
            },
        };
        let (duration, count) = resolve_bounds(mode, self.duration, self.count)?;
        let mut cfg = LoadConfig::new(endpoint, mode, duration, count);
        cfg.accounts = self.accounts;
        cfg.send = self.send;
        cfg.mix = self.mix;
        cfg.connections = self.connections;
        cfg.stalled_subscribers = self.stalled_subscribers;
        cfg.replica = self.replica.as_deref().map(Endpoint::parse).transpose()?;
        cfg.funder_key = self.funder_key;
        cfg.allow_remote = self.allow_remote;
        cfg.out = self.out.clone();
        cfg.plots = self.plots.clone();
        cfg.samples = self.samples.clone();
        cfg.poll_interval = self.poll_interval;
        cfg.drain_timeout = self.drain_timeout;
        cfg.receipt_timeout = self.receipt_timeout;
        cfg.progress = !self.no_progress;
        Ok(cfg)
    }
}

impl CompareArgs {
    /// The comparison these flags describe.
    pub fn to_config(&self) -> CompareConfig {
        CompareConfig {
            peregrine_bin: self.peregrine_bin.clone(),
            anvil_bin: self.anvil_bin.clone(),
            accounts: self.accounts,
            duration: self.duration,
            concurrency: self.concurrency,
            rate: self.rate,
            mix: self.mix,
            block_time: self.block_time.clone(),
            out: self.out.clone(),
            progress: !self.no_progress,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Transport;

    #[test]
    fn contract_flags_parse() {
        let cli = Cli::try_parse_from([
            "peregrine-loadtest",
            "--rpc",
            "ws://127.0.0.1:8545",
            "--mode",
            "closed",
            "--concurrency",
            "32",
            "--count",
            "1000",
            "--accounts",
            "16",
            "--send",
            "async",
            "--out",
            "r.json",
            "--mix",
            "eth=80,erc20=20",
        ])
        .unwrap();
        assert!(cli.command.is_none());
        let cfg = cli.run.to_config().unwrap();
        assert_eq!(cfg.mode, Mode::Closed { concurrency: 32 });
        assert_eq!(cfg.count, 1000);
        assert_eq!(cfg.accounts, 16);
        assert_eq!(cfg.send, Some(SendMethod::Async));
        assert_eq!(cfg.endpoint.transport, Transport::Ws);
        assert_eq!(cfg.mix, Mix { eth: 80, erc20: 20 });

        let cli = Cli::try_parse_from([
            "peregrine-loadtest",
            "--rpc",
            "http://127.0.0.1:8545",
            "--mode",
            "open",
            "--rate",
            "250",
            "--duration",
            "2s",
            "--send",
            "sync",
        ])
        .unwrap();
        let cfg = cli.run.to_config().unwrap();
        assert_eq!(cfg.count, 500);
        assert_eq!(cfg.duration, Duration::from_secs(2));

        let cli =
            Cli::try_parse_from(["peregrine-loadtest", "compare", "--duration", "3s"]).unwrap();
        assert!(matches!(cli.command, Some(Command::Compare(_))));
        assert!(Cli::try_parse_from(["peregrine-loadtest", "--send", "fast"]).is_err());
        let no_rpc = Cli::try_parse_from(["peregrine-loadtest"]).unwrap();
        assert!(no_rpc.run.to_config().is_err());
    }
}
