//! Test helpers (feature `test-utils`).

use crate::block::BlockContext;
use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;

/// A block context for tests and benchmarks: block `number`, base fee 0.001 gwei, gas
/// limit 30M.
pub fn block_context(number: u64) -> BlockContext {
    BlockContext {
        number,
        timestamp: 1_700_000_000 + number,
        base_fee: 1_000_000,
        gas_limit: 30_000_000,
        beneficiary: Address::repeat_byte(0xbe),
        prevrandao: B256::repeat_byte(number as u8),
    }
}

/// A signed EIP-1559 transfer: 21 000 gas, fee cap 1 gwei, no tip.
pub fn transfer(
    signer: &PrivateKeySigner,
    chain_id: u64,
    nonce: u64,
    to: Address,
    value: U256,
) -> TxEnvelope {
    call(signer, chain_id, nonce, to, value, Bytes::new(), 21_000)
}

/// A signed EIP-1559 call of `to` with `input`: fee cap 1 gwei, no tip.
pub fn call(
    signer: &PrivateKeySigner,
    chain_id: u64,
    nonce: u64,
    to: Address,
    value: U256,
    input: Bytes,
    gas_limit: u64,
) -> TxEnvelope {
    let tx = TxEip1559 {
        chain_id,
        nonce,
        gas_limit,
        max_fee_per_gas: 1_000_000_000,
        max_priority_fee_per_gas: 0,
        to: TxKind::Call(to),
        value,
        access_list: Default::default(),
        input,
    };
    let sig = signer
        .sign_hash_sync(&tx.signature_hash())
        .expect("local signing cannot fail");
    TxEnvelope::from(tx.into_signed(sig))
}
