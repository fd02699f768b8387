//! `peregrine preconf prove`: the L1 proof that the sequencer broke a promise, for
//! `PeregrineBond` (`preconf/contracts/PeregrineBond.sol`).
//!
//! - `equivocation A B`: two headers the sequencer signed for one position.
//! - `mismatch PRECONF`: a preconfirmation against the inbox's commitment of its block. The
//!   committed header digests are read back from the calldata of the `post` that stored
//!   the commitment (found through its `Committed` event), so the proof needs nothing but
//!   L1 and the preconfirmation.

use crate::cli::{ProveEquivocationArgs, ProveMismatchArgs, SendArgs};
use crate::verify::{locate, read_json};
use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use peregrine_batcher::{L1Error, commitment, inbox, l1::L1Client};
use peregrine_preconf::{SignedHeader, bond};
use serde_json::{Value, json};
use std::time::Duration;

/// Why no proof came out.
#[derive(Debug, thiserror::Error)]
pub enum ProveError {
    /// Bad input or flags, or L1 unreachable (exit code 2).
    #[error("{0}")]
    Input(String),
    /// There is nothing to prove (exit code 1).
    #[error("no fault: {0}")]
    NoFault(String),
}

impl From<L1Error> for ProveError {
    fn from(e: L1Error) -> Self {
        Self::Input(e.to_string())
    }
}

const L1_TIMEOUT: Duration = Duration::from_secs(10);

fn signed_header(input: &str) -> Result<SignedHeader, ProveError> {
    let json = read_json(input).map_err(ProveError::Input)?;
    SignedHeader::from_json(&locate(&json)).map_err(|e| ProveError::Input(format!("{input}: {e}")))
}

/// `prove equivocation`: the report to print.
pub fn equivocation(args: &ProveEquivocationArgs) -> Result<Value, ProveError> {
    let a = signed_header(&args.a)?;
    let b = signed_header(&args.b)?;
    let (ha, hb) = (&a.header, &b.header);
    if a.hash() == b.hash() {
        return Err(ProveError::NoFault("the two headers are the same".into()));
    }
    if ha.chainId != hb.chainId {
        return Err(ProveError::NoFault(format!(
            "the headers are for different chains ({} and {})",
            ha.chainId, hb.chainId
        )));
    }
    if ha.miniBlockNumber != hb.miniBlockNumber && ha.parentHash != hb.parentHash {
        return Err(ProveError::NoFault(format!(
            "mini-blocks {} and {} with different parents are not the same position",
            ha.miniBlockNumber, hb.miniBlockNumber
        )));
    }
    for (name, h) in [("A", &a), ("B", &b)] {
        h.recover_signer()
            .map_err(|e| ProveError::Input(format!("{name}: {e}")))?;
    }
    let calldata = bond::equivocation_calldata(&a, &b);
    let report = json!({
        "fault": "equivocation",
        "chainId": ha.chainId,
        "l2Block": ha.blockNumber,
        "miniBlock": ha.miniBlockNumber,
        "headers": [a.hash(), b.hash()],
        "signer": a.recover_signer().ok(),
    });
    finish(report, calldata, args.l1_rpc.as_deref(), &args.send)
}

/// `prove mismatch`: the report to print.
pub fn mismatch(args: &ProveMismatchArgs) -> Result<Value, ProveError> {
    let h = signed_header(&args.input)?;
    h.recover_signer()
        .map_err(|e| ProveError::Input(format!("{}: {e}", args.input)))?;
    let l1 = L1Client::new(&args.l1_rpc, L1_TIMEOUT);
    let (n, m, digest) = (h.header.blockNumber, h.header.miniBlockNumber, h.hash());
    let out = l1.eth_call(args.inbox, &inbox::commitment_calldata(n))?;
    let stored = inbox::decode_commitment(&out)
        .ok_or_else(|| ProveError::Input(format!("{} is not a PeregrineInbox", args.inbox)))?;
    let base = json!({"l2Block": n, "miniBlock": m, "header": digest});
    if stored.l1_block == 0 {
        if args.send.bond.is_none() {
            return Err(ProveError::NoFault(format!(
                "L2 block {n} has no commitment on L1 yet; whether that is late is the bond's \
                 postingDeadline: pass --bond to ask it"
            )));
        }
        let report = with(base, json!({"fault": "notPosted"}));
        return finish(
            report,
            bond::not_posted_calldata(&h),
            Some(&args.l1_rpc),
            &args.send,
        );
    }
    let Some(position) = position(&h, &stored) else {
        let report = with(
            base,
            json!({"fault": "omitted", "firstMiniBlock": stored.first_mini_block, "count": stored.count}),
        );
        let calldata = bond::mismatch_calldata(&h, B256::ZERO, Vec::new());
        return finish(report, calldata, Some(&args.l1_rpc), &args.send);
    };
    let headers = posted_digests(&l1, args.inbox, n, &stored)?;
    let Some((committed, proof)) = mismatch_at(&h, position, &headers) else {
        return Err(ProveError::NoFault(format!(
            "the commitment of L2 block {n} holds this header at position {position}: the \
             promise is kept"
        )));
    };
    let report = with(
        base,
        json!({"fault": "mismatch", "position": position, "committed": committed}),
    );
    let calldata = bond::mismatch_calldata(&h, committed, proof);
    finish(report, calldata, Some(&args.l1_rpc), &args.send)
}

