//! `eth_call` and `eth_estimateGas`: run a transaction request against a read-only view,
//! off the sequencer core, on the call pool (`call_pool.rs`).
//!
//! `pending` runs against a [`peregrine_chain::snapshot::PendingSnapshot`], never
//! under the pending view's lock, so no read and no ingress check waits behind an EVM
//! run. Every run stops at the request's deadline (`rpc.evm-timeout`, geth's 5 s): a
//! [`Deadline`] inspector looks at the clock every [`CLOCK_EVERY`] instructions and
//! halts every frame once it has passed.

use crate::{
    error::{RpcError, RpcResult},
    eth::{At, EthHandler},
};
use alloy_primitives::{Bytes, TxKind};
use alloy_rpc_types_eth::{BlockId, TransactionRequest};
use peregrine_chain::{
    BlockContext,
    exec::{self, StoreDb},
    snapshot::PendingSnapshot,
    store::StoreReader,
};
use revm::{
    Context, DatabaseRef, InspectEvm, Inspector, MainBuilder, MainContext,
    context::{
        BlockEnv, CfgEnv, TxEnv,
        either::Either,
        result::{EVMError, ExecutionResult, HaltReason, OutOfGasError},
    },
    database::CacheDB,
    interpreter::{InstructionResult, Interpreter, InterpreterTypes},
};
use std::{
    fmt::Display,
    time::{Duration, Instant},
};

/// Gas of a plain value transfer.
const TRANSFER_GAS: u64 = 21_000;

/// Instructions between two looks at the clock (~20-50 µs of EVM time).
const CLOCK_EVERY: u32 = 1024;

/// Halts execution once `at` has passed.
#[derive(Debug)]
struct Deadline {
    at: Instant,
    steps: u32,
    expired: bool,
}

impl<CTX, INTR: InterpreterTypes> Inspector<CTX, INTR> for Deadline {
    fn step(&mut self, interp: &mut Interpreter<INTR>, _context: &mut CTX) {
        self.steps = self.steps.wrapping_add(1);
        if !self.expired && self.steps.is_multiple_of(CLOCK_EVERY) && Instant::now() >= self.at {
            self.expired = true;
        }
        if self.expired {
            // Halts this frame as out of gas (revm panics on a fatal halt); each parent
            // frame halts at its next instruction. The caller reports the timeout.
            interp.halt(InstructionResult::OutOfGas);
        }
    }
}

/// Runs `tx` over `db` and returns the result, leaving no trace; an error once the
/// request's `deadline` passes.
fn run<DB>(
    db: DB,
    cfg: CfgEnv,
    block: BlockEnv,
    tx: TxEnv,
    deadline: &RequestDeadline,
) -> RpcResult<ExecutionResult>
where
    DB: DatabaseRef,
    DB::Error: Display,
{
    let mut evm = Context::mainnet()
        .with_db(CacheDB::new(db))
        .with_cfg(cfg)
        .with_block(block)
        .build_mainnet_with_inspector(Deadline {
            at: deadline.at,
            steps: 0,
            expired: false,
        });
    let result = evm.inspect_one_tx(tx);
    if evm.inspector.expired {
        // Its own error: `eth_estimateGas` takes execution errors as "not enough gas".
        return Err(RpcError::EvmTimeout(deadline.timeout));
    }
    match result {
        Ok(result) => Ok(result),
        Err(EVMError::Transaction(e)) => Err(RpcError::Execution(e.to_string())),
        Err(EVMError::Header(e)) => Err(RpcError::Execution(e.to_string())),
        Err(e) => Err(RpcError::Execution(format!("call failed: {e}"))),
    }
}

/// A prepared call: where it runs and what it runs.
struct Prepared {
    at: At,
    cfg: CfgEnv,
    block: BlockEnv,
    tx: TxEnv,
}

