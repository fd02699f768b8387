//! The replica's follow thread: one WebSocket subscription to the sequencer's replication
//! stream at a time, each item checked and applied as it arrives, on a thread of its own
//! (a current-thread runtime: no hop between receiving and applying).
//!
//! A refused item (a forgery, a gap, a replay: [`ApplyError::reason`]) is never applied:
//! the connection is dropped and the stream asked again, after a pause, from the same
//! place, so a replica fed bad data stays where it was and says why in its log and in
//! `peregrine_replica_rejected_total{reason}`. A block built here that differs from the
//! sequencer's signed seal, or a storage failure, stops the replica for good.

use crate::run::RunError;
use jsonrpsee_core::{
    client::{Subscription, SubscriptionClientT},
    rpc_params,
};
use jsonrpsee_ws_client::WsClientBuilder;
use metrics::{counter, gauge, histogram};
use peregrine_chain::{
    apply::{Applier, ApplyError},
    clock::now_us,
    fault::Fault,
    stream::StreamItem,
};
use std::time::{Duration, Instant};

/// What the follow thread needs.
pub(crate) struct FollowConfig {
    /// The sequencer's WebSocket URL.
    pub url: String,
    /// The chain it builds.
    pub applier: Applier,
    /// First pause before reconnecting.
    pub reconnect_min: Duration,
    /// Longest pause.
    pub reconnect_max: Duration,
    /// Items the client buffers for the subscription.
    pub stream_buffer: usize,
    /// Where a fatal failure is recorded.
    pub fault: Fault,
    /// Set to stop.
    pub stop: tokio::sync::watch::Receiver<bool>,
}

/// The running follow thread.
pub(crate) struct FollowHandle {
    thread: std::thread::JoinHandle<()>,
}

impl FollowHandle {
    /// Waits for the thread to stop (after the stop signal) and its blocks to be durable.
    pub(crate) fn join(self) -> Result<(), RunError> {
        self.thread
            .join()
            .map_err(|_| RunError::Failed("the follow thread panicked".into()))
    }
}

/// Registers the replica's labelled series at zero, so they exist before their first event.
fn register_metrics() {
    for reason in peregrine_chain::apply::REASONS.iter().chain(&["malformed"]) {
        counter!("peregrine_replica_rejected_total", "reason" => *reason).absolute(0);
    }
    counter!("peregrine_replica_reconnects_total").absolute(0);
    gauge!("peregrine_replica_connected").set(0.0);
}

/// Starts the follow thread.
pub(crate) fn spawn(cfg: FollowConfig) -> Result<FollowHandle, RunError> {
    register_metrics();
    let thread = std::thread::Builder::new()
        .name("peregrine-follow".into())
        .spawn(move || {
            let fault = cfg.fault.clone();
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = fault.set(format!("cannot start the follow thread's runtime: {e}"));
                    return;
                }
            };
            // A storage failure while applying ends this thread by unwinding, with the
            // cause already recorded in `fault`.
            let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                runtime.block_on(follow(cfg))
            }));
            match run {
                Ok(Some(applier)) => {
                    if let Err(e) = applier.close() {
                        let _ = fault.set(format!("cannot make the last blocks durable: {e}"));
                    }
                }
                Ok(None) => {}
                Err(_) => {
                    let _ = fault.set("the follow thread panicked".into());
                }
            }
        })
        .map_err(RunError::Io)?;
    Ok(FollowHandle { thread })
}

/// How a connection ended.
enum End {
    /// Asked to stop.
    Stop,
    /// Try again after a pause.
    Retry(String),
    /// Never again.
    Fatal(String),
}

/// Follows until stopped (returning the applier) or failed (`None`, cause in `fault`).
async fn follow(mut cfg: FollowConfig) -> Option<Applier> {
    let mut pause = cfg.reconnect_min;
    gauge!("peregrine_replica_connected").set(0.0);
    loop {
        if *cfg.stop.borrow() {
            return Some(cfg.applier);
        }
        let before = cfg.applier.next_mini_block();
        let end = session(&mut cfg).await;
        gauge!("peregrine_replica_connected").set(0.0);
        match end {
            End::Stop => return Some(cfg.applier),
            End::Fatal(why) => {
                let _ = cfg.fault.set(why);
                return None;
            }
            End::Retry(why) => {
                if cfg.applier.next_mini_block() > before {
                    pause = cfg.reconnect_min;
                }
                tracing::warn!(sequencer = %cfg.url, reason = %why, retry_in = ?pause, next_mini_block = cfg.applier.next_mini_block(), "replication stream interrupted");
            }
        }
        counter!("peregrine_replica_reconnects_total").increment(1);
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = cfg.stop.changed() => return Some(cfg.applier),
        }
        pause = (pause * 2).min(cfg.reconnect_max);
    }
}

