//! `eth_subscribe`: `newHeads`, `miniBlocks`, `preconfirmations`, `stateChanges`, `logs`.
//!
//! Record-based kinds (all but `newHeads`) follow the signer's feed. With `fromMiniBlock`
//! they first replay from history (memory, then redb), then continue live: the broadcast
//! is subscribed *before* the replay starts and items already sent are skipped, so there
//! is no gap and no duplicate. A consumer that falls behind (its connection buffer full,
//! or the broadcast lapping it) is sent an error notification saying where to resume,
//! and closed; nothing it does can slow the sequencer.

use crate::{convert, error::RpcError, eth::EthHandler, record_json::RecordJson};
use alloy_primitives::{Address, B256};
use alloy_rpc_types_eth::{BlockNumberOrTag, Filter, FilterBlockOption, Log};
use jsonrpsee::{
    PendingSubscriptionSink, SubscriptionMessage, SubscriptionSink,
    core::{SubscriptionResult, server::SendTimeoutError},
    types::ErrorObjectOwned,
};
use peregrine_chain::{feed::DropNotice, record::MiniBlockRecord};
use peregrine_preconf::{FeedPreconfirmation, RenderedHeader};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json, value::RawValue};
use std::{sync::Arc, time::Duration};
use tokio::sync::broadcast::error::RecvError;

