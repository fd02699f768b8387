//! The sequencer loop's revm [`Handler`]: revm's mainnet rules without the heap allocation
//! revm makes for every transaction.
//!
//! revm boxes each transaction's first-frame inputs (`Box<CallInputs>` or
//! `Box<CreateInputs>`, in `revm_handler::execution::create_init_frame`) and frees the box
//! when the frame ends: one `malloc` and one `free` per transaction on the sequencer core.
//! [`SequencerHandler`] keeps one box of each kind, refills it for the next transaction, and
//! takes it back when the first frame returns. A call to an account without code (a plain
//! transfer) is settled without building a frame, because revm would drop the box there.
//!
//! Everything else is revm's default [`Handler`] code. Two pieces are copied from revm 43
//! and must be compared again on each revm upgrade:
//! - `create_init_frame` for rules without EIP-2780 (Prague), in [`refilled_frame_input`];
//!   where EIP-2780 is enabled revm's own function runs (and allocates);
//! - the path of `EthFrame::make_call_frame` for a target that has no code and is not a
//!   precompile, in [`plain_transfer`].
//!
//! The unit tests run this handler and revm's [`MainnetHandler`](revm::handler::MainnetHandler)
//! over the same transactions (transfers, calls, creates, precompiles, EIP-7702 delegation)
//! and require identical results and state.

use revm::{
    Database,
    bytecode::Bytecode,
    context_interface::{
        Cfg, ContextTr, JournalTr, Transaction, cfg::gas::GasTracker,
        journaled_state::JournalCheckpoint, local::LocalContextTr, result::HaltReason,
    },
    handler::{
        EthFrame, EvmTr, EvmTrError, FrameResult, Handler, ItemOrResult, PrecompileProvider,
        execution,
    },
    interpreter::{
        CallInput, CallInputs, CallOutcome, CallScheme, CallValue, CreateInputs, CreateScheme,
        FrameInput, Gas, InstructionResult, InterpreterResult, SharedMemory,
        interpreter::EthInterpreter, interpreter_action::FrameInit,
    },
    primitives::{Bytes, TxKind},
    state::EvmState,
};
use std::marker::PhantomData;

/// revm's mainnet [`Handler`] that reuses the first frame's input box. Keep one per EVM and
/// run every transaction through it ([`crate::exec::transact`]).
pub struct SequencerHandler<EVM, ERROR> {
    call: Option<Box<CallInputs>>,
    create: Option<Box<CreateInputs>>,
    _types: PhantomData<fn() -> (EVM, ERROR)>,
}

impl<EVM, ERROR> Default for SequencerHandler<EVM, ERROR> {
    fn default() -> Self {
        SequencerHandler {
            call: None,
            create: None,
            _types: PhantomData,
        }
    }
}

impl<EVM, ERROR> std::fmt::Debug for SequencerHandler<EVM, ERROR> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SequencerHandler")
            .field("call_box", &self.call.is_some())
            .field("create_box", &self.create.is_some())
            .finish()
    }
}

impl<EVM, ERROR> SequencerHandler<EVM, ERROR> {
    /// Keeps the box of a finished first frame for the next transaction.
    fn reclaim(&mut self, input: FrameInput) {
        match input {
            FrameInput::Call(inputs) => self.call = Some(inputs),
            FrameInput::Create(inputs) => self.create = Some(inputs),
            FrameInput::Empty => {}
        }
    }
}

