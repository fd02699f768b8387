//! One load run from start to finish: probe and prepare the target, sign, run the measured
//! phase, check receipts, and write the report, samples and plots.

use crate::{
    accounts::{Account, dev_accounts},
    config::{LoadConfig, Mode, SendMethod, Transport},
    error::{LoadError, LoadResult},
    plot,
    progress::Progress,
    report::{Machine, Report, SetupSummary},
    rpc::Client,
    run::{self, RunSpec},
    setup::{self, TargetKind},
    stats, verify,
    workload::{Plan, Workload},
};
use alloy_primitives::Address;
use std::{
    sync::Arc,
    time::{Instant, SystemTime, UNIX_EPOCH},
};

/// The send method when `--send` is absent: Peregrine's preconfirmations where the target
/// has them (subscription over ws, EIP-7966 over HTTP), receipt polling elsewhere.
pub fn default_send(kind: TargetKind, transport: Transport) -> SendMethod {
    match (kind, transport) {
        (TargetKind::Peregrine, Transport::Ws) => SendMethod::Async,
        (TargetKind::Peregrine, Transport::Http) => SendMethod::Sync,
        _ => SendMethod::Poll,
    }
}

/// Runs one load test as configured and returns its report (also written to `--out`).
pub async fn run(cfg: &LoadConfig) -> LoadResult<Report> {
    cfg.validate()?;
    let setup_started = Instant::now();
    let started_at_unix_s = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let ep = &cfg.endpoint;
    let client = Client::connect(ep).await?;
    let target = setup::probe(&client).await?;
    let send = cfg.send.unwrap_or(default_send(target.kind, ep.transport));
    let mut checked = cfg.clone();
    checked.send = Some(send);
    checked.validate()?;
    let mut notes = Vec::new();
    // `sync` is EIP-7966, which other nodes implement too (anvil 1.7 does); `async` needs
    // Peregrine's `preconfirmations` subscription.
    if target.kind != TargetKind::Peregrine && send == SendMethod::Async {
        notes.push(format!(
            "the target is not Peregrine ({}); --send async relies on Peregrine's \
             preconfirmations subscription",
            target.client_version
        ));
    }
    let fees = setup::fees(&client).await?;
    let funder = Account::from_key(cfg.funder_key)
        .ok_or_else(|| LoadError::Config("--funder-key is not a valid secp256k1 key".into()))?;
    let accounts = dev_accounts(cfg.accounts);
    let addresses: Vec<Address> = accounts.iter().map(|a| a.address).collect();
    let count = cfg.count;

    // Funding first (it may need the funder's nonces), then the token, then nonces.
    let shares = {
        let zero = vec![0u64; accounts.len()];
        Plan {
            accounts: &accounts,
            nonces: &zero,
            count,
            mix: cfg.mix,
            chain_id: target.chain_id,
            fees,
            token: None,
            send,
        }
        .per_account()
    };
    let funding = setup::fund(
        &client,
        target.chain_id,
        fees,
        &funder,
        &accounts,
        &setup::needs(&shares, fees),
    )
    .await?;
    if funding.funded > 0 {
        notes.push(format!(
            "the funder {} topped up {} load accounts ({} wei)",
            funder.address, funding.funded, funding.total
        ));
        if target.kind == TargetKind::Peregrine {
            notes.push(format!(
                "start `peregrine dev --dev.accounts {}` to have them prefunded",
                cfg.accounts
            ));
        }
    }
    let token = if cfg.mix.erc20 > 0 {
        Some(setup::deploy_token(&client, target.chain_id, fees, &funder, &accounts).await?)
    } else {
        None
    };
    let nonces = setup::nonces(&client, &addresses).await?;
    let plan = Plan {
        accounts: &accounts,
        nonces: &nonces,
        count,
        mix: cfg.mix,
        chain_id: target.chain_id,
        fees,
        token,
        send,
    };
    let signing_started = Instant::now();
    let workload = Arc::new(Workload::build(&plan));
    let signing_s = signing_started.elapsed().as_secs_f64();

    // The run's transactions land in the current block or later ones: on Peregrine the
    // current block (`eth_blockNumber`, the newest mini-block's) may still be open.
    let head: alloy_primitives::U64 = client
        .must("eth_blockNumber", serde_json::json!([]))
        .await?;
    let first_block = head.to::<u64>();

    let progress = Progress::new(count, cfg.progress, target.kind.name());
    let setup_s = setup_started.elapsed().as_secs_f64();
    let outcome = run::execute(
        RunSpec {
            cfg,
            send,
            addresses: &addresses,
            workload,
        },
        &progress,
    )
    .await?;
    progress.finish();

    let (receipts, missing) = verify::check_receipts(
        &client,
        &outcome.engine,
        send,
        cfg.receipt_timeout,
        first_block,
    )
    .await;
    client.close();
    let m = stats::measure(&outcome.engine, outcome.dispatch_end_ns);
    notes.extend(outcome.engine.notes.lock().iter().cloned());
    if !outcome.drained {
        notes.push(format!(
            "{} transactions were dispatched but never confirmed nor refused",
            m.incomplete
        ));
    }
    if let Mode::Closed { .. } = cfg.mode
        && cfg.duration < crate::config::MAX_DURATION
        && m.dispatched >= count
        && (m.duration_s + 0.5) < cfg.duration.as_secs_f64()
        && !outcome.interrupted
    {
        notes.push(format!(
            "the closed loop used all {count} pre-signed transactions before --duration; pass a larger --count to run longer"
        ));
    }
    if receipts.missing > 0 {
        notes.push(format!(
            "{} accepted transactions have no receipt after {}",
            receipts.missing,
            humantime::format_duration(cfg.receipt_timeout)
        ));
    }
    if let Some(e) = &receipts.error {
        notes.push(format!("the receipt check could not finish: {e}"));
    }

    let mut report = Report {
        tool: format!("peregrine-loadtest {}", env!("CARGO_PKG_VERSION")),
        target: target.kind.name().to_owned(),
        client_version: target.client_version.clone(),
        rpc: ep.url.clone(),
        chain_id: target.chain_id,
        mode: cfg.mode.name().to_owned(),
        send: send.name().to_owned(),
        transport: ep.transport.name().to_owned(),
        connections: outcome.connections,
        offered_rate: match cfg.mode {
            Mode::Open { rate } => Some(rate),
            Mode::Closed { .. } => None,
        },
        concurrency: match cfg.mode {
            Mode::Closed { concurrency } => Some(concurrency),
            Mode::Open { .. } => None,
        },
        accounts: cfg.accounts,
        mix: cfg.mix,
        planned: count,
        dispatched: m.dispatched,
        transactions: m.sent,
        accepted: m.accepted,
        completed: m.completed,
        failed: m.failed,
        incomplete: m.incomplete,
        reverted: m.reverted,
        duration_s: round3(m.duration_s),
        send_duration_s: round3(outcome.dispatch_end_ns as f64 / 1e9),
        throughput_tps: round3(m.completed as f64 / m.duration_s),
        errors: m.failed,
        errors_by_kind: m.errors,
        latency_us: stats::percentiles(&m.latency),
        service_latency_us: stats::percentiles(&m.service),
        send_lag_us: stats::percentiles(&m.send_lag),
        stages: m.stages,
        timeline: m.timeline,
        histogram: stats::buckets(&m.latency),
        receipts,
        missing_receipts: missing.iter().map(|h| h.to_string()).collect(),
        setup: SetupSummary {
            funded_accounts: funding.funded,
            token: token.map(|t| t.to_string()),
            signing_s: round3(signing_s),
            setup_s: round3(setup_s),
            max_fee_per_gas: fees.max_fee_per_gas.to_string(),
            max_priority_fee_per_gas: fees.max_priority_fee_per_gas.to_string(),
        },
        plots: Vec::new(),
        stalled_subscribers: outcome.stalled,
        replica_lag: outcome.replica_lag,
        notes,
        started_at_unix_s,
        machine: Machine {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            os: format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH),
        },
    };

    if let Some(path) = &cfg.samples {
        stats::write_samples(&outcome.engine, path).map_err(|source| LoadError::Io {
            path: path.clone(),
            source,
        })?;
    }
    let plot_dir = cfg.plots.clone().or_else(|| {
        cfg.out
            .as_ref()
            .map(|o| o.parent().map(|p| p.to_path_buf()).unwrap_or_default())
    });
    if let Some(dir) = plot_dir {
        let dir = if dir.as_os_str().is_empty() {
            ".".into()
        } else {
            dir
        };
        let stem = cfg
            .out
            .as_ref()
            .and_then(|o| o.file_stem())
            .map_or("loadtest".to_string(), |s| s.to_string_lossy().into_owned());
        let (files, plot_notes) = plot::write_plots(&report, &dir, &stem);
        report.plots = files.iter().map(|f| f.display().to_string()).collect();
        report.notes.extend(plot_notes);
    }
    if let Some(out) = &cfg.out {
        report.write_json(out).map_err(|source| LoadError::Io {
            path: out.clone(),
            source,
        })?;
    }
    if cfg.summary {
        print!("{}", report.summary());
        if let Some(out) = &cfg.out {
            println!("  report: {}", out.display());
        }
    }
    Ok(report)
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
