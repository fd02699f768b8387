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
    Dev(Box<DevArgs>),
    /// Run a replica: follow a sequencer's signed stream, verify and apply it without
    /// executing, seal the same blocks, serve the same JSON-RPC, forward writes.
    Replica(Box<ReplicaArgs>),
    /// Rebuild the L2 chain from L1 alone (the batcher's posts), re-executing every
    /// transaction; with --check, compare each block with a live node.
    Derive(Box<DeriveArgs>),
    /// Watch a sequencer's promises: record every preconfirmation it publishes, check each
    /// L2 block's commitment on L1 against them, and prove every fault to the bond.
    Watch(Box<WatchArgs>),
    /// Work with preconfirmations offline.
    #[command(subcommand)]
    Preconf(PreconfCommand),
    /// Configuration file helpers.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Repair the write-ahead log by hand (the node never cuts it by itself).
    #[command(subcommand)]
    Wal(WalCommand),
}

/// `peregrine wal …`
#[derive(Debug, Subcommand)]
pub enum WalCommand {
    /// Truncate a segment at a byte offset and delete every later segment, so that a
    /// node that refused to start on a damaged log can start from what is left. Prints
    /// what was removed: those records may have been acknowledged (promised) to clients.
    Cut(WalCutArgs),
}

/// Flags of `peregrine wal cut`.
#[derive(Debug, Args)]
pub struct WalCutArgs {
    /// The segment file, as the start-up error names it.
    #[arg(value_name = "SEGMENT")]
    pub segment: PathBuf,
    /// Where to cut, as the start-up error names it.
    #[arg(long, value_name = "BYTES")]
    pub offset: u64,
}

/// `peregrine config …`
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the full default configuration file.
    Default,
}

/// `peregrine preconf …`
#[derive(Debug, Subcommand)]
pub enum PreconfCommand {
    /// Check a preconfirmation from its own bytes: the EIP-712 signature (against an expected
    /// sequencer address) and both Merkle proofs; print what it promises. Exit 0 when valid,
    /// 1 when not, 2 when the input or the flags are wrong. Accepts a preconfirmation, an
    /// `eth_sendRawTransactionSync` receipt holding one, or a JSON-RPC response wrapping
    /// either.
    Verify(VerifyArgs),
    /// Build the L1 proof that the sequencer broke a promise, for the `PeregrineBond`
    /// contract: print its calldata, or send it with `--send`. Exit 0 when there is a
    /// fault to prove (or it was proven), 1 when there is none, 2 on bad input.
    #[command(subcommand)]
    Prove(ProveCommand),
}

/// `peregrine preconf prove …`
#[derive(Debug, Subcommand)]
pub enum ProveCommand {
    /// Two different headers signed by the sequencer for the same mini-block number (or
    /// with the same parent). Each file holds a preconfirmation (any form `verify`
    /// takes) or just its `typedData` and `signature`.
    Equivocation(ProveEquivocationArgs),
    /// A preconfirmation against the commitment the batcher posted for its L2 block:
    /// another header at its position, its position left out, or no commitment by the
    /// bond's posting deadline.
    Mismatch(ProveMismatchArgs),
}

/// Where and how a proof is sent.
#[derive(Debug, Args)]
pub struct SendArgs {
    /// The `PeregrineBond` contract. Needed with `--send`; without it the calldata is
    /// printed only.
    #[arg(long, value_name = "ADDRESS", required_if_eq("send", "true"))]
    pub bond: Option<alloy_primitives::Address>,
    /// Send the proof to `--bond` (after an `eth_call` shows it succeeds).
    #[arg(long, requires = "key")]
    pub send: bool,
    /// File with the hex private key that pays for the proof and receives the reward.
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
}