fn block_context(handler: &EthHandler, at: At) -> BlockContext {
    match at {
        At::Latest => handler.chain.pending_view().open.ctx.unwrap_or_else(|| {
            let head = handler.chain.head().header;
            BlockContext {
                number: head.number + 1,
                timestamp: head.timestamp,
                base_fee: handler.writes.pending_base_fee(&handler.chain),
                gas_limit: head.gas_limit,
                beneficiary: head.beneficiary,
                prevrandao: head.mix_hash,
            }
        }),
        At::Sealed(_) | At::View(..) => {
            let head = handler.chain.head().header;
            BlockContext {
                number: head.number,
                timestamp: head.timestamp,
                base_fee: head.base_fee_per_gas.unwrap_or_default(),
                gas_limit: head.gas_limit,
                beneficiary: head.beneficiary,
                prevrandao: head.mix_hash,
            }
        }
    }
}

fn prepare(
    handler: &EthHandler,
    req: &TransactionRequest,
    block: Option<BlockId>,
) -> RpcResult<Prepared> {
    let reader = handler.reader()?;
    let at = EthHandler::state_at(&reader, handler.resolve(&reader, block)?)?;
    let ctx = block_context(handler, at);
    let mut block = exec::block_env(&ctx);
    let mut cfg = exec::cfg_env(handler.chain.chain_id);
    cfg.disable_nonce_check = true;
    let fee = req.max_fee_per_gas.or(req.gas_price);
    if fee.is_none() {
        // As geth: a call that names no fee pays none, and sees a zero base fee.
        block.basefee = 0;
    }
    let gas = req
        .gas
        .unwrap_or(handler.cfg.gas_cap)
        .min(handler.cfg.gas_cap)
        .min(ctx.gas_limit);
    let mut tx = TxEnv {
        caller: req.from.unwrap_or_default(),
        gas_limit: gas,
        gas_price: fee.unwrap_or(0),
        kind: req.to.unwrap_or(TxKind::Create),
        value: req.value.unwrap_or_default(),
        data: req.input.input().cloned().unwrap_or_default(),
        nonce: req.nonce.unwrap_or_default(),
        chain_id: Some(handler.chain.chain_id),
        access_list: req.access_list.clone().unwrap_or_default(),
        gas_priority_fee: req.max_priority_fee_per_gas,
        authorization_list: req
            .authorization_list
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(Either::Left)
            .collect(),
        ..Default::default()
    };
    if fee.is_none() {
        tx.gas_priority_fee = None;
    }
    tx.derive_tx_type().map_err(|e| {
        RpcError::InvalidParams(format!("cannot derive the transaction type: {e:?}"))
    })?;
    Ok(Prepared { at, cfg, block, tx })
}

/// When a request's EVM runs must stop.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestDeadline {
    at: Instant,
    timeout: Duration,
}

impl RequestDeadline {
    /// `timeout` from now.
    pub(crate) fn after(timeout: Duration) -> Self {
        Self {
            at: Instant::now() + timeout,
            timeout,
        }
    }
}

/// The state a request runs against, taken once per request: every run of an
/// `eth_estimateGas` search sees the same state (and takes no new snapshot).
enum Source {
    /// `latest`: the pending snapshot.
    Latest(PendingSnapshot),
    /// The last sealed block, from redb.
    Sealed(StoreReader),
}

impl Source {
    fn of(handler: &EthHandler, at: At) -> RpcResult<Self> {
        Ok(match at {
            At::Latest => Source::Latest(handler.chain.pending_snapshot()?),
            At::Sealed(_) | At::View(..) => Source::Sealed(handler.reader()?),
        })
    }

    /// Whether `address` holds code (an account that does not exist holds none).
    fn has_code(
        &self,
        handler: &EthHandler,
        address: alloy_primitives::Address,
    ) -> RpcResult<bool> {
        let info = match self {
            Source::Latest(snapshot) => snapshot.basic_ref(address)?,
            Source::Sealed(reader) => StoreDb {
                reader,
                hashes: &handler.chain.hashes,
            }
            .basic_ref(address)?,
        };
        Ok(info.is_some_and(|i| i.code_hash != alloy_trie::KECCAK_EMPTY))
    }
}

