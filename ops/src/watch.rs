//! `peregrine watch`: holds the sequencer to its promises.
//!
//! It follows the `preconfirmations` feed (of the sequencer, or of any replica: they relay
//! the sequencer's signatures) and records the signed header of every mini-block it sees,
//! durably (`<datadir>/watch.redb`), resuming after a restart from the next mini-block.
//! Each poll it checks every L2 block it holds headers of against L1:
//!
//! - the block's commitment is posted: each recorded header must be the committed digest
//!   at its position (the whole block at once when the recorded headers rebuild the
//!   committed root; otherwise against the digests read back from the `post` calldata);
//!   a header outside the commitment, or another digest at its position, is proven with
//!   `proveMismatch`;
//! - not posted yet: once the bond's `postingDeadline` has passed for the block's oldest
//!   header, `proveNotPosted`;
//! - two different headers for one mini-block number (seen across reconnections):
//!   `proveEquivocation`.
//!
//! A proof is sent as soon as the fault is seen (the next poll, `--poll-interval`), one
//! per L2 block (every other broken header of that block stays provable by whoever holds
//! it). Each fault is printed as a JSON line on stdout, and a status line every few
//! seconds: `{"recorded", "checkedBlocks", "checkedHeaders", "pending", "faults"}`.

use crate::cli::WatchArgs;
use crate::prove::{mismatch_at, position, posted_digests, refusal};
use alloy_primitives::{Address, B256, Bytes};
use alloy_sol_types::SolCall;
use peregrine_batcher::{commitment, inbox, l1::L1Client};
use peregrine_preconf::{SignedHeader, bond};
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::net::TcpStream;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tungstenite::{Message, WebSocket, stream::MaybeTlsStream};

/// Mini-block number → the signed header (its `{typedData, signature}` JSON).
const HEADERS: TableDefinition<u64, &[u8]> = TableDefinition::new("headers");
/// Mini-block number → L2 block, for headers whose block is not checked yet.
const UNCHECKED: TableDefinition<u64, u64> = TableDefinition::new("unchecked");
/// "block:<n>" or "equivocation:<m>" → what was proven (JSON).
const FAULTS: TableDefinition<&str, &str> = TableDefinition::new("faults");

/// Why the watcher stopped.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// Its flags, key, database or the bond are not usable.
    #[error("{0}")]
    Setup(String),
}

fn setup<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> WatchError + '_ {
    move |e| WatchError::Setup(format!("{what}: {e}"))
}

struct Watcher {
    l1: L1Client,
    key: B256,
    me: Address,
    bond: Address,
    inbox: Address,
    sequencer: Address,
    posting_deadline: u64,
    db: Database,
    /// Recorded and not checked, by L2 block.
    pending: BTreeMap<u64, Vec<SignedHeader>>,
    recorded: u64,
    checked_blocks: u64,
    checked_headers: u64,
    faults: u64,
}

