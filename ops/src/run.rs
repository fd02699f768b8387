//! Running `peregrine dev`.

use crate::{
    cli::{DevArgs, LogFormat},
    config::PeregrineConfig,
};
use alloy_primitives::U256;
use peregrine_sequencer::{
    GenesisSpec, Node,
    config::DEFAULT_DEV_BALANCE_ETH,
    genesis::{DEV_MNEMONIC, dev_mnemonic_signers},
};
use std::sync::Arc;

/// Failure of the `dev` command.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Bad flags or genesis.
    #[error("{0}")]
    Config(String),
    /// The ordering core failed to start or stop.
    #[error(transparent)]
    Node(#[from] peregrine_sequencer::NodeError),
    /// The RPC server failed to start.
    #[error(transparent)]
    Rpc(#[from] peregrine_rpc::RpcServerError),
    /// I/O.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A part of the node failed while running (already logged).
    #[error("the node failed: {0}")]
    Failed(String),
}

/// Sets up `tracing` (human or JSON) with a level filter; `RUST_LOG` overrides it.
pub fn init_logging(format: LogFormat, level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// The effective configuration: defaults, file, environment, then flags.
pub fn resolve(args: &DevArgs) -> Result<PeregrineConfig, RunError> {
    let mut cfg = PeregrineConfig::load(args.config.as_deref(), std::env::vars())
        .map_err(|e| RunError::Config(e.to_string()))?;
    let c = &mut cfg.chain;
    c.chain_id = args.chain_id.or(c.chain_id);
    c.datadir = args.datadir.clone().or(c.datadir.take());
    c.genesis = args.genesis.clone().or(c.genesis.take());
    c.dev_accounts = args.dev_accounts.unwrap_or(c.dev_accounts);
    c.block_time = args.block_time.unwrap_or(c.block_time);
    c.gas_limit = args.gas_limit.unwrap_or(c.gas_limit);
    c.min_base_fee = args.min_base_fee.unwrap_or(c.min_base_fee);
    if let Some(core) = args.sequencer_core {
        cfg.sequencer.core = Some(core);
    }
    if let Some(wait) = args.sequencer_wait {
        cfg.sequencer.wait = wait.name().into();
    }
    if let Some(mode) = &args.wal_durability {
        cfg.wal.durability = mode.clone();
    }
    if let Some(backend) = &args.wal_backend {
        cfg.wal.backend = backend.clone();
    }
    if let Some(wait) = args.wal_wait {
        cfg.wal.wait = wait.name().into();
    }
    if let Some(core) = args.wal_core {
        cfg.wal.core = Some(core);
    }
    if let Some(key) = &args.preconf_key {
        cfg.preconf.key = Some(key.clone());
    }
    if let Some(url) = &args.l1_rpc {
        cfg.l1.rpc = Some(url.clone());
    }
    if let Some(key) = &args.batcher_key {
        cfg.batcher.key = Some(key.clone());
    }
    if let Some(inbox) = args.batcher_inbox {
        cfg.batcher.inbox = Some(inbox);
    }
    if let Some(da) = &args.batcher_da {
        cfg.batcher.da = da.clone();
    }
    set_endpoints(&mut cfg, args.rpc_addr, args.metrics_addr, args.log_format);
    // Checked now: the runtime is built from `rpc.worker-threads` before the node starts.
    cfg.rpc_config()
        .map_err(|e| RunError::Config(e.to_string()))?;
    Ok(cfg)
}

/// The flags every node kind has: `--rpc.addr`, `--metrics.addr`, `--log.format`.
pub(crate) fn set_endpoints(
    cfg: &mut PeregrineConfig,
    rpc: Option<std::net::SocketAddr>,
    metrics: Option<std::net::SocketAddr>,
    log_format: Option<LogFormat>,
) {
    if let Some(addr) = rpc {
        cfg.rpc.addr = addr;
    }
    if let Some(addr) = metrics {
        cfg.metrics.addr = addr;
    }
    if let Some(format) = log_format {
        cfg.log.format = match format {
            LogFormat::Human => "human".into(),
            LogFormat::Json => "json".into(),
        };
    }
}

/// The log format named in the configuration.
pub fn log_format(cfg: &PeregrineConfig) -> Result<LogFormat, RunError> {
    match cfg.log.format.as_str() {
        "human" => Ok(LogFormat::Human),
        "json" => Ok(LogFormat::Json),
        other => Err(RunError::Config(format!(
            "invalid configuration: log.format must be `human` or `json`, not `{other}`"
        ))),
    }
}

/// Runs the dev chain until SIGINT or SIGTERM, then shuts down cleanly.
pub async fn dev(cfg: PeregrineConfig) -> Result<(), RunError> {
    let (datadir, _tmp) = match &cfg.chain.datadir {
        Some(dir) => (dir.clone(), None),
        None => {
            let tmp = tempfile::Builder::new()
                .prefix("peregrine-dev-")
                .tempdir()?;
            (tmp.path().to_path_buf(), Some(tmp))
        }
    };
    let balance = U256::from(DEFAULT_DEV_BALANCE_ETH) * U256::from(10u64).pow(U256::from(18));
    let genesis = match &cfg.chain.genesis {
        Some(path) => GenesisSpec::from_file(path).map_err(RunError::Config)?,
        None => GenesisSpec::dev(cfg.chain.dev_accounts, balance),
    };
    let chain_id = cfg
        .chain
        .chain_id
        .or(genesis.chain_id)
        .unwrap_or(peregrine_sequencer::config::DEFAULT_CHAIN_ID);
    let seq_cfg = cfg
        .sequencer_config(datadir.clone(), chain_id)
        .map_err(|e| RunError::Config(e.to_string()))?;
    let rpc_cfg = cfg
        .rpc_config()
        .map_err(|e| RunError::Config(e.to_string()))?;
    let batcher_cfg = cfg
        .batcher_config(&datadir)
        .map_err(|e| RunError::Config(e.to_string()))?;
    let prometheus = crate::metrics_server::install_recorder()
        .map_err(|e| RunError::Config(format!("cannot install the metrics recorder: {e}")))?;
    let block_time = seq_cfg.block_time;
    let node = tokio::task::spawn_blocking(move || Node::start(seq_cfg, &genesis))
        .await
        .map_err(|e| RunError::Config(e.to_string()))??;
    let server = peregrine_rpc::start(
        rpc_cfg,
        node.chain().clone(),
        peregrine_rpc::Writes::Local(Arc::new(node.ingress().clone())),
    )
    .await?;
    let batcher = match batcher_cfg {
        Some(b) => Some(
            peregrine_batcher::spawn(b, node.chain().clone())
                .map_err(|e| RunError::Config(e.to_string()))?,
        ),
        None => None,
    };
    let liveness = node.liveness();
    let rpc_handle = server.handle.clone();
    let ready_liveness = liveness.clone();
    let ready_chain = node.chain().clone();
    let ready: crate::metrics_server::ReadyCheck = Arc::new(move || {
        if let Some(why) = ready_liveness.fault() {
            return Err(why);
        }
        if let Some((bytes, limit)) = ready_chain.l1.backlog_over() {
            return Err(format!(
                "L1 backlog: {bytes} bytes of sealed blocks wait to be posted, over batcher.max-backlog ({limit}); new transactions are refused until it drains"
            ));
        }
        ready_liveness.check().map_err(str::to_string)?;
        if rpc_handle.is_stopped() {
            return Err("RPC server is not accepting".into());
        }
        Ok(())
    });
    let health_liveness = liveness.clone();
    let healthy: crate::metrics_server::ReadyCheck =
        Arc::new(move || health_liveness.fault().map_or(Ok(()), Err));
    let probes = crate::metrics_server::Probes { ready, healthy };
    let metrics_addr = crate::metrics_server::serve(cfg.metrics.addr, prometheus, probes)
        .await
        .map_err(|e| RunError::Config(format!("cannot listen on {}: {e}", cfg.metrics.addr)))?;
    if cfg.chain.genesis.is_none() {
        print_banner(&cfg, chain_id, server.local_addr);
    }
    tracing::info!(
        rpc = %server.local_addr,
        metrics = %metrics_addr,
        chain_id,
        datadir = %datadir.display(),
        block_time = ?block_time,
        "peregrine dev is running"
    );
    let fault = tokio::select! {
        signal = wait_for_signal() => {
            signal?;
            None
        }
        why = wait_for_fault(&liveness) => Some(why),
    };
    if let Some(why) = fault {
        // Intake stopped when the part failed; the probes say 503. Logged once, here.
        tracing::error!(cause = %why, "a part of the node failed: it takes no more work and exits; restart it to recover from its log");
        let _ = server.handle.stop();
        let stopped = tokio::task::spawn_blocking(move || node.shutdown());
        // The threads that are left stop on their own; bounded, in case one cannot.
        let _ = tokio::time::timeout(FAILED_SHUTDOWN, stopped).await;
        return Err(RunError::Failed(why));
    }
    tracing::info!("shutting down: stopping RPC intake");
    let _ = server.handle.stop();
    server.handle.stopped().await;
    if let Some(b) = batcher {
        // What it signed is in its state: a restart broadcasts it again.
        tokio::task::spawn_blocking(move || b.stop()).await.ok();
    }
    tokio::task::spawn_blocking(move || node.shutdown())
        .await
        .map_err(|e| RunError::Config(e.to_string()))??;
    tracing::info!("shut down cleanly");
    Ok(())
}

/// How long a failed node's remaining threads get to stop before the process exits.
const FAILED_SHUTDOWN: std::time::Duration = std::time::Duration::from_secs(10);

/// Returns the cause once a part of the node has failed.
async fn wait_for_fault(liveness: &peregrine_sequencer::Liveness) -> String {
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(20));
    loop {
        tick.tick().await;
        if let Some(why) = liveness.fault() {
            return why;
        }
    }
}

fn print_banner(cfg: &PeregrineConfig, chain_id: u64, rpc: std::net::SocketAddr) {
    let mut out = String::from("\nAvailable accounts (10 000 ETH each)\n====================\n");
    for (i, s) in dev_mnemonic_signers().iter().enumerate() {
        out.push_str(&format!(
            "({i}) {} 0x{}\n",
            s.address(),
            hex::encode(s.credential().to_bytes())
        ));
    }
    out.push_str(&format!("\nMnemonic: {DEV_MNEMONIC}\n"));
    if cfg.chain.dev_accounts > 0 {
        out.push_str(&format!(
            "Plus {} load-test accounts: key i = keccak256(\"peregrine.dev.account\" ++ u64be(i))\n",
            cfg.chain.dev_accounts
        ));
    }
    out.push_str(&format!(
        "\nChain id {}  ·  JSON-RPC http://{addr}  ·  WebSocket ws://{addr}\n",
        chain_id,
        addr = rpc
    ));
    println!("{out}");
}

/// Returns on SIGINT or SIGTERM.
pub(crate) async fn wait_for_signal() -> Result<(), std::io::Error> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    Ok(())
}