impl<EVM, ERROR> Handler for SequencerHandler<EVM, ERROR>
where
    EVM: EvmTr<
            Context: ContextTr<Journal: JournalTr<State = EvmState>>,
            Frame = EthFrame<EthInterpreter>,
            Precompiles: PrecompileProvider<EVM::Context, Output = InterpreterResult>,
        >,
    ERROR: EvmTrError<EVM>,
{
    type Evm = EVM;
    type Error = ERROR;
    type HaltReason = HaltReason;

    /// revm's `first_frame_input`, with the inputs written into a kept box.
    fn first_frame_input(
        &mut self,
        evm: &mut EVM,
        gas: &mut GasTracker,
    ) -> Result<Option<FrameInit>, ERROR> {
        let ctx = evm.ctx_mut();
        let mut memory = SharedMemory::new_with_buffer(ctx.local().shared_memory_buffer().clone());
        memory.set_memory_limit(ctx.cfg().memory_limit());
        let frame_input = if ctx.cfg().is_amsterdam_eip2780_enabled() {
            match execution::create_init_frame(ctx, gas)? {
                Some(input) => input,
                None => return Ok(None),
            }
        } else {
            refilled_frame_input(ctx, gas, &mut self.call, &mut self.create)?
        };
        Ok(Some(FrameInit {
            depth: 0,
            memory,
            frame_input,
        }))
    }

    /// revm's `execution`, settling a call to a code-less account without a frame.
    fn execution(
        &mut self,
        evm: &mut EVM,
        checkpoint: JournalCheckpoint,
        gas: &mut GasTracker,
    ) -> Result<Option<FrameResult>, ERROR> {
        let Some(first) = self.first_frame_input(evm, gas)? else {
            execution::runtime_oog_unwind(evm.ctx(), checkpoint)?;
            return Ok(None);
        };
        evm.ctx().journal_mut().checkpoint_commit();

        let FrameInit {
            depth,
            memory,
            frame_input,
        } = first;
        let mut frame_result = match frame_input {
            FrameInput::Call(inputs) if is_plain_transfer(evm, &inputs) => {
                let result = plain_transfer(evm.ctx(), &inputs);
                self.call = Some(inputs);
                result
            }
            frame_input => self.run_exec_loop(
                evm,
                FrameInit {
                    depth,
                    memory,
                    frame_input,
                },
            )?,
        };
        self.last_frame_result(evm, &mut frame_result, gas)?;
        Ok(Some(frame_result))
    }

    /// revm's `run_exec_loop`, taking the first frame's input box back when it returns.
    fn run_exec_loop(
        &mut self,
        evm: &mut EVM,
        first_frame_input: FrameInit,
    ) -> Result<FrameResult, ERROR> {
        if let ItemOrResult::Result(result) = evm.frame_init(first_frame_input)? {
            return Ok(result);
        }
        loop {
            let result = match evm.frame_run()? {
                ItemOrResult::Item(init) => match evm.frame_init(init)? {
                    ItemOrResult::Item(_) => continue,
                    ItemOrResult::Result(result) => result,
                },
                ItemOrResult::Result(result) => {
                    // The frame that returned is the top one; at index 0 it is the first
                    // frame, whose input nothing reads any more (revm's next first frame
                    // overwrites it).
                    let stack = evm.frame_stack();
                    if stack.index() == Some(0) {
                        let input = std::mem::replace(&mut stack.get().input, FrameInput::Empty);
                        self.reclaim(input);
                    }
                    result
                }
            };
            if let Some(result) = evm.frame_return_result(result)? {
                return Ok(result);
            }
        }
    }
}

/// `Some(value)` in `slot`'s box (reused when there is one).
fn refill<T>(slot: &mut Option<Box<T>>, value: T) -> Box<T> {
    match slot.take() {
        Some(mut boxed) => {
            *boxed = value;
            boxed
        }
        None => Box::new(value),
    }
}

/// `revm_handler::execution::create_init_frame` without EIP-2780 (copied from revm 43),
/// writing into the kept boxes.
fn refilled_frame_input<CTX: ContextTr>(
    ctx: &mut CTX,
    gas: &GasTracker,
    call: &mut Option<Box<CallInputs>>,
    create: &mut Option<Box<CreateInputs>>,
) -> Result<FrameInput, <<CTX::Journal as JournalTr>::Database as Database>::Error> {
    let (tx, journal) = ctx.tx_journal_mut();
    let input = tx.input().clone();
    Ok(match tx.kind() {
        TxKind::Call(target_address) => {
            let account = &journal.load_account_with_code(target_address)?.info;
            let delegated_address = account.code.as_ref().and_then(Bytecode::eip7702_address);
            let mut known_bytecode = (
                account.code_hash(),
                account.code.clone().unwrap_or_default(),
            );
            if let Some(delegated_address) = delegated_address {
                let account = &journal.load_account_with_code(delegated_address)?.info;
                known_bytecode = (
                    account.code_hash(),
                    account.code.clone().unwrap_or_default(),
                );
            }
            FrameInput::Call(refill(
                call,
                CallInputs {
                    input: CallInput::Bytes(input),
                    gas_limit: gas.remaining(),
                    target_address,
                    bytecode_address: target_address,
                    known_bytecode,
                    caller: tx.caller(),
                    value: CallValue::Transfer(tx.value()),
                    scheme: CallScheme::Call,
                    is_static: false,
                    return_memory_offset: 0..0,
                    reservoir: gas.reservoir(),
                    charged_new_account_state_gas: false,
                },
            ))
        }
        TxKind::Create => FrameInput::Create(refill(
            create,
            CreateInputs::new(
                tx.caller(),
                CreateScheme::Create,
                tx.value(),
                input,
                gas.remaining(),
                gas.reservoir(),
            ),
        )),
    })
}