/// Runs until killed (the database is crash-safe).
pub fn watch(args: &WatchArgs) -> Result<(), WatchError> {
    let l1 = L1Client::new(&args.l1_rpc, Duration::from_secs(10));
    let key = crate::config::read_key_file(&args.key).map_err(setup("--key"))?;
    let me = peregrine_preconf::SequencerKey::from_bytes(&key)
        .map_err(setup("--key"))?
        .address();
    let call = |data: Vec<u8>| l1.eth_call(args.bond, &Bytes::from(data));
    let sequencer = call(bond::PeregrineBond::sequencerCall {}.abi_encode())
        .ok()
        .and_then(|out| bond::PeregrineBond::sequencerCall::abi_decode_returns(&out).ok())
        .ok_or_else(|| WatchError::Setup(format!("{} is not a PeregrineBond", args.bond)))?;
    let inbox_address = call(bond::PeregrineBond::inboxCall {}.abi_encode())
        .ok()
        .and_then(|out| bond::PeregrineBond::inboxCall::abi_decode_returns(&out).ok())
        .ok_or_else(|| WatchError::Setup("the bond does not name its inbox".into()))?;
    let posting_deadline = call(bond::PeregrineBond::postingDeadlineCall {}.abi_encode())
        .ok()
        .and_then(|out| bond::PeregrineBond::postingDeadlineCall::abi_decode_returns(&out).ok())
        .ok_or_else(|| WatchError::Setup("the bond has no postingDeadline".into()))?;
    std::fs::create_dir_all(&args.datadir).map_err(setup("--datadir"))?;
    let db = Database::create(args.datadir.join("watch.redb")).map_err(setup("watch.redb"))?;
    let mut w = Watcher {
        l1,
        key,
        me,
        bond: args.bond,
        inbox: inbox_address,
        sequencer,
        posting_deadline,
        db,
        pending: BTreeMap::new(),
        recorded: 0,
        checked_blocks: 0,
        checked_headers: 0,
        faults: 0,
    };
    w.load().map_err(setup("watch.redb"))?;
    tracing::info!(bond = %w.bond, inbox = %w.inbox, sequencer = %w.sequencer, recorded = w.recorded, "watching");
    let mut last_status = Instant::now();
    loop {
        let mut ws = match connect(&args.sequencer, w.next_mini_block(), args.poll_interval) {
            Ok(ws) => ws,
            Err(e) => {
                tracing::warn!(error = %e, "cannot follow the sequencer; retrying");
                std::thread::sleep(Duration::from_secs(1));
                w.check();
                continue;
            }
        };
        loop {
            let mut got = Vec::new();
            let until = Instant::now() + args.poll_interval;
            let mut broken = None;
            while Instant::now() < until {
                match read(&mut ws) {
                    Ok(Some(v)) => got.extend(preconfirmation(&v)),
                    Ok(None) => {}
                    Err(e) => {
                        broken = Some(e);
                        break;
                    }
                }
            }
            if let Err(e) = w.record(got) {
                return Err(WatchError::Setup(format!("cannot record headers: {e}")));
            }
            w.check();
            if last_status.elapsed() >= Duration::from_secs(2) {
                w.status();
                last_status = Instant::now();
            }
            if let Some(e) = broken {
                tracing::warn!(error = %e, "the feed broke; reconnecting");
                break;
            }
        }
    }
}

fn connect(
    url: &str,
    from: u64,
    poll: Duration,
) -> Result<WebSocket<MaybeTlsStream<TcpStream>>, String> {
    let (mut ws, _) = tungstenite::connect(url).map_err(|e| e.to_string())?;
    if let MaybeTlsStream::Plain(tcp) = ws.get_ref() {
        let _ = tcp.set_read_timeout(Some(poll.min(Duration::from_millis(50))));
    }
    let request = json!({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe",
                         "params": ["preconfirmations", {"fromMiniBlock": from}]});
    ws.send(Message::text(request.to_string()))
        .map_err(|e| e.to_string())?;
    Ok(ws)
}

/// The next message as JSON; `Ok(None)` when none came in time.
fn read(ws: &mut WebSocket<MaybeTlsStream<TcpStream>>) -> Result<Option<Value>, String> {
    match ws.read() {
        Ok(Message::Text(text)) => serde_json::from_str(text.as_str())
            .map(Some)
            .map_err(|e| format!("not JSON: {e}")),
        Ok(Message::Close(frame)) => Err(format!("closed ({frame:?})")),
        Ok(_) => Ok(None),
        Err(tungstenite::Error::Io(e))
            if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
        {
            let _ = ws.flush();
            Ok(None)
        }
        Err(e) => Err(e.to_string()),
    }
}