/// Flags of `peregrine watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The sequencer's (or a replica's) WebSocket URL; its `preconfirmations` feed is
    /// followed from where the watcher stopped.
    #[arg(long, value_name = "WS-URL")]
    pub sequencer: String,
    /// L1 JSON-RPC endpoint.
    #[arg(long = "l1.rpc", value_name = "URL")]
    pub l1_rpc: String,
    /// File with the hex private key that pays for proofs and receives the rewards.
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// The `PeregrineBond` contract (it names the sequencer's key and the inbox).
    #[arg(long, value_name = "ADDRESS")]
    pub bond: alloy_primitives::Address,
    /// Where the recorded headers live (`watch.redb`).
    #[arg(long, value_name = "DIR", default_value = "peregrine-watch")]
    pub datadir: PathBuf,
    /// How often L1 is checked.
    #[arg(long = "poll-interval", value_name = "DURATION", default_value = "250ms", value_parser = humantime::parse_duration)]
    pub poll_interval: Duration,
}

/// Flags of `peregrine preconf prove equivocation`.
#[derive(Debug, Args)]
pub struct ProveEquivocationArgs {
    /// The first signed header (file, or `-` for standard input).
    #[arg(value_name = "A")]
    pub a: String,
    /// The second.
    #[arg(value_name = "B")]
    pub b: String,
    /// L1 JSON-RPC endpoint (needed with `--send`).
    #[arg(long = "l1.rpc", value_name = "URL", required_if_eq("send", "true"))]
    pub l1_rpc: Option<String>,
    /// Where and how the proof goes.
    #[command(flatten)]
    pub send: SendArgs,
}

/// Flags of `peregrine preconf prove mismatch`.
#[derive(Debug, Args)]
pub struct ProveMismatchArgs {
    /// The preconfirmation (file, or `-` for standard input; any form `verify` takes).
    #[arg(value_name = "PRECONF")]
    pub input: String,
    /// L1 JSON-RPC endpoint.
    #[arg(long = "l1.rpc", value_name = "URL")]
    pub l1_rpc: String,
    /// The inbox the batcher posts to.
    #[arg(long = "batcher.inbox", value_name = "ADDRESS")]
    pub inbox: alloy_primitives::Address,
    /// Where and how the proof goes.
    #[command(flatten)]
    pub send: SendArgs,
}

/// Flags of `peregrine preconf verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// File holding the JSON, or `-` for standard input.
    #[arg(value_name = "FILE|-")]
    pub input: String,
    /// The sequencer address the signature must recover to (see `preconf_sequencer`).
    /// Required: a signature from an unknown key promises nothing.
    #[arg(long, value_name = "ADDRESS", required_unless_present = "any_signer")]
    pub sequencer: Option<alloy_primitives::Address>,
    /// Accept a valid signature from any key instead of `--sequencer` (the report names
    /// the signer, to be compared by hand).
    #[arg(long, conflicts_with = "sequencer")]
    pub any_signer: bool,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Human,
    /// One JSON object per line.
    Json,
}