/// Whether the first frame would run no code: its target has none and is not a precompile.
///
/// Relies on the precompile provider's `contains` naming every address its `run` handles,
/// as revm's `EthPrecompiles` does; a custom provider that runs unlisted addresses would
/// need this check changed.
fn is_plain_transfer<EVM>(evm: &mut EVM, inputs: &CallInputs) -> bool
where
    EVM: EvmTr<Precompiles: PrecompileProvider<EVM::Context, Output = InterpreterResult>>,
{
    inputs.known_bytecode.1.is_empty()
        && !evm.ctx_precompiles().1.contains(&inputs.bytecode_address)
}

/// The first frame of a call to a code-less, non-precompile account: what
/// `EthFrame::make_call_frame` does there (copied from revm 43) at depth 0. It moves the
/// value (touching the target even for zero) and stops with all the gas left.
fn plain_transfer<CTX: ContextTr>(ctx: &mut CTX, inputs: &CallInputs) -> FrameResult {
    let gas = Gas::new_with_regular_gas_and_reservoir(inputs.gas_limit, inputs.reservoir);
    let journal = ctx.journal_mut();
    let checkpoint = journal.checkpoint();
    let failed = match inputs.value {
        CallValue::Transfer(value) => {
            journal.transfer_loaded(inputs.caller, inputs.target_address, value)
        }
        CallValue::Apparent(_) => None,
    };
    let result = match failed {
        Some(error) => {
            journal.checkpoint_revert(checkpoint);
            error.into()
        }
        None => {
            journal.checkpoint_commit();
            InstructionResult::Stop
        }
    };
    FrameResult::Call(CallOutcome {
        result: InterpreterResult {
            result,
            gas,
            output: Bytes::new(),
        },
        memory_offset: inputs.return_memory_offset.clone(),
        was_precompile_called: false,
        precompile_call_logs: Vec::new(),
        charged_new_account_state_gas: inputs.charged_new_account_state_gas,
    })
}

#[cfg(test)]
mod tests {
    use super::SequencerHandler;
    use crate::exec::cfg_env;
    use alloy_primitives::{Address, Bytes, U256, address, keccak256};
    use revm::{
        Context, ExecuteEvm, MainBuilder, MainContext, MainnetEvm,
        bytecode::Bytecode,
        context::{
            BlockEnv, CfgEnv, ContextSetters, Journal, TxEnv,
            either::Either,
            result::{EVMError, ExecutionResult, InvalidTransaction},
        },
        context_interface::transaction::{
            Authorization, RecoveredAuthority, RecoveredAuthorization,
        },
        database::InMemoryDB,
        handler::{Handler, MainnetHandler},
        state::{AccountInfo, EvmState},
    };
    use std::convert::Infallible;

    type TestEvm =
        MainnetEvm<Context<BlockEnv, TxEnv, CfgEnv, InMemoryDB, Journal<InMemoryDB>, ()>>;
    type TestError = EVMError<Infallible, InvalidTransaction>;
    type Outcome = Result<ExecutionResult, TestError>;

    const ALICE: Address = address!("00000000000000000000000000000000000a11ce");
    const BOB: Address = address!("0000000000000000000000000000000000000b0b");
    const COUNTER: Address = address!("00000000000000000000000000000000000c0de1");
    const REVERTER: Address = address!("00000000000000000000000000000000000c0de2");
    const LOGGER: Address = address!("00000000000000000000000000000000000c0de3");
    const PROXY: Address = address!("00000000000000000000000000000000000c0de4");
    const DELEGATED: Address = address!("0000000000000000000000000000000000de1e9a");
    const AUTHORITY: Address = address!("00000000000000000000000000000000000a0747");
    const IDENTITY: Address = address!("0000000000000000000000000000000000000004");
    const ECRECOVER: Address = address!("0000000000000000000000000000000000000001");