/// One connection: subscribe from where the chain stands, apply until it ends.
async fn session(cfg: &mut FollowConfig) -> End {
    let client = match WsClientBuilder::default()
        .connection_timeout(Duration::from_secs(5))
        .max_buffer_capacity_per_subscription(cfg.stream_buffer)
        .max_response_size(u32::MAX)
        .build(&cfg.url)
        .await
    {
        Ok(c) => c,
        Err(e) => return End::Retry(format!("cannot connect: {e}")),
    };
    let from_block = cfg.applier.chain().head().header.number + 1;
    let from_mini = cfg.applier.next_mini_block();
    let params = serde_json::json!({
        "version": 2,
        "fromMiniBlock": from_mini,
        "fromBlock": from_block,
    });
    let subscribed: Result<Subscription<StreamItem>, _> = client
        .subscribe(
            "eth_subscribe",
            rpc_params!["miniBlocks", params],
            "eth_unsubscribe",
        )
        .await;
    let mut sub = match subscribed {
        Ok(s) => s,
        Err(e) => return End::Retry(format!("cannot subscribe: {e}")),
    };
    gauge!("peregrine_replica_connected").set(1.0);
    tracing::info!(sequencer = %cfg.url, from_block, from_mini_block = from_mini, "following the replication stream");
    loop {
        let item = tokio::select! {
            _ = cfg.stop.changed() => return End::Stop,
            item = sub.next() => item,
        };
        let item = match item {
            Some(Ok(item)) => item,
            Some(Err(e)) => return refused("malformed", format!("an item does not parse: {e}")),
            None => {
                return End::Retry(format!("the stream ended ({:?})", sub.close_reason()));
            }
        };
        if let Err(end) = apply(&mut cfg.applier, item) {
            return end;
        }
    }
}

/// Applies one item, with its metrics.
fn apply(applier: &mut Applier, item: StreamItem) -> Result<(), End> {
    let started = Instant::now();
    match item {
        StreamItem::MiniBlock(item) => {
            let record = item.record;
            let (number, signed_us) = (record.number(), record.signed);
            applier
                .apply(*record)
                .map_err(|e| rejected(e, format!("mini-block {number}")))?;
            histogram!("peregrine_replica_apply_seconds", "item" => "miniBlock")
                .record(started.elapsed().as_secs_f64());
            // From the sequencer signing it to it being readable here.
            let lag_us = now_us().saturating_sub(signed_us);
            histogram!("peregrine_replica_lag_seconds").record(lag_us as f64 / 1e6);
            gauge!("peregrine_replica_lag_microseconds").set(lag_us as f64);
            gauge!("peregrine_replica_next_mini_block").set((number + 1) as f64);
            gauge!("peregrine_replica_lag_mini_blocks")
                .set(item.stream_head.saturating_sub(number + 1) as f64);
        }
        StreamItem::Seal(seal) => {
            let number = seal.block_number;
            let Some(signed) = seal.signed() else {
                return Err(refused(
                    "bad_signature",
                    format!("the seal of block {number} has a malformed signature"),
                ));
            };
            applier
                .seal(signed, seal.context)
                .map_err(|e| rejected(e, format!("the seal of block {number}")))?;
            histogram!("peregrine_replica_apply_seconds", "item" => "seal")
                .record(started.elapsed().as_secs_f64());
            gauge!("peregrine_replica_head").set(number as f64);
            gauge!("peregrine_replica_lag_mini_blocks")
                .set(seal.stream_head.saturating_sub(applier.next_mini_block()) as f64);
        }
    }
    Ok(())
}

/// The end an apply error means: fatal for a seal that differs or a store failure, else a
/// refusal.
fn rejected(e: ApplyError, what: String) -> End {
    let reason = e.reason();
    if matches!(e, ApplyError::Seal(_)) {
        counter!("peregrine_replica_rejected_total", "reason" => reason).increment(1);
        let why = format!("{what}: {e}");
        tracing::error!(reason, error = %why, "the block built here is not the one the sequencer sealed (or cannot be stored): stopping");
        return End::Fatal(why);
    }
    refused(reason, format!("{what}: {e}"))
}

fn refused(reason: &'static str, why: String) -> End {
    counter!("peregrine_replica_rejected_total", "reason" => reason).increment(1);
    tracing::error!(reason, error = %why, "refused an item of the replication stream; not applied");
    End::Retry(format!("refused ({reason}): {why}"))
}