fn execute(
    handler: &EthHandler,
    p: &Prepared,
    source: &Source,
    gas: u64,
    deadline: &RequestDeadline,
) -> RpcResult<ExecutionResult> {
    let mut tx = p.tx.clone();
    tx.gas_limit = gas;
    let (cfg, block) = (p.cfg.clone(), p.block.clone());
    match source {
        Source::Latest(snapshot) => run(snapshot, cfg, block, tx, deadline),
        Source::Sealed(reader) => {
            let db = StoreDb {
                reader,
                hashes: &handler.chain.hashes,
            };
            run(db, cfg, block, tx, deadline)
        }
    }
}

fn reverted(output: Bytes) -> RpcError {
    RpcError::Reverted {
        reason: alloy_sol_types::decode_revert_reason(&output),
        data: output,
    }
}

/// `eth_call`.
pub(crate) fn call(
    handler: &EthHandler,
    req: TransactionRequest,
    block: Option<BlockId>,
    deadline: RequestDeadline,
) -> RpcResult<Bytes> {
    let p = prepare(handler, &req, block)?;
    let source = Source::of(handler, p.at)?;
    match execute(handler, &p, &source, p.tx.gas_limit, &deadline)? {
        ExecutionResult::Success { output, .. } => Ok(output.into_data()),
        ExecutionResult::Revert { output, .. } => Err(reverted(output)),
        ExecutionResult::Halt { reason, .. } => Err(RpcError::Execution(halt_message(&reason))),
    }
}

fn halt_message(reason: &HaltReason) -> String {
    match reason {
        HaltReason::OutOfGas(
            OutOfGasError::Basic
            | OutOfGasError::Memory
            | OutOfGasError::MemoryLimit
            | OutOfGasError::Precompile
            | OutOfGasError::InvalidOperand
            | OutOfGasError::ReentrancySentry,
        ) => "out of gas".into(),
        other => format!("execution halted: {other:?}"),
    }
}

/// `eth_estimateGas`: the smallest gas limit with which the request succeeds.
pub(crate) fn estimate_gas(
    handler: &EthHandler,
    req: TransactionRequest,
    block: Option<BlockId>,
    deadline: RequestDeadline,
) -> RpcResult<u64> {
    let p = prepare(handler, &req, block)?;
    let source = Source::of(handler, p.at)?;
    let cap = p.tx.gas_limit;
    // As geth: a plain transfer to an account without code needs exactly 21 000, which
    // one run confirms (the balance may still not cover it), instead of a search.
    if let TxKind::Call(to) = p.tx.kind
        && p.tx.data.is_empty()
        && p.tx.authorization_list.is_empty()
        && p.tx.access_list.0.is_empty()
        && cap >= TRANSFER_GAS
        && !source.has_code(handler, to)?
        && execute(handler, &p, &source, TRANSFER_GAS, &deadline)?.is_success()
    {
        return Ok(TRANSFER_GAS);
    }
    let used = match execute(handler, &p, &source, cap, &deadline)? {
        ExecutionResult::Success { gas, .. } => gas.tx_gas_used(),
        ExecutionResult::Revert { output, .. } => return Err(reverted(output)),
        ExecutionResult::Halt { reason, .. } => {
            return Err(RpcError::Execution(match reason {
                HaltReason::OutOfGas(_) => format!("gas required exceeds allowance ({cap})"),
                other => halt_message(&other),
            }));
        }
    };
    let ok = |gas: u64| -> RpcResult<bool> {
        Ok(match execute(handler, &p, &source, gas, &deadline) {
            Ok(r) => r.is_success(),
            // Too little gas for the intrinsic cost is a failure, not an error.
            Err(RpcError::Execution(_)) => false,
            Err(e) => return Err(e),
        })
    };
    let (mut lo, mut hi) = (used.saturating_sub(1), cap);
    // Most transactions need a little over what they used (63/64 rule, refunds): try that first.
    let optimistic = (used + 2300) * 64 / 63;
    if optimistic < hi && ok(optimistic)? {
        hi = optimistic;
    }
    while lo + 1 < hi {
        let mid = lo + (hi - lo) / 2;
        if ok(mid)? {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Ok(hi)
}