/// Flags of `peregrine dev`. Each overrides the config file and `PEREGRINE_*` variables;
/// the defaults shown are the built-in ones (`peregrine config default` prints them all).
#[derive(Debug, Args)]
pub struct DevArgs {
    /// TOML configuration file (see `peregrine config default`).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory [default: a fresh temporary directory, deleted at exit].
    #[arg(long, value_name = "DIR")]
    pub datadir: Option<PathBuf>,
    /// Operator endpoints: `/metrics` (Prometheus), `/health`, `/ready` [default: 127.0.0.1:9001].
    #[arg(long = "metrics.addr", value_name = "IP:PORT")]
    pub metrics_addr: Option<SocketAddr>,
    /// JSON-RPC listen address, HTTP and WebSocket on one port [default: 127.0.0.1:8545].
    #[arg(long = "rpc.addr", value_name = "IP:PORT")]
    pub rpc_addr: Option<SocketAddr>,
    /// Chain id [default: the genesis file's `config.chainId`, else 901].
    #[arg(long = "chain-id", value_name = "N")]
    pub chain_id: Option<u64>,
    /// Interval between sealed L2 blocks, e.g. `1s`, `200ms` [default: 1s].
    #[arg(long = "block-time", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub block_time: Option<Duration>,
    /// Extra deterministic prefunded accounts for load tests, beyond the ten mnemonic ones [default: 0].
    #[arg(long = "dev.accounts", value_name = "N")]
    pub dev_accounts: Option<u64>,
    /// A geth-style genesis file; its `alloc` replaces the dev accounts.
    #[arg(long, value_name = "FILE")]
    pub genesis: Option<PathBuf>,
    /// Block gas limit [default: 1000000000].
    #[arg(long = "gas-limit", value_name = "GAS")]
    pub gas_limit: Option<u64>,
    /// Minimum EIP-1559 base fee, in wei [default: 1000000].
    #[arg(long = "min-base-fee", value_name = "WEI")]
    pub min_base_fee: Option<u64>,
    /// Pin the sequencer loop to this CPU core [default: unpinned].
    #[arg(long = "sequencer.core", value_name = "CORE")]
    pub sequencer_core: Option<usize>,
    /// How the sequencer loop waits for work: busy-spin, yield or park [default: yield].
    #[arg(long = "sequencer.wait", value_name = "STRATEGY")]
    pub sequencer_wait: Option<WaitStrategy>,
    /// What a preconfirmation waits for: `fsync` (its log record on disk) or `os` (in the
    /// page cache: survives a process crash, not a power loss) [default: fsync].
    #[arg(
        long = "wal.durability",
        visible_alias = "durability",
        value_name = "MODE"
    )]
    pub wal_durability: Option<String>,
    /// How the write-ahead log writes: `auto` (io_uring, else plain), `io-uring`, `plain` [default: auto].
    #[arg(long = "wal.backend", value_name = "BACKEND")]
    pub wal_backend: Option<String>,
    /// How the log thread (signing, log writes) waits for mini-blocks: busy-spin, yield or
    /// park [default: yield].
    #[arg(long = "wal.wait", value_name = "STRATEGY")]
    pub wal_wait: Option<WaitStrategy>,
    /// Pin the log thread (signing, log writes) to this CPU core [default: unpinned].
    #[arg(long = "wal.core", value_name = "CORE")]
    pub wal_core: Option<usize>,
    /// File with the hex private key that signs preconfirmations [default: the documented dev key].
    #[arg(long = "preconf.key", value_name = "FILE")]
    pub preconf_key: Option<PathBuf>,
    /// The L1 node's JSON-RPC URL: runs the batcher [default: none, no batcher].
    #[arg(long = "l1.rpc", value_name = "URL")]
    pub l1_rpc: Option<String>,
    /// File with the batcher's hex L1 private key (required with --l1.rpc).
    #[arg(long = "batcher.key", value_name = "FILE")]
    pub batcher_key: Option<PathBuf>,
    /// The PeregrineInbox contract on L1 (required with --l1.rpc).
    #[arg(long = "batcher.inbox", value_name = "ADDRESS")]
    pub batcher_inbox: Option<alloy_primitives::Address>,
    /// How batches go to L1: calldata, blobs or auto [default: auto].
    #[arg(long = "batcher.da", value_name = "MODE")]
    pub batcher_da: Option<String>,
    /// Log format [default: human].
    #[arg(long = "log.format", value_enum)]
    pub log_format: Option<LogFormat>,
}

