//! The `peregrine` command line (flag names are a contract: tests and tools rely on them).

use clap::{Args, Parser, Subcommand};
use peregrine_sequencer::ring::WaitStrategy;
use std::{net::SocketAddr, path::PathBuf, time::Duration};

/// Peregrine: a sequencer for Ethereum L2 rollups.
#[derive(Debug, Parser)]
#[command(name = "peregrine", version, about)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a development chain on embedded defaults (prefunded test accounts, no external service).
    Dev(DevArgs),
    /// Work with preconfirmations offline.
    #[command(subcommand)]
    Preconf(PreconfCommand),
}

/// `peregrine preconf …`
#[derive(Debug, Subcommand)]
pub enum PreconfCommand {
    /// Check a preconfirmation from its own bytes: the EIP-712 signature (against an expected
    /// sequencer address) and both Merkle proofs; print what it promises. Exit 0 when valid,
    /// 1 when not. Accepts a preconfirmation, an `eth_sendRawTransactionSync` receipt holding
    /// one, or a JSON-RPC response wrapping either.
    Verify(VerifyArgs),
}

/// Flags of `peregrine preconf verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// File holding the JSON, or `-` for standard input.
    #[arg(value_name = "FILE|-")]
    pub input: String,
    /// The sequencer address the signature must recover to (see `preconf_sequencer`).
    #[arg(long, value_name = "ADDRESS")]
    pub sequencer: Option<alloy_primitives::Address>,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Human,
    /// One JSON object per line.
    Json,
}

/// Flags of `peregrine dev`.
#[derive(Debug, Args)]
pub struct DevArgs {
    /// Data directory; a fresh temporary directory when absent (deleted at exit).
    #[arg(long, value_name = "DIR")]
    pub datadir: Option<PathBuf>,
    /// Operator endpoints: `/metrics` (Prometheus), `/health`, `/ready`.
    #[arg(long = "metrics.addr", value_name = "IP:PORT", default_value = crate::metrics_server::DEFAULT_METRICS_ADDR)]
    pub metrics_addr: SocketAddr,
    /// JSON-RPC listen address (HTTP and WebSocket on one port).
    #[arg(long = "rpc.addr", value_name = "IP:PORT", default_value = peregrine_rpc::config::DEFAULT_RPC_ADDR)]
    pub rpc_addr: SocketAddr,
    /// Chain id [default: the genesis file's `config.chainId`, else 901].
    #[arg(long = "chain-id", value_name = "N")]
    pub chain_id: Option<u64>,
    /// Interval between sealed L2 blocks (e.g. `1s`, `200ms`).
    #[arg(long = "block-time", value_name = "DURATION", default_value = "1s", value_parser = humantime::parse_duration)]
    pub block_time: Duration,
    /// Extra deterministic prefunded accounts (for load tests), beyond the ten mnemonic ones.
    #[arg(long = "dev.accounts", value_name = "N", default_value_t = 0)]
    pub dev_accounts: u64,
    /// A geth-style genesis file; its `alloc` replaces the dev accounts.
    #[arg(long, value_name = "FILE")]
    pub genesis: Option<PathBuf>,
    /// Block gas limit.
    #[arg(long = "gas-limit", value_name = "GAS", default_value_t = peregrine_sequencer::config::DEFAULT_BLOCK_GAS_LIMIT)]
    pub gas_limit: u64,
    /// Minimum EIP-1559 base fee, in wei.
    #[arg(long = "min-base-fee", value_name = "WEI", default_value_t = peregrine_sequencer::config::DEFAULT_MIN_BASE_FEE)]
    pub min_base_fee: u64,
    /// Pin the sequencer loop to this CPU core (unpinned when absent).
    #[arg(long = "sequencer.core", value_name = "CORE")]
    pub sequencer_core: Option<usize>,
    /// How the sequencer loop waits for work: busy-spin, yield or park.
    #[arg(
        long = "sequencer.wait",
        value_name = "STRATEGY",
        default_value = "yield"
    )]
    pub sequencer_wait: WaitStrategy,
    /// File with the hex private key that signs preconfirmations; the documented dev key
    /// when absent.
    #[arg(long = "preconf.key", value_name = "FILE")]
    pub preconf_key: Option<PathBuf>,
    /// Log format.
    #[arg(long = "log.format", value_enum, default_value = "human")]
    pub log_format: LogFormat,
}
