//! EVM execution with revm (Prague rules) over the in-memory [`WorldState`].

use crate::{
    block::BlockContext, error::StoreError, hashes::BlockHashes, state::WorldState,
    store::StoreReader,
};
use alloy_consensus::{Eip658Value, Receipt, ReceiptEnvelope, ReceiptWithBloom, TxType};
use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use alloy_trie::KECCAK_EMPTY;
use revm::{
    Context, Database, DatabaseRef, MainBuilder, MainContext, MainnetEvm,
    bytecode::Bytecode,
    context::{
        BlockEnv, CfgEnv, ContextSetters, TxEnv,
        result::{EVMError, ExecutionResult, InvalidTransaction},
    },
    context_interface::block::BlobExcessGasAndPrice,
    primitives::hardfork::SpecId,
    state::AccountInfo,
};
use std::{convert::Infallible, sync::Arc};

pub mod handler;

pub use handler::SequencerHandler;

/// The hardfork Peregrine executes.
pub const SPEC: SpecId = SpecId::PRAGUE;

/// The database the sequencer loop executes against: the world state it owns plus the
/// recent block hashes (for `BLOCKHASH`).
#[derive(Debug)]
pub struct SequencerDb {
    /// The sequencer's own copy of the state.
    pub state: WorldState,
    /// Recent block hashes, filled by the chain service as blocks seal.
    pub hashes: Arc<BlockHashes>,
}

impl Database for SequencerDb {
    type Error = Infallible;

    fn basic(&mut self, address: Address) -> Result<Option<AccountInfo>, Self::Error> {
        Ok(self.state.account_info(&address))
    }

    fn code_by_hash(&mut self, code_hash: B256) -> Result<Bytecode, Self::Error> {
        Ok(self
            .state
            .code_by_hash(&code_hash)
            .cloned()
            .unwrap_or_default())
    }

    fn storage(&mut self, address: Address, index: U256) -> Result<U256, Self::Error> {
        Ok(self.state.storage(&address, &index))
    }

    fn block_hash(&mut self, number: u64) -> Result<B256, Self::Error> {
        Ok(self.hashes.wait_for(number))
    }
}

/// A read-only view of the sealed head state in redb (for `latest` calls).
#[derive(Debug, Clone, Copy)]
pub struct StoreDb<'a> {
    /// The read transaction pinning the head.
    pub reader: &'a StoreReader,
    /// Recent block hashes.
    pub hashes: &'a BlockHashes,
}

impl DatabaseRef for StoreDb<'_> {
    type Error = StoreError;

    fn basic_ref(&self, address: Address) -> Result<Option<AccountInfo>, Self::Error> {
        let Some((nonce, balance, code_hash)) = self.reader.account(&address)? else {
            return Ok(None);
        };
        let code = match code_hash {
            KECCAK_EMPTY => None,
            hash => self.reader.code(&hash)?.map(Bytecode::new_raw),
        };
        Ok(Some(AccountInfo {
            balance,
            nonce,
            code_hash,
            account_id: None,
            code,
        }))
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> Result<Bytecode, Self::Error> {
        Ok(self
            .reader
            .code(&code_hash)?
            .map(Bytecode::new_raw)
            .unwrap_or_default())
    }

    fn storage_ref(&self, address: Address, index: U256) -> Result<U256, Self::Error> {
        self.reader.storage(&address, &index)
    }

    fn block_hash_ref(&self, number: u64) -> Result<B256, Self::Error> {
        Ok(self.hashes.get(number).unwrap_or_default())
    }
}

impl revm::database_interface::DBErrorMarker for StoreError {}

/// revm's block environment for `ctx`.
pub fn block_env(ctx: &BlockContext) -> BlockEnv {
    BlockEnv {
        number: U256::from(ctx.number),
        beneficiary: ctx.beneficiary,
        timestamp: U256::from(ctx.timestamp),
        gas_limit: ctx.gas_limit,
        basefee: ctx.base_fee,
        difficulty: U256::ZERO,
        prevrandao: Some(ctx.prevrandao),
        blob_excess_gas_and_price: Some(BlobExcessGasAndPrice::new(0, 1)),
        ..Default::default()
    }
}

/// The `PREVRANDAO` of block `number`: keccak256(chain id ‖ number), big-endian u64s.
pub fn prevrandao(chain_id: u64, number: u64) -> B256 {
    let mut buf = [0u8; 16];
    buf[..8].copy_from_slice(&chain_id.to_be_bytes());
    buf[8..].copy_from_slice(&number.to_be_bytes());
    keccak256(buf)
}

/// revm's configuration for this chain.
pub fn cfg_env(chain_id: u64) -> CfgEnv {
    let mut cfg = CfgEnv::new_with_spec(SPEC);
    cfg.chain_id = chain_id;
    cfg
}

/// The sequencer loop's EVM type.
pub type SequencerEvm =
    MainnetEvm<Context<BlockEnv, TxEnv, CfgEnv, SequencerDb, revm::Journal<SequencerDb>, ()>>;

/// The sequencer loop's handler: revm's mainnet rules, reusing the first frame's box.
pub type SequencerEvmHandler =
    SequencerHandler<SequencerEvm, EVMError<Infallible, InvalidTransaction>>;

/// Executes `tx` in `evm`'s open journal: revm's `transact_one`, run by `handler` (which
/// makes no heap allocation of its own; see [`handler`]).
pub fn transact(
    evm: &mut SequencerEvm,
    handler: &mut SequencerEvmHandler,
    tx: TxEnv,
) -> Result<ExecutionResult, EVMError<Infallible, InvalidTransaction>> {
    use revm::handler::Handler;
    evm.ctx.set_tx(tx);
    handler.run(evm)
}

/// Builds the sequencer loop's EVM over `db`.
pub fn sequencer_evm(db: SequencerDb, chain_id: u64, block: &BlockContext) -> SequencerEvm {
    Context::mainnet()
        .with_db(db)
        .with_cfg(cfg_env(chain_id))
        .with_block(block_env(block))
        .build_mainnet()
}

/// Builds the receipt of an executed transaction.
pub fn receipt(
    tx_type: TxType,
    result: &ExecutionResult,
    cumulative_gas_used: u64,
) -> ReceiptEnvelope {
    let receipt = Receipt {
        status: Eip658Value::Eip658(result.is_success()),
        cumulative_gas_used,
        logs: result.logs().to_vec(),
    };
    let with_bloom = ReceiptWithBloom::from(receipt);
    match tx_type {
        TxType::Legacy => ReceiptEnvelope::Legacy(with_bloom),
        TxType::Eip2930 => ReceiptEnvelope::Eip2930(with_bloom),
        TxType::Eip1559 => ReceiptEnvelope::Eip1559(with_bloom),
        TxType::Eip4844 => ReceiptEnvelope::Eip4844(with_bloom),
        TxType::Eip7702 => ReceiptEnvelope::Eip7702(with_bloom),
    }
}

/// Returns the output of a call, or the revert data.
pub fn output(result: &ExecutionResult) -> Bytes {
    result.output().cloned().unwrap_or_default()
}