/// The kinds `eth_subscribe` accepts.
pub(crate) const KINDS: &[&str] = &[
    "newHeads",
    "miniBlocks",
    "preconfirmations",
    "stateChanges",
    "logs",
];

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FeedParams {
    from_mini_block: Option<u64>,
    /// 1 (the default): records; 2: the replication stream ([`follow_blocks`]).
    version: Option<u8>,
    /// Version 2: the first block whose items are sent (its mini-blocks from
    /// `fromMiniBlock` on, then its seal).
    from_block: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PreconfParams {
    from_mini_block: Option<u64>,
    tx_hashes: Option<Vec<B256>>,
    from: Option<Vec<Address>>,
    to: Option<Vec<Address>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct StateParams {
    addresses: Vec<Address>,
    from_mini_block: Option<u64>,
}

fn parse<T: for<'de> Deserialize<'de> + Default>(params: Option<Value>) -> Result<T, String> {
    match params {
        None | Some(Value::Null) => Ok(T::default()),
        Some(v) => serde_json::from_value(v).map_err(|e| e.to_string()),
    }
}

fn invalid(msg: String) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(crate::error::INVALID_PARAMS, msg, None::<()>)
}

/// What to send for each record.
enum Emit {
    MiniBlocks(Arc<RecordJson>),
    Preconfirmations(PreconfParams),
    StateChanges(Vec<Address>),
    /// With the chain, for the block view each log's transaction is in.
    Logs(Box<Filter>, Arc<peregrine_chain::Chain>),
}

impl Emit {
    fn kind(&self) -> &'static str {
        match self {
            Emit::MiniBlocks(_) => "miniBlocks",
            Emit::Preconfirmations(_) => "preconfirmations",
            Emit::StateChanges(_) => "stateChanges",
            Emit::Logs(..) => "logs",
        }
    }

    /// Appends this subscription's items for `record` to `out`, serialized.
    fn items(&self, record: &MiniBlockRecord, out: &mut Vec<Box<RawValue>>) -> Result<(), String> {
        match self {
            Emit::MiniBlocks(json) => out.push(json.get(record)?),
            Emit::Preconfirmations(p) => {
                // Rendered once, for the first transaction sent: the rest share it.
                let mut header = None;
                for (i, tx) in record.transactions.iter().enumerate() {
                    let wanted = p.tx_hashes.as_ref().is_none_or(|h| h.contains(&tx.hash))
                        && p.from.as_ref().is_none_or(|f| f.contains(&tx.from))
                        && p.to
                            .as_ref()
                            .is_none_or(|t| tx.to.is_some_and(|to| t.contains(&to)));
                    if wanted {
                        let sent = peregrine_chain::clock::now_us();
                        let preconfirmation = record.preconfirmation(i, sent);
                        let header = header
                            .get_or_insert_with(|| RenderedHeader::new(&preconfirmation.header));
                        out.push(raw(&FeedPreconfirmation {
                            preconfirmation: &preconfirmation,
                            header,
                        })?);
                    }
                }
            }
            Emit::StateChanges(addresses) => {
                for (address, change) in &record.state_diff.accounts {
                    if addresses.contains(address) {
                        out.push(raw(&json!({
                            "miniBlock": record.number(),
                            "blockNumber": record.block_number(),
                            "address": address,
                            "change": change,
                        }))?);
                    }
                }
            }
            Emit::Logs(filter, chain) => {
                // The block a log names is the view that ends with its mini-block, as
                // in its receipt (docs/api.md, "Blocks under construction"); built only
                // when a log matches.
                let mut view = None;
                for tx in &record.transactions {
                    for (j, log) in tx.logs.iter().enumerate() {
                        if filter.matches(log) {
                            if view.is_none() {
                                view = Some(chain.view_of(record).map_err(|e| e.to_string())?);
                            }
                            let (block_hash, timestamp) = view.flatten().unzip();
                            let rpc = Log {
                                inner: log.clone(),
                                block_hash,
                                block_number: Some(record.block_number()),
                                block_timestamp: timestamp,
                                transaction_hash: Some(tx.hash),
                                transaction_index: Some(u64::from(tx.block_index)),
                                log_index: Some(tx.first_log_index + j as u64),
                                removed: false,
                            };
                            out.push(raw(&rpc)?);
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// `item` as JSON text, ready for a subscription message.
fn raw<T: Serialize + ?Sized>(item: &T) -> Result<Box<RawValue>, String> {
    serde_json::value::to_raw_value(item).map_err(|e| format!("cannot encode a notification: {e}"))
}

/// Why a slow subscriber is closed; `resume_at` is where a record kind resumes (`None`
/// for `newHeads`, which cannot be replayed).
fn slow(resume_at: Option<u64>) -> String {
    crate::metrics::slow_consumer_dropped("buffer_full");
    let then = match resume_at {
        Some(n) => format!("resubscribe with fromMiniBlock = {n}"),
        None => "subscribe again".to_owned(),
    };
    format!("subscription closed: the consumer fell behind and its buffer stayed full; {then}")
}

/// Sends one item, waiting up to `timeout` for room; false when the client went away.
async fn send(
    sink: &SubscriptionSink,
    item: Box<RawValue>,
    timeout: Duration,
    resume_at: Option<u64>,
) -> Result<bool, String> {
    match sink
        .send_timeout(SubscriptionMessage::from(item), timeout)
        .await
    {
        Ok(()) => Ok(true),
        Err(SendTimeoutError::Closed(_)) => Ok(false),
        Err(SendTimeoutError::Timeout(_)) => Err(slow(resume_at)),
    }
}

/// Longest pause between two looks at a full buffer's room.
const MAX_ROOM_POLL: Duration = Duration::from_millis(16);

/// Sends every item of `record`; false when the client went away.
///
/// The items of one mini-block go out all or none: the sender first waits (up to
/// `timeout`) until the connection's buffer has room for all of them, so a consumer closed
/// for slowness resumes at a mini-block boundary without duplicates. (A mini-block with
/// more items than the whole buffer is sent as room frees up.) One item waits in
/// `send_timeout` for a slot to free up; several poll the buffer's room, every 1 ms at
/// first, then less often (up to 16 ms) while a consumer stays behind.
async fn send_record(
    sink: &SubscriptionSink,
    emit: &Emit,
    record: &MiniBlockRecord,
    scratch: &mut Vec<Box<RawValue>>,
    timeout: Duration,
) -> Result<bool, String> {
    let deadline = tokio::time::Instant::now() + timeout;
    // Nothing is built for a subscriber whose buffer is full: a stalled one costs no
    // serialization until it reads again (or is closed at the deadline).
    if !room(sink, 1, deadline, record.number()).await? {
        return Ok(false);
    }
    scratch.clear();
    emit.items(record, scratch)?;
    if scratch.is_empty() {
        return Ok(true);
    }
    let need = scratch.len().min(sink.max_capacity());
    if need > 1 && !room(sink, need, deadline, record.number()).await? {
        return Ok(false);
    }
    for item in scratch.drain(..) {
        if !send(sink, item, timeout, Some(record.number())).await? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Waits until the connection's buffer has room for `need` items; false when the client
/// went away, an error (resume at `number`) past `deadline`.
async fn room(
    sink: &SubscriptionSink,
    need: usize,
    deadline: tokio::time::Instant,
    number: u64,
) -> Result<bool, String> {
    let mut pause = Duration::from_millis(1);
    while sink.capacity() < need {
        if sink.is_closed() {
            return Ok(false);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(slow(Some(number)));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MAX_ROOM_POLL);
    }
    Ok(true)
}

/// The `preconfirmations` item for a transaction the sequencer dropped, if the
/// subscription's filter wants it.
fn drop_item(p: &PreconfParams, notice: &DropNotice) -> Result<Option<Box<RawValue>>, String> {
    let wanted = p
        .tx_hashes
        .as_ref()
        .is_none_or(|h| h.contains(&notice.hash))
        && p.from
            .as_ref()
            .is_none_or(|f| f.contains(&notice.parties.from))
        && p.to
            .as_ref()
            .is_none_or(|t| notice.parties.to.is_some_and(|to| t.contains(&to)));
    if !wanted {
        return Ok(None);
    }
    raw(&json!({
        "transactionHash": notice.hash,
        "dropped": { "reason": notice.reason },
    }))
    .map(Some)
}

/// The next drop notice, for a subscription that has a receiver; never otherwise.
async fn next_drop(
    drops: &mut Option<tokio::sync::broadcast::Receiver<Arc<DropNotice>>>,
) -> Option<Arc<DropNotice>> {
    let Some(rx) = drops else {
        return std::future::pending().await;
    };
    loop {
        match rx.recv().await {
            Ok(notice) => return Some(notice),
            // Drops are rare; one missed for lag is still in peregrine_getTransactionStatus.
            Err(RecvError::Lagged(_)) => continue,
            Err(RecvError::Closed) => return std::future::pending().await,
        }
    }
}

async fn follow_feed(
    handler: EthHandler,
    pending: PendingSubscriptionSink,
    from: Option<u64>,
    emit: Emit,
) -> SubscriptionResult {
    let _counted = crate::metrics::SubscriberGuard::new(emit.kind());
    let feed = handler.chain.feed.clone();
    // Subscribe before reading where the feed is, so nothing published in between is lost.
    let mut live = feed.subscribe();
    let mut drops = matches!(emit, Emit::Preconfirmations(_)).then(|| feed.subscribe_drops());
    let mut next = from.unwrap_or_else(|| feed.next_number());
    let sink = handler.accepting.accept(pending).await?;
    let timeout = Duration::from_millis(handler.cfg.slow_subscriber_timeout_ms);
    let mut scratch = Vec::new();
    let replay = |handler: &EthHandler, n: u64| -> Result<Arc<MiniBlockRecord>, String> {
        match handler.chain.mini_block(n) {
            Ok(Some(r)) => Ok(r),
            Ok(None) => Err(format!("mini-block {n} is not available")),
            Err(e) => Err(format!("cannot read mini-block {n}: {e}")),
        }
    };
    while next < feed.next_number() {
        let record = replay(&handler, next)?;
        if !send_record(&sink, &emit, &record, &mut scratch, timeout).await? {
            return Ok(());
        }
        next += 1;
    }
    loop {
        let received = tokio::select! {
            _ = sink.closed() => return Ok(()),
            r = live.recv() => r,
            Some(notice) = next_drop(&mut drops) => {
                if let Emit::Preconfirmations(p) = &emit
                    && let Some(item) = drop_item(p, &notice)?
                    && !send(&sink, item, timeout, Some(next)).await?
                {
                    return Ok(());
                }
                continue;
            }
        };
        let record = match received {
            Ok(record) => record,
            Err(RecvError::Lagged(n)) => {
                crate::metrics::slow_consumer_dropped("lagged");
                return Err(format!(
                    "subscription closed: the consumer fell {n} mini-blocks behind; \
                     resubscribe with fromMiniBlock = {next}"
                )
                .into());
            }
            Err(RecvError::Closed) => return Ok(()),
        };
        if record.number() < next {
            continue;
        }
        while next < record.number() {
            let missing = replay(&handler, next)?;
            if !send_record(&sink, &emit, &missing, &mut scratch, timeout).await? {
                return Ok(());
            }
            next += 1;
        }
        if !send_record(&sink, &emit, &record, &mut scratch, timeout).await? {
            return Ok(());
        }
        next = record.number() + 1;
    }
}

/// One of the `rpc.max-replication-streams` slots, held while a stream is served.
struct StreamSlot(Arc<std::sync::atomic::AtomicUsize>);

impl StreamSlot {
    fn take(handler: &EthHandler) -> Option<Self> {
        use std::sync::atomic::Ordering;
        let streams = handler.streams.clone();
        let max = handler.cfg.max_replication_streams;
        streams
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| StreamSlot(streams))
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// `miniBlocks` version 2, the replication stream
/// ([`peregrine_chain::stream`]): block by block from `from_block`, each block's
/// mini-blocks (from `from` on), then its signed seal as soon as it is sealed.
///
/// Records are read by number (the recent window, the open block, redb), so a replay
/// and the live edge are one path, and a lagging broadcast only wakes it up.
async fn follow_blocks(
    handler: EthHandler,
    pending: PendingSubscriptionSink,
    from: Option<u64>,
    from_block: Option<u64>,
) -> SubscriptionResult {
    let _counted = crate::metrics::SubscriberGuard::new("miniBlocks");
    let chain = handler.chain.clone();
    let feed = chain.feed.clone();
    // Subscribed before anything is read, so no wake-up is lost.
    let mut live = feed.subscribe();
    let mut heads = chain.subscribe_heads();
    let lookup = |n: u64| -> Result<Arc<MiniBlockRecord>, String> {
        match chain.mini_block(n) {
            Ok(Some(r)) => Ok(r),
            Ok(None) => Err(format!("mini-block {n} is not available")),
            Err(e) => Err(format!("cannot read mini-block {n}: {e}")),
        }
    };
    let mut next = from.unwrap_or_else(|| feed.next_number());
    let mut block = match from_block {
        Some(b) => b,
        None if next < feed.next_number() => lookup(next)?.block_number(),
        None => chain.head().header.number + 1,
    };
    if block == 0 {
        pending
            .reject(invalid(
                "fromBlock 0 is the genesis: it has no mini-blocks or seal".into(),
            ))
            .await;
        return Ok(());
    }
    let sink = handler.accepting.accept(pending).await?;
    let timeout = Duration::from_millis(handler.cfg.slow_subscriber_timeout_ms);
    loop {
        if next < feed.next_number() {
            let record = lookup(next)?;
            if record.block_number() < block {
                return Err(format!(
                    "mini-block {next} is in block {}, before fromBlock {block}",
                    record.block_number()
                )
                .into());
            }
            if record.block_number() == block {
                let json = handler.record_json.get(&record)?;
                let item = RawValue::from_string(format!(
                    r#"{{"miniBlock":{{"streamHead":{},"record":{}}}}}"#,
                    feed.next_number(),
                    json.get()
                ))
                .map_err(|e| format!("cannot encode mini-block {next}: {e}"))?;
                if !send(&sink, item, timeout, Some(next)).await? {
                    return Ok(());
                }
                next += 1;
                continue;
            }
            // A later block's: this one has ended, and its seal is on its way.
        }
        if chain.head().header.number >= block {
            let seal = chain
                .seal_item(block)
                .map_err(|e| format!("cannot read the seal of block {block}: {e}"))?
                .ok_or_else(|| format!("block {block} has no seal"))?;
            if seal.next_mini_block > next {
                // Published before the seal: read and sent on the next turn.
                continue;
            }
            if !send(&sink, raw(&json!({ "seal": seal }))?, timeout, Some(next)).await? {
                return Ok(());
            }
            block += 1;
            continue;
        }
        tokio::select! {
            _ = sink.closed() => return Ok(()),
            r = live.recv() => if let Err(RecvError::Closed) = r { return Ok(()) },
            h = heads.recv() => if let Err(RecvError::Closed) = h { return Ok(()) },
        }
    }
}

async fn new_heads(handler: EthHandler, pending: PendingSubscriptionSink) -> SubscriptionResult {
    let _counted = crate::metrics::SubscriberGuard::new("newHeads");
    let mut heads = handler.chain.subscribe_heads();
    let sink = handler.accepting.accept(pending).await?;
    let timeout = Duration::from_millis(handler.cfg.slow_subscriber_timeout_ms);
    loop {
        let head = tokio::select! {
            _ = sink.closed() => return Ok(()),
            h = heads.recv() => h,
        };
        let head = match head {
            Ok(h) => h,
            Err(RecvError::Lagged(n)) => {
                return Err(
                    format!("subscription closed: the consumer fell {n} blocks behind").into(),
                );
            }
            Err(RecvError::Closed) => return Ok(()),
        };
        let block = convert::rpc_block(head.header, head.hash, &[], &[], false);
        if !send(&sink, raw(&block.header)?, timeout, None).await? {
            return Ok(());
        }
    }
}

/// A `logs` subscription is live: it cannot honour a block range or a block hash, so it
/// refuses them (`latest` and `pending` mean "from now on" and are accepted) instead of
/// ignoring them.
fn live_only(filter: &Filter) -> Result<(), String> {
    const WHY: &str = "a logs subscription delivers logs from the next preconfirmation on; \
                       use eth_getLogs for past blocks";
    match &filter.block_option {
        FilterBlockOption::AtBlockHash(_) => Err(format!("blockHash is not supported: {WHY}")),
        FilterBlockOption::Range {
            from_block,
            to_block,
        } => {
            let live = |b: &Option<BlockNumberOrTag>| {
                matches!(
                    b,
                    None | Some(BlockNumberOrTag::Latest | BlockNumberOrTag::Pending)
                )
            };
            if live(from_block) && live(to_block) {
                Ok(())
            } else {
                Err(format!(
                    "fromBlock / toBlock other than latest or pending: {WHY}"
                ))
            }
        }
    }
}

/// A subscription's filter lists against `rpc.max-filter-items`, and its replay depth
/// against `rpc.max-replay-mini-blocks`: a replay reads history record by record.
fn within_limits(handler: &EthHandler, from: Option<u64>, emit: &Emit) -> Result<(), RpcError> {
    let max = handler.cfg.max_filter_items;
    let key = "max-filter-items";
    match emit {
        Emit::MiniBlocks(_) => {}
        Emit::Preconfirmations(p) => {
            let hashes = p.tx_hashes.as_ref().map_or(0, Vec::len);
            let (from, to) = (p.from.as_ref(), p.to.as_ref());
            crate::limits::list("txHashes", hashes, max, key)?;
            crate::limits::list("from", from.map_or(0, Vec::len), max, key)?;
            crate::limits::list("to", to.map_or(0, Vec::len), max, key)?;
        }
        Emit::StateChanges(addresses) => {
            crate::limits::list("addresses", addresses.len(), max, key)?
        }
        Emit::Logs(filter, _) => crate::limits::log_filter(filter, max)?,
    }
    let head = handler.chain.feed.next_number();
    let depth = from.map_or(0, |n| head.saturating_sub(n));
    if depth > handler.cfg.max_replay_mini_blocks {
        return Err(RpcError::LimitExceeded(format!(
            "fromMiniBlock {} is {depth} mini-blocks behind the head; a replay may start at most \
             {} behind (rpc.max-replay-mini-blocks), at {}",
            from.unwrap_or_default(),
            handler.cfg.max_replay_mini_blocks,
            head - handler.cfg.max_replay_mini_blocks
        )));
    }
    Ok(())
}

/// Runs one `eth_subscribe`.
pub(crate) async fn subscribe(
    handler: EthHandler,
    pending: PendingSubscriptionSink,
    kind: String,
    params: Option<Value>,
) -> SubscriptionResult {
    let parsed = match kind.as_str() {
        "newHeads" => return new_heads(handler, pending).await,
        "miniBlocks" => match parse::<FeedParams>(params) {
            Ok(p) if p.version == Some(2) => {
                let Some(_stream) = StreamSlot::take(&handler) else {
                    let e = RpcError::LimitExceeded(format!(
                        "{} replication streams are served already (rpc.max-replication-streams)",
                        handler.cfg.max_replication_streams
                    ));
                    pending.reject(ErrorObjectOwned::from(e)).await;
                    return Ok(());
                };
                return follow_blocks(handler, pending, p.from_mini_block, p.from_block).await;
            }
            Ok(p) if p.version.is_some_and(|v| v != 1) => Err(format!(
                "miniBlocks version {} is not served; versions: 1 (records), 2 (replication stream)",
                p.version.unwrap_or_default()
            )),
            Ok(p) if p.from_block.is_some() => {
                Err("fromBlock is a parameter of miniBlocks version 2".into())
            }
            Ok(p) => Ok((
                p.from_mini_block,
                Emit::MiniBlocks(handler.record_json.clone()),
            )),
            Err(e) => Err(e),
        },
        "preconfirmations" => {
            parse::<PreconfParams>(params).map(|p| (p.from_mini_block, Emit::Preconfirmations(p)))
        }
        "stateChanges" => parse::<StateParams>(params).and_then(|p| {
            if p.addresses.is_empty() {
                Err("stateChanges needs a non-empty `addresses` list".into())
            } else {
                Ok((p.from_mini_block, Emit::StateChanges(p.addresses)))
            }
        }),
        "logs" => match params {
            None | Some(Value::Null) => {
                Ok((None, Emit::Logs(Box::default(), handler.chain.clone())))
            }
            Some(v) => serde_json::from_value::<Filter>(v)
                .map_err(|e| e.to_string())
                .and_then(|f| {
                    live_only(&f).map(|()| (None, Emit::Logs(Box::new(f), handler.chain.clone())))
                }),
        },
        other => Err(format!(
            "unknown subscription kind `{other}`; supported: {}",
            KINDS.join(", ")
        )),
    };
    let parsed = parsed.map_err(invalid).and_then(|(from, emit)| {
        within_limits(&handler, from, &emit)
            .map(|()| (from, emit))
            .map_err(ErrorObjectOwned::from)
    });
    match parsed {
        Ok((from, emit)) => follow_feed(handler, pending, from, emit).await,
        Err(error) => {
            pending.reject(error).await;
            Ok(())
        }
    }
}
