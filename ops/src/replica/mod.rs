//! `peregrine replica`: a node that follows a sequencer's signed replication stream
//! (`miniBlocks` version 2), verifies every item, applies it without executing
//! ([`peregrine_chain::apply::Applier`]), seals the same blocks, serves the same
//! JSON-RPC from its own chain, and forwards writes to the sequencer.
//!
//! ```text
//!  sequencer ──ws: miniBlocks v2──▶ follow thread (Follower checks, Applier) ──▶ Chain
//!      ▲                                                                          │
//!      └──── forwarded eth_sendRawTransaction(Sync) ◀── peregrine_rpc (same API) ◀┘
//! ```

mod bootstrap;
mod follow;

use crate::{cli::ReplicaArgs, config::PeregrineConfig, run::RunError};
use peregrine_chain::apply::{Applier, ApplierConfig};
use std::sync::Arc;

pub use bootstrap::Bootstrap;

/// The effective configuration of `peregrine replica`: defaults, file, environment, flags.
pub fn resolve(args: &ReplicaArgs) -> Result<PeregrineConfig, RunError> {
    let mut cfg = PeregrineConfig::load(args.config.as_deref(), std::env::vars())
        .map_err(|e| RunError::Config(e.to_string()))?;
    let r = &mut cfg.replica;
    r.sequencer = args.sequencer.clone().or(r.sequencer.take());
    r.sequencer_address = args.sequencer_address.or(r.sequencer_address);
    let c = &mut cfg.chain;
    c.datadir = args.datadir.clone().or(c.datadir.take());
    c.genesis = args.genesis.clone().or(c.genesis.take());
    c.dev_accounts = args.dev_accounts.unwrap_or(c.dev_accounts);
    crate::run::set_endpoints(&mut cfg, args.rpc_addr, args.metrics_addr, args.log_format);
    if cfg.replica.sequencer.is_none() {
        return Err(RunError::Config(
            "peregrine replica needs --sequencer <ws-url> (or replica.sequencer)".into(),
        ));
    }
    if cfg.replica.sequencer_address.is_none() {
        return Err(RunError::Config(
            "peregrine replica needs --sequencer.address <address> (or \
             replica.sequencer-address): the key whose signatures it accepts; ask the \
             sequencer's operator, or preconf_sequencer on a sequencer you trust"
                .into(),
        ));
    }
    let r = &cfg.replica;
    if r.chain_queue == 0 || r.checkpoint_blocks == 0 {
        return Err(RunError::Config(
            "replica.chain-queue and replica.checkpoint-blocks must be at least 1".into(),
        ));
    }
    peregrine_chain::sched::check_nice("replica.chain-service-nice", r.chain_service_nice)
        .map_err(RunError::Config)?;
    // Checked now: the runtime is built from `rpc.worker-threads` before the node starts.
    cfg.rpc_config()
        .map_err(|e| RunError::Config(e.to_string()))?;
    Ok(cfg)
}

/// Runs a replica until SIGINT or SIGTERM, or until it must stop (a sealed block that
/// differs from the sequencer's, a storage failure).
pub async fn replica(cfg: PeregrineConfig) -> Result<(), RunError> {
    let (Some(url), Some(sequencer)) =
        (cfg.replica.sequencer.clone(), cfg.replica.sequencer_address)
    else {
        return Err(RunError::Config("no sequencer to follow".into()));
    };
    let (datadir, _tmp) = match &cfg.chain.datadir {
        Some(dir) => (dir.clone(), None),
        None => {
            let tmp = tempfile::Builder::new()
                .prefix("peregrine-replica-")
                .tempdir()?;
            (tmp.path().to_path_buf(), Some(tmp))
        }
    };
    let prometheus = crate::metrics_server::install_recorder()
        .map_err(|e| RunError::Config(format!("cannot install the metrics recorder: {e}")))?;
    let boot = Bootstrap::load_or_fetch(&datadir, &url, sequencer, &cfg).await?;
    let genesis = boot.genesis(&cfg)?;
    let applier_cfg = ApplierConfig {
        datadir: datadir.clone(),
        chain_id: boot.chain_id,
        sequencer,
        min_base_fee: boot.min_base_fee,
        block_gas_limit: boot.gas_limit,
        checkpoint_blocks: cfg.replica.checkpoint_blocks,
    };
    let applier = tokio::task::spawn_blocking(move || Applier::open(&applier_cfg, &genesis))
        .await
        .map_err(|e| RunError::Config(e.to_string()))?
        .map_err(|e| RunError::Config(e.to_string()))?
        .with_chain_thread(cfg.replica.chain_queue, cfg.replica.chain_service_nice)?;
    boot.check_genesis(applier.chain(), &datadir)?;
    let chain = applier.chain().clone();
    let fault = applier.fault();
    let rpc_cfg = cfg
        .rpc_config()
        .map_err(|e| RunError::Config(e.to_string()))?;
    let forwarder =
        peregrine_rpc::Forwarder::new(url.clone(), boot.min_base_fee, cfg.replica.forward_timeout);
    let server = peregrine_rpc::start(
        rpc_cfg,
        chain.clone(),
        peregrine_rpc::Writes::Forward(Arc::new(forwarder)),
    )
    .await?;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let follower = follow::spawn(follow::FollowConfig {
        url: url.clone(),
        applier,
        reconnect_min: cfg.replica.reconnect_min,
        reconnect_max: cfg.replica.reconnect_max.max(cfg.replica.reconnect_min),
        fault: fault.clone(),
        stop: stop.clone(),
    })?;
    let rpc_handle = server.handle.clone();
    let ready_fault = fault.clone();
    let ready: crate::metrics_server::ReadyCheck = Arc::new(move || {
        if let Some(why) = ready_fault.get() {
            return Err(why.clone());
        }
        if rpc_handle.is_stopped() {
            return Err("RPC server is not accepting".into());
        }
        Ok(())
    });
    let health_fault = fault.clone();
    let healthy: crate::metrics_server::ReadyCheck =
        Arc::new(move || health_fault.get().map_or(Ok(()), |why| Err(why.clone())));
    let probes = crate::metrics_server::Probes { ready, healthy };
    let metrics_addr = crate::metrics_server::serve(cfg.metrics.addr, prometheus, probes)
        .await
        .map_err(|e| RunError::Config(format!("cannot listen on {}: {e}", cfg.metrics.addr)))?;
    tracing::info!(
        rpc = %server.local_addr,
        metrics = %metrics_addr,
        sequencer = %url,
        sequencer_address = %sequencer,
        chain_id = boot.chain_id,
        datadir = %datadir.display(),
        head = chain.head().header.number,
        "peregrine replica is running"
    );
    let failed = tokio::select! {
        signal = crate::run::wait_for_signal() => {
            signal?;
            None
        }
        why = wait_for_fault(&fault) => Some(why),
    };
    stop.store(true, std::sync::atomic::Ordering::Release);
    let _ = server.handle.stop();
    if let Some(why) = failed {
        tracing::error!(cause = %why, "the replica stopped: it serves nothing more");
        return Err(RunError::Failed(why));
    }
    tracing::info!("shutting down");
    server.handle.stopped().await;
    tokio::task::spawn_blocking(move || follower.join())
        .await
        .map_err(|e| RunError::Config(e.to_string()))??;
    tracing::info!("shut down cleanly");
    Ok(())
}

/// Returns the cause once the follow thread has failed for good.
async fn wait_for_fault(fault: &peregrine_chain::fault::Fault) -> String {
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(20));
    loop {
        tick.tick().await;
        if let Some(why) = fault.get() {
            return why.clone();
        }
    }
}
