//! Running `peregrine dev`.

use crate::cli::{DevArgs, LogFormat};
use alloy_primitives::U256;
use peregrine_rpc::RpcConfig;
use peregrine_sequencer::{
    GenesisSpec, Node, SequencerConfig,
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
}

/// Sets up `tracing` (human or JSON); `RUST_LOG` overrides the `info` default.
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Runs the dev chain until SIGINT or SIGTERM, then shuts down cleanly.
pub async fn dev(args: DevArgs) -> Result<(), RunError> {
    let (datadir, _tmp) = match &args.datadir {
        Some(dir) => (dir.clone(), None),
        None => {
            let tmp = tempfile::Builder::new()
                .prefix("peregrine-dev-")
                .tempdir()?;
            (tmp.path().to_path_buf(), Some(tmp))
        }
    };
    let balance = U256::from(DEFAULT_DEV_BALANCE_ETH) * U256::from(10u64).pow(U256::from(18));
    let genesis = match &args.genesis {
        Some(path) => GenesisSpec::from_file(path).map_err(RunError::Config)?,
        None => GenesisSpec::dev(args.dev_accounts, balance),
    };
    let chain_id = args
        .chain_id
        .or(genesis.chain_id)
        .unwrap_or(peregrine_sequencer::config::DEFAULT_CHAIN_ID);
    let mut cfg = SequencerConfig::new(datadir.clone());
    cfg.chain_id = chain_id;
    cfg.block_time = args.block_time;
    cfg.block_gas_limit = args.gas_limit;
    cfg.min_base_fee = args.min_base_fee;
    cfg.core = args.sequencer_core;
    cfg.wait_strategy = args.sequencer_wait;
    cfg.signing_key = args.preconf_key.clone();
    let prometheus = crate::metrics_server::install_recorder()
        .map_err(|e| RunError::Config(format!("cannot install the metrics recorder: {e}")))?;
    let node = tokio::task::spawn_blocking(move || Node::start(cfg, &genesis))
        .await
        .map_err(|e| RunError::Config(e.to_string()))??;
    let rpc_cfg = RpcConfig {
        addr: args.rpc_addr,
        ..RpcConfig::default()
    };
    let server =
        peregrine_rpc::start(rpc_cfg, node.chain().clone(), node.ingress().clone()).await?;
    let liveness = node.liveness();
    let rpc_handle = server.handle.clone();
    let ready: crate::metrics_server::ReadyCheck = Arc::new(move || {
        liveness.check().map_err(str::to_string)?;
        if rpc_handle.is_stopped() {
            return Err("RPC server is not accepting".into());
        }
        Ok(())
    });
    let metrics_addr = crate::metrics_server::serve(args.metrics_addr, prometheus, ready)
        .await
        .map_err(|e| RunError::Config(format!("cannot listen on {}: {e}", args.metrics_addr)))?;
    if args.genesis.is_none() {
        print_banner(&args, chain_id);
    }
    tracing::info!(
        rpc = %server.local_addr,
        metrics = %metrics_addr,
        chain_id,
        datadir = %datadir.display(),
        block_time = ?args.block_time,
        "peregrine dev is running"
    );
    wait_for_signal().await?;
    tracing::info!("shutting down: stopping RPC intake");
    let _ = server.handle.stop();
    server.handle.stopped().await;
    tokio::task::spawn_blocking(move || node.shutdown())
        .await
        .map_err(|e| RunError::Config(e.to_string()))??;
    tracing::info!("shut down cleanly");
    Ok(())
}

fn print_banner(args: &DevArgs, chain_id: u64) {
    let mut out = String::from("\nAvailable accounts (10 000 ETH each)\n====================\n");
    for (i, s) in dev_mnemonic_signers().iter().enumerate() {
        out.push_str(&format!(
            "({i}) {} 0x{}\n",
            s.address(),
            hex::encode(s.credential().to_bytes())
        ));
    }
    out.push_str(&format!("\nMnemonic: {DEV_MNEMONIC}\n"));
    if args.dev_accounts > 0 {
        out.push_str(&format!(
            "Plus {} load-test accounts: key i = keccak256(\"peregrine.dev.account\" ++ u64be(i))\n",
            args.dev_accounts
        ));
    }
    out.push_str(&format!(
        "\nChain id {}  ·  JSON-RPC http://{addr}  ·  WebSocket ws://{addr}\n",
        chain_id,
        addr = args.rpc_addr
    ));
    println!("{out}");
}

async fn wait_for_signal() -> Result<(), std::io::Error> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    Ok(())
}