/// Flags of `peregrine derive`.
#[derive(Debug, Args)]
pub struct DeriveArgs {
    /// The L1 node's JSON-RPC URL.
    #[arg(long = "l1.rpc", value_name = "URL")]
    pub l1_rpc: String,
    /// A beacon node's API (e.g. `http://beacon:5052`), where blobs are read from on a
    /// production L1 [default: anvil's `anvil_getBlobsByTransactionHash` on `--l1.rpc`].
    #[arg(long = "l1.beacon", value_name = "URL")]
    pub l1_beacon: Option<String>,
    /// The PeregrineInbox contract.
    #[arg(long = "batcher.inbox", value_name = "ADDRESS")]
    pub inbox: alloy_primitives::Address,
    /// The batcher's L1 address: posts from anyone else are ignored.
    #[arg(long = "batcher.address", value_name = "ADDRESS")]
    pub batcher: alloy_primitives::Address,
    /// The L2 chain id [default: the genesis file's, else the dev chain's].
    #[arg(long = "chain-id", value_name = "N")]
    pub chain_id: Option<u64>,
    /// The L2 genesis file [default: the dev genesis].
    #[arg(long, value_name = "FILE")]
    pub genesis: Option<PathBuf>,
    /// Extra dev accounts in the dev genesis (as `peregrine dev --dev.accounts`).
    #[arg(long = "dev.accounts", value_name = "N", default_value_t = 0)]
    pub dev_accounts: u64,
    /// First L1 block to read, when the datadir holds nothing yet [default: 0].
    #[arg(long = "from-l1-block", value_name = "N", default_value_t = 0)]
    pub from_l1_block: u64,
    /// Last L1 block to read [default: L1's latest when it starts; with --follow, none].
    #[arg(long = "to-l1-block", value_name = "N")]
    pub to_l1_block: Option<u64>,
    /// Compare every derived block's hash and state root with this L2 node's; exit 1 on
    /// the first mismatch, naming the block.
    #[arg(long, value_name = "L2-RPC-URL")]
    pub check: Option<String>,
    /// Where the derivation is kept (`derive.redb`): a later run resumes after the last L1
    /// block read [default: none, in memory, from the start each time].
    #[arg(long, value_name = "DIR")]
    pub datadir: Option<PathBuf>,
    /// Keep following L1 as it grows and reorganises, printing a JSON line for each
    /// step that derived blocks or undid a reorg, until killed (safe at any instant).
    #[arg(long)]
    pub follow: bool,
    /// How often --follow asks L1 for new blocks.
    #[arg(long = "poll-interval", value_name = "DURATION", default_value = "1s", value_parser = humantime::parse_duration)]
    pub poll_interval: Duration,
    /// L1 blocks remembered for reorgs: the deepest L1 reorg followed.
    #[arg(long = "max-reorg-depth", value_name = "N", default_value_t = 256)]
    pub max_reorg_depth: u64,
}

/// Flags of `peregrine replica`. Each overrides the `[replica]` (and `[chain]`, `[rpc]`,
/// `[metrics]`, `[log]`) sections of the config file and `PEREGRINE_*` variables.
#[derive(Debug, Args)]
pub struct ReplicaArgs {
    /// The sequencer (or another replica) to follow: its WebSocket URL, e.g.
    /// `ws://127.0.0.1:8545`. Writes are forwarded there too.
    #[arg(long, value_name = "WS-URL")]
    pub sequencer: Option<String>,
    /// The sequencer's signing address (`preconf_sequencer` on the sequencer): the only key
    /// whose signatures are accepted. No default.
    #[arg(long = "sequencer.address", value_name = "ADDRESS")]
    pub sequencer_address: Option<alloy_primitives::Address>,
    /// TOML configuration file (see `peregrine config default`).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory [default: a fresh temporary directory, deleted at exit].
    #[arg(long, value_name = "DIR")]
    pub datadir: Option<PathBuf>,
    /// JSON-RPC listen address, HTTP and WebSocket on one port [default: 127.0.0.1:8545].
    #[arg(long = "rpc.addr", value_name = "IP:PORT")]
    pub rpc_addr: Option<SocketAddr>,
    /// Operator endpoints: `/metrics`, `/health`, `/ready` [default: 127.0.0.1:9001].
    #[arg(long = "metrics.addr", value_name = "IP:PORT")]
    pub metrics_addr: Option<SocketAddr>,
    /// The sequencer's genesis file, if it was started with one [default: the dev genesis].
    #[arg(long, value_name = "FILE")]
    pub genesis: Option<PathBuf>,
    /// The sequencer's `--dev.accounts`, to rebuild its dev genesis [default: 0].
    #[arg(long = "dev.accounts", value_name = "N")]
    pub dev_accounts: Option<u64>,
    /// Log format [default: human].
    #[arg(long = "log.format", value_enum)]
    pub log_format: Option<LogFormat>,
}