    /// `sstore(0, sload(0) + 1)`
    const COUNTER_CODE: &[u8] = &[0x60, 0x00, 0x54, 0x60, 0x01, 0x01, 0x60, 0x00, 0x55, 0x00];
    /// `revert(0, 0)`
    const REVERT_CODE: &[u8] = &[0x60, 0x00, 0x60, 0x00, 0xfd];
    /// `log1(0, 0, 0x2a)`
    const LOG_CODE: &[u8] = &[0x60, 0x2a, 0x60, 0x00, 0x60, 0x00, 0xa1, 0x00];
    /// `call(gas(), COUNTER, 0, 0, 0, 0, 0)`, then stop.
    const PROXY_CODE: &[u8] = &[
        0x60, 0x00, 0x60, 0x00, 0x60, 0x00, 0x60, 0x00, 0x60, 0x00, 0x73, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0c, 0xde, 0x01, 0x5a, 0xf1, 0x00,
    ];
    /// Init code that deploys the one-byte runtime `0x00`.
    const INIT_CODE: &[u8] = &[0x60, 0x00, 0x60, 0x00, 0x53, 0x60, 0x01, 0x60, 0x00, 0xf3];

    fn contract(db: &mut InMemoryDB, address: Address, code: &[u8]) {
        let code = Bytes::copy_from_slice(code);
        db.insert_account_info(
            address,
            AccountInfo {
                nonce: 1,
                code_hash: keccak256(&code),
                code: Some(Bytecode::new_raw(code)),
                ..AccountInfo::default()
            },
        );
    }

    fn evm() -> TestEvm {
        let mut db = InMemoryDB::default();
        let rich = AccountInfo {
            balance: U256::from(10u64).pow(U256::from(24)),
            ..AccountInfo::default()
        };
        db.insert_account_info(ALICE, rich.clone());
        db.insert_account_info(BOB, rich.clone());
        db.insert_account_info(AUTHORITY, rich);
        contract(&mut db, COUNTER, COUNTER_CODE);
        contract(&mut db, REVERTER, REVERT_CODE);
        contract(&mut db, LOGGER, LOG_CODE);
        contract(&mut db, PROXY, PROXY_CODE);
        // An EOA delegated to the counter (EIP-7702 designator).
        let mut designator = vec![0xef, 0x01, 0x00];
        designator.extend_from_slice(COUNTER.as_slice());
        let designator = Bytes::from(designator);
        db.insert_account_info(
            DELEGATED,
            AccountInfo {
                code_hash: keccak256(&designator),
                code: Some(Bytecode::new_raw(designator)),
                ..AccountInfo::default()
            },
        );
        Context::mainnet()
            .with_db(db)
            .with_cfg(cfg_env(901))
            .with_block(BlockEnv {
                number: U256::from(1),
                gas_limit: 30_000_000,
                ..BlockEnv::default()
            })
            .build_mainnet()
    }