/// The signed header of a `preconfirmations` notification (`None` for anything else).
fn preconfirmation(v: &Value) -> Option<SignedHeader> {
    if let Some(e) = v.get("error") {
        tracing::warn!(error = %e, "the sequencer answered with an error");
        return None;
    }
    let result = v.get("params")?.get("result")?;
    match SignedHeader::from_json(result) {
        Ok(h) => Some(h),
        Err(e) => {
            tracing::warn!(error = %e, "a preconfirmation that does not parse; ignored");
            None
        }
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Watcher {
    fn load(&mut self) -> Result<(), redb::Error> {
        let w = self.db.begin_write()?;
        w.open_table(HEADERS)?;
        w.open_table(UNCHECKED)?;
        w.open_table(FAULTS)?;
        w.commit()?;
        let r = self.db.begin_read()?;
        let headers = r.open_table(HEADERS)?;
        self.recorded = headers.len()?;
        for entry in r.open_table(UNCHECKED)?.iter()? {
            let (m, n) = entry?;
            if let Some(raw) = headers.get(m.value())?
                && let Some(h) = parse(raw.value())
            {
                self.pending.entry(n.value()).or_default().push(h);
            }
        }
        self.faults = r.open_table(FAULTS)?.len()?;
        Ok(())
    }

    fn next_mini_block(&self) -> u64 {
        let last = self
            .db
            .begin_read()
            .ok()
            .and_then(|r| r.open_table(HEADERS).ok())
            .and_then(|t| t.last().ok().flatten().map(|(k, _)| k.value()));
        last.map_or(0, |m| m + 1)
    }

    /// Stores new headers (one redb commit); an other header for a mini-block number
    /// already recorded is an equivocation, proven at once.
    fn record(&mut self, got: Vec<SignedHeader>) -> Result<(), redb::Error> {
        if got.is_empty() {
            return Ok(());
        }
        let mut equivocations = Vec::new();
        let w = self.db.begin_write()?;
        {
            let mut headers = w.open_table(HEADERS)?;
            let mut unchecked = w.open_table(UNCHECKED)?;
            for h in got {
                match h.recover_signer() {
                    Ok(s) if s == self.sequencer => {}
                    other => {
                        tracing::warn!(signer = ?other, mini_block = h.header.miniBlockNumber, "a header not signed by the bonded key; ignored");
                        continue;
                    }
                }
                let m = h.header.miniBlockNumber;
                let known = headers.get(m)?.and_then(|raw| parse(raw.value()));
                match known {
                    Some(k) if k.hash() == h.hash() => {}
                    Some(k) => equivocations.push((k, h)),
                    None => {
                        headers.insert(m, h.to_json().to_string().as_bytes())?;
                        unchecked.insert(m, h.header.blockNumber)?;
                        self.pending
                            .entry(h.header.blockNumber)
                            .or_default()
                            .push(h);
                        self.recorded += 1;
                    }
                }
            }
        }
        w.commit()?;
        for (a, b) in equivocations {
            let key = format!("equivocation:{}", a.header.miniBlockNumber);
            if self.already(&key) {
                continue;
            }
            let report = json!({"fault": "equivocation", "l2Block": a.header.blockNumber,
                                "miniBlock": a.header.miniBlockNumber, "headers": [a.hash(), b.hash()]});
            self.prove(&key, report, bond::equivocation_calldata(&a, &b));
        }
        Ok(())
    }

    fn already(&self, key: &str) -> bool {
        self.db
            .begin_read()
            .ok()
            .and_then(|r| r.open_table(FAULTS).ok())
            .and_then(|t| t.get(key).ok().flatten())
            .is_some()
    }

    /// Checks every block with unchecked headers against L1.
    fn check(&mut self) {
        let blocks: Vec<u64> = self.pending.keys().copied().collect();
        for n in blocks {
            match self.check_block(n) {
                Ok(true) => self.done(n),
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(block = n, error = %e, "cannot check the block on L1 yet");
                    return;
                }
            }
        }
    }

    /// Whether block `n` is settled (checked, or proven).
    fn check_block(&mut self, n: u64) -> Result<bool, peregrine_batcher::L1Error> {
        let out = self
            .l1
            .eth_call(self.inbox, &inbox::commitment_calldata(n))?;
        let Some(stored) = inbox::decode_commitment(&out) else {
            return Ok(false);
        };
        let mut headers = self.pending[&n].clone();
        headers.sort_by_key(|h| h.header.miniBlockNumber);
        let key = format!("block:{n}");
        if stored.l1_block == 0 {
            let oldest = &headers[0];
            if now_secs() <= oldest.header.timestampMicros / 1_000_000 + self.posting_deadline {
                return Ok(false);
            }
            let calldata = bond::not_posted_calldata(oldest);
            // L1's clock decides: ask first.
            if let Err(e) = self.l1.eth_call_from(self.me, self.bond, &calldata) {
                let why = refusal(e).to_string();
                if why.contains("StillInTime") {
                    return Ok(false);
                }
                tracing::warn!(block = n, refusal = %why, "block not posted, but the bond refuses the proof");
                return Ok(true);
            }
            let report = json!({"fault": "notPosted", "l2Block": n, "miniBlock": oldest.header.miniBlockNumber});
            self.prove(&key, report, calldata);
            return Ok(true);
        }
        let first = stored.first_mini_block;
        let count = u64::from(stored.count);
        let complete = headers.len() as u64 == count
            && headers
                .iter()
                .enumerate()
                .all(|(i, h)| h.header.miniBlockNumber == first + i as u64);
        if complete {
            let digests: Vec<B256> = headers.iter().map(SignedHeader::hash).collect();
            if commitment::tree(&digests).root() == stored.root {
                self.checked_headers += headers.len() as u64;
                return Ok(true);
            }
        }
        let mut posted: Option<Vec<B256>> = None;
        for h in &headers {
            let m = h.header.miniBlockNumber;
            let Some(j) = position(h, &stored) else {
                let report = json!({"fault": "omitted", "l2Block": n, "miniBlock": m,
                                    "firstMiniBlock": first, "count": count});
                self.prove(
                    &key,
                    report,
                    bond::mismatch_calldata(h, B256::ZERO, Vec::new()),
                );
                return Ok(true);
            };
            if posted.is_none() {
                match posted_digests(&self.l1, self.inbox, n, &stored) {
                    Ok(d) => posted = Some(d),
                    Err(e) => {
                        tracing::warn!(block = n, error = %e, "cannot read the posted digests");
                        return Ok(false);
                    }
                }
            }
            let digests = posted.as_ref().expect("read above");
            if let Some((committed, proof)) = mismatch_at(h, j, digests) {
                let report = json!({"fault": "mismatch", "l2Block": n, "miniBlock": m,
                                    "position": j, "committed": committed});
                self.prove(&key, report, bond::mismatch_calldata(h, committed, proof));
                return Ok(true);
            }
        }
        self.checked_headers += headers.len() as u64;
        Ok(true)
    }

    fn done(&mut self, n: u64) {
        let Some(headers) = self.pending.remove(&n) else {
            return;
        };
        self.checked_blocks += 1;
        let result = (|| -> Result<(), redb::Error> {
            let w = self.db.begin_write()?;
            {
                let mut unchecked = w.open_table(UNCHECKED)?;
                for h in &headers {
                    unchecked.remove(h.header.miniBlockNumber)?;
                }
            }
            w.commit()?;
            Ok(())
        })();
        if let Err(e) = result {
            tracing::warn!(block = n, error = %e, "cannot mark the block checked");
        }
    }

    /// Sends a proof, prints and records what happened.
    fn prove(&mut self, key: &str, report: Value, calldata: Bytes) {
        self.faults += 1;
        tracing::warn!(%report, "fault found; sending the proof");
        let result =
            match self
                .l1
                .send_call(&self.key, self.bond, calldata, Duration::from_secs(60))
            {
                Ok((hash, receipt)) => {
                    json!({"tx": hash, "status": receipt.status, "gasUsed": receipt.gas_used,
                                          "l1Block": receipt.block_number})
                }
                Err(e) => json!({"refused": refusal(e).to_string()}),
            };
        let mut line = report;
        if let (Some(a), Value::Object(b)) = (line.as_object_mut(), result) {
            a.extend(b);
        }
        println!("{line}");
        let stored = (|| -> Result<(), redb::Error> {
            let w = self.db.begin_write()?;
            w.open_table(FAULTS)?
                .insert(key, line.to_string().as_str())?;
            w.commit()?;
            Ok(())
        })();
        if let Err(e) = stored {
            tracing::warn!(error = %e, "cannot record the proof");
        }
    }

    fn status(&self) {
        let pending: usize = self.pending.values().map(Vec::len).sum();
        println!(
            "{}",
            json!({"recorded": self.recorded, "checkedBlocks": self.checked_blocks,
                   "checkedHeaders": self.checked_headers, "pending": pending, "faults": self.faults})
        );
    }
}

fn parse(raw: &[u8]) -> Option<SignedHeader> {
    let v: Value = serde_json::from_slice(raw).ok()?;
    SignedHeader::from_json(&v).ok()
}