/// `h`'s position in its block's posted commitment, `miniBlockNumber - firstMiniBlock`;
/// `None` when it is outside the commitment (an omission).
pub(crate) fn position(h: &SignedHeader, stored: &inbox::Stored) -> Option<usize> {
    let j = h
        .header
        .miniBlockNumber
        .checked_sub(stored.first_mini_block)?;
    (j < u64::from(stored.count)).then_some(j as usize)
}

/// The digest committed at `position` and its Merkle proof, when it is not `h`'s (a
/// mismatch); `None` when the promise is kept there. `digests` are the block's posted
/// digests ([`posted_digests`]).
pub(crate) fn mismatch_at(
    h: &SignedHeader,
    position: usize,
    digests: &[B256],
) -> Option<(B256, Vec<B256>)> {
    let committed = *digests.get(position)?;
    (committed != h.hash()).then(|| (committed, commitment::tree(digests).proof(position)))
}

/// The digests posted for L2 block `n`, checked against the root the inbox stored.
pub(crate) fn posted_digests(
    l1: &L1Client,
    inbox_address: Address,
    n: u64,
    stored: &inbox::Stored,
) -> Result<Vec<B256>, ProveError> {
    let headers = committed_headers(l1, inbox_address, n, stored.l1_block)?;
    if commitment::tree(&headers).root() != stored.root || headers.len() != stored.count as usize {
        return Err(ProveError::Input(format!(
            "the digests posted for L2 block {n} do not make its stored root {} (the inbox \
             computes it from them: a different inbox?)",
            stored.root
        )));
    }
    Ok(headers)
}

/// The header digests the batcher posted for L2 block `n` in L1 block `l1_block`.
fn committed_headers(
    l1: &L1Client,
    inbox_address: Address,
    n: u64,
    l1_block: u64,
) -> Result<Vec<B256>, ProveError> {
    let topic = keccak256("Committed(uint64,bytes32,uint32,uint64)");
    let tx = l1
        .log_tx(l1_block, inbox_address, &[topic, B256::from(U256::from(n))])?
        .ok_or_else(|| {
            ProveError::Input(format!(
                "no Committed event of L2 block {n} in L1 block {l1_block}"
            ))
        })?;
    let input = l1
        .tx_input(tx)?
        .ok_or_else(|| ProveError::Input(format!("L1 transaction {tx} not found")))?;
    let post = inbox::decode_post(&input)
        .ok_or_else(|| ProveError::Input(format!("L1 transaction {tx} is not a call of post")))?;
    post.commitments
        .into_iter()
        .find(|c| c.number == n)
        .map(|c| c.headers)
        .ok_or_else(|| ProveError::Input(format!("L1 transaction {tx} does not post L2 block {n}")))
}

fn with(mut a: Value, b: Value) -> Value {
    if let (Some(a), Value::Object(b)) = (a.as_object_mut(), b) {
        a.extend(b);
    }
    a
}

/// Adds the calldata to `report`; with `--bond`, asks the bond (`eth_call`) whether it
/// slashes; with `--send`, sends it.
fn finish(
    report: Value,
    calldata: Bytes,
    l1_rpc: Option<&str>,
    send: &SendArgs,
) -> Result<Value, ProveError> {
    let mut report = with(report, json!({"bond": send.bond, "calldata": calldata}));
    let (Some(bond_address), Some(url)) = (send.bond, l1_rpc) else {
        return Ok(report);
    };
    let l1 = L1Client::new(url, L1_TIMEOUT);
    let key = match &send.key {
        Some(path) => {
            Some(crate::config::read_key_file(path).map_err(|e| ProveError::Input(e.to_string()))?)
        }
        None => None,
    };
    let from = match &key {
        Some(k) => alloy_signer_address(k)?,
        None => Address::ZERO,
    };
    if let Err(e) = l1.eth_call_from(from, bond_address, &calldata) {
        return Err(refusal(e));
    }
    if !send.send {
        return Ok(with(report, json!({"check": "the bond would slash"})));
    }
    let key = key.expect("--send requires --key");
    let (hash, receipt) = l1
        .send_call(&key, bond_address, calldata, Duration::from_secs(60))
        .map_err(refusal)?;
    report = with(
        report,
        json!({"sent": {"hash": hash, "status": receipt.status, "gasUsed": receipt.gas_used,
                        "l1Block": receipt.block_number}}),
    );
    if receipt.status != 1 {
        return Err(ProveError::Input(format!(
            "the proof {hash} reverted on L1: {report}"
        )));
    }
    Ok(report)
}

/// An `eth_call` or send refused by the bond, named by its error.
pub(crate) fn refusal(e: L1Error) -> ProveError {
    match &e {
        L1Error::Rpc {
            data: Some(data), ..
        } => match bond::decode_error(data) {
            Some(err) => ProveError::NoFault(format!("refused by the bond: {err:?}")),
            None => ProveError::Input(format!("the bond reverted: {e} (data {data})")),
        },
        _ => ProveError::Input(e.to_string()),
    }
}

fn alloy_signer_address(key: &B256) -> Result<Address, ProveError> {
    peregrine_preconf::SequencerKey::from_bytes(key)
        .map(|k| k.address())
        .map_err(|e| ProveError::Input(format!("--key: {e}")))
}