    /// Alice's transactions, in order; the nonces count only the valid ones.
    fn transactions() -> Vec<TxEnv> {
        use alloy_primitives::TxKind::{Call, Create};
        let fresh = |i: u8| Address::repeat_byte(0x40 + i);
        let shapes: Vec<(alloy_primitives::TxKind, u64, Bytes, u64)> = vec![
            (Call(BOB), 1, Bytes::new(), 21_000),
            (Call(fresh(1)), 5, Bytes::new(), 21_000),
            (Call(fresh(2)), 0, Bytes::new(), 21_000),
            (Call(BOB), 0, Bytes::from_static(b"hello"), 30_000),
            (Call(COUNTER), 0, Bytes::new(), 60_000),
            (Call(COUNTER), 7, Bytes::new(), 60_000),
            (Call(COUNTER), 0, Bytes::new(), 23_000),
            (Call(REVERTER), 3, Bytes::new(), 60_000),
            (Call(LOGGER), 0, Bytes::new(), 60_000),
            (Call(PROXY), 0, Bytes::new(), 100_000),
            (Call(IDENTITY), 1, Bytes::from_static(b"echo"), 30_000),
            (Call(ECRECOVER), 0, Bytes::from_static(&[1; 128]), 30_000),
            (Call(DELEGATED), 2, Bytes::new(), 60_000),
            (Create, 0, Bytes::from_static(INIT_CODE), 100_000),
            (Create, 9, Bytes::from_static(INIT_CODE), 100_000),
            (Create, 0, Bytes::from_static(REVERT_CODE), 100_000),
            (Create, 0, Bytes::from_static(INIT_CODE), 53_100),
            // Below the intrinsic gas: refused before execution (nonce not used).
            (Call(BOB), 1, Bytes::new(), 20_000),
            (Call(fresh(1)), 1, Bytes::new(), 21_000),
            (Call(COUNTER), 0, Bytes::new(), 60_000),
        ];
        let mut nonce = 0;
        let mut txs = Vec::new();
        for (kind, value, data, gas_limit) in shapes {
            txs.push(TxEnv {
                tx_type: 2,
                caller: ALICE,
                gas_limit,
                gas_price: 1,
                gas_priority_fee: Some(0),
                kind,
                value: U256::from(value),
                data,
                nonce,
                chain_id: Some(901),
                ..TxEnv::default()
            });
            if gas_limit >= 21_000 {
                nonce += 1;
            }
        }
        // EIP-7702: the authority delegates to the logger, then Bob calls it.
        txs.push(TxEnv {
            tx_type: 4,
            caller: BOB,
            gas_limit: 100_000,
            gas_price: 1,
            gas_priority_fee: Some(0),
            kind: Call(AUTHORITY),
            nonce: 0,
            chain_id: Some(901),
            authorization_list: vec![Either::Right(RecoveredAuthorization::new_unchecked(
                Authorization {
                    chain_id: U256::from(901),
                    address: LOGGER,
                    nonce: 0,
                },
                RecoveredAuthority::Valid(AUTHORITY),
            ))],
            ..TxEnv::default()
        });
        txs.push(TxEnv {
            tx_type: 2,
            caller: BOB,
            gas_limit: 60_000,
            gas_price: 1,
            gas_priority_fee: Some(0),
            kind: Call(AUTHORITY),
            nonce: 1,
            chain_id: Some(901),
            ..TxEnv::default()
        });
        txs
    }

    /// Runs `txs` in `per_journal`-sized groups (one journal each, as in a mini-block)
    /// with `run`, returning every outcome and the state after each group.
    fn execute(
        txs: &[TxEnv],
        per_journal: usize,
        mut run: impl FnMut(&mut TestEvm) -> Outcome,
    ) -> (Vec<Outcome>, Vec<EvmState>) {
        let mut evm = evm();
        let mut outcomes = Vec::new();
        let mut states = Vec::new();
        for group in txs.chunks(per_journal) {
            for tx in group {
                evm.ctx.set_tx(tx.clone());
                outcomes.push(run(&mut evm));
            }
            let state = evm.finalize();
            revm::DatabaseCommit::commit(&mut evm.ctx.journaled_state.database, state.clone());
            states.push(state);
        }
        (outcomes, states)
    }

    #[test]
    fn same_results_and_state_as_revm_mainnet_handler() {
        let txs = transactions();
        for per_journal in [1, 4, txs.len()] {
            let (expected, expected_states) = execute(&txs, per_journal, |evm| {
                MainnetHandler::<TestEvm, TestError, _>::default().run(evm)
            });
            let mut handler = SequencerHandler::<TestEvm, TestError>::default();
            let (got, got_states) = execute(&txs, per_journal, |evm| handler.run(evm));
            for (i, (want, got)) in expected.iter().zip(&got).enumerate() {
                assert_eq!(want, got, "transaction {i}, {per_journal} per journal");
            }
            for (g, (want, got)) in expected_states.iter().zip(&got_states).enumerate() {
                let differ: Vec<_> = want
                    .keys()
                    .chain(got.keys())
                    .filter(|a| want.get(*a) != got.get(*a))
                    .collect();
                assert!(
                    differ.is_empty(),
                    "{per_journal} per journal, group {g}: state of {differ:?} differs"
                );
            }
            // The workload covers what it claims to.
            let ok = |o: &Outcome| matches!(o, Ok(r) if r.is_success());
            assert!(expected.iter().filter(|o| ok(o)).count() >= 15);
            assert!(
                expected
                    .iter()
                    .any(|o| matches!(o, Ok(ExecutionResult::Revert { .. })))
            );
            assert!(
                expected
                    .iter()
                    .any(|o| matches!(o, Ok(ExecutionResult::Halt { .. })))
            );
            assert!(expected.iter().any(|o| o.is_err()));
            assert!(
                expected
                    .iter()
                    .any(|o| matches!(o, Ok(r) if !r.logs().is_empty()))
            );
            assert!(
                handler.call.is_some() && handler.create.is_some(),
                "boxes kept"
            );
        }
    }
}
