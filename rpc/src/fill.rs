//! `eth_fillTransaction` (geth's): a transaction request completed with what the node
//! would use, unsigned, so a wallet signs it without asking for each field on its own.
//!
//! viem's `prepareTransactionRequest` (behind `sendTransaction`) asks for it first and,
//! where a node lacks it, falls back to four calls in a row (pending nonce, latest block,
//! priority fee, gas estimate): one round trip instead of four on every send.
//!
//! Defaults, as geth fills them: `nonce` the sender's pending nonce (counting what ingress
//! accepted), fees EIP-1559 (`maxPriorityFeePerGas` the node's suggestion,
//! `maxFeePerGas` twice the pending base fee plus the tip) unless `gasPrice` is given, and
//! `gas` estimated with those fields filled in.

use crate::{
    call,
    error::{RpcError, RpcResult},
    eth::EthHandler,
};
use alloy_consensus::{SignableTransaction, TxEip1559, TxEip2930, TxEip7702, TxEnvelope, TxLegacy};
use alloy_primitives::{Bytes, Signature, TxKind, U256};
use alloy_rpc_types_eth::{Transaction, TransactionRequest};
use serde::Serialize;

/// `eth_fillTransaction`'s answer (geth's `SignTransactionResult`).
#[derive(Debug, Clone, Serialize)]
pub struct FilledTransaction {
    /// The unsigned transaction, EIP-2718 encoded with a zero signature.
    pub raw: Bytes,
    /// The same as a transaction object.
    pub tx: Transaction,
}

impl EthHandler {
    /// Fills `req` in (see the module docs).
    pub(crate) async fn fill(&self, mut req: TransactionRequest) -> RpcResult<FilledTransaction> {
        let from = req
            .from
            .ok_or_else(|| RpcError::InvalidParams("`from` is required".into()))?;
        let chain_id = self.chain.chain_id;
        if req.chain_id.is_some_and(|id| id != chain_id) {
            return Err(RpcError::InvalidParams(format!(
                "chainId {} is not this chain's ({chain_id})",
                req.chain_id.unwrap_or_default()
            )));
        }
        if req.blob_versioned_hashes.is_some() || req.sidecar.is_some() {
            return Err(RpcError::InvalidParams(
                "blob transactions are not accepted by this chain".into(),
            ));
        }
        req.chain_id = Some(chain_id);
        if req.nonce.is_none() {
            req.nonce = Some(self.chain.pending_nonce(&from));
        }
        let legacy = req.gas_price.is_some();
        if legacy {
            if req.max_fee_per_gas.is_some() || req.max_priority_fee_per_gas.is_some() {
                return Err(RpcError::InvalidParams(
                    "both gasPrice and (maxFeePerGas or maxPriorityFeePerGas) specified".into(),
                ));
            }
        } else {
            let tip = req
                .max_priority_fee_per_gas
                .unwrap_or(self.cfg.priority_fee);
            let cap = req
                .max_fee_per_gas
                .unwrap_or(2 * u128::from(self.writes.pending_base_fee(&self.chain)) + tip);
            if cap < tip {
                return Err(RpcError::InvalidParams(format!(
                    "maxFeePerGas ({cap}) < maxPriorityFeePerGas ({tip})"
                )));
            }
            req.max_priority_fee_per_gas = Some(tip);
            req.max_fee_per_gas = Some(cap);
        }
        if req.gas.is_none() {
            let (handler, estimate) = (self.clone(), req.clone());
            let deadline = call::RequestDeadline::after(std::time::Duration::from_millis(
                self.cfg.evm_timeout_ms,
            ));
            let gas = self
                .calls
                .run(move || call::estimate_gas(&handler, estimate, None, deadline))
                .await?;
            req.gas = Some(gas);
        }
        let envelope = build(req, chain_id, legacy)?;
        let tx = crate::convert::rpc_tx(&envelope, from, None);
        Ok(FilledTransaction {
            raw: alloy_eips::eip2718::Encodable2718::encoded_2718(&envelope).into(),
            tx,
        })
    }
}

/// The unsigned transaction of a filled request, with a zero signature.
fn build(req: TransactionRequest, chain_id: u64, legacy: bool) -> RpcResult<TxEnvelope> {
    let nonce = req.nonce.unwrap_or_default();
    let gas_limit = req.gas.unwrap_or_default();
    let to = req.to.unwrap_or(TxKind::Create);
    let value = req.value.unwrap_or(U256::ZERO);
    let input = req.input.input().cloned().unwrap_or_default();
    let access_list = req.access_list.clone().unwrap_or_default();
    let zero = Signature::new(U256::ZERO, U256::ZERO, false);
    Ok(if let Some(authorization_list) = req.authorization_list {
        let TxKind::Call(to) = to else {
            return Err(RpcError::InvalidParams(
                "an EIP-7702 transaction needs a `to`".into(),
            ));
        };
        TxEip7702 {
            chain_id,
            nonce,
            gas_limit,
            max_fee_per_gas: req.max_fee_per_gas.unwrap_or_default(),
            max_priority_fee_per_gas: req.max_priority_fee_per_gas.unwrap_or_default(),
            to,
            value,
            access_list,
            authorization_list,
            input,
        }
        .into_signed(zero)
        .into()
    } else if legacy && !access_list.0.is_empty() {
        TxEip2930 {
            chain_id,
            nonce,
            gas_price: req.gas_price.unwrap_or_default(),
            gas_limit,
            to,
            value,
            access_list,
            input,
        }
        .into_signed(zero)
        .into()
    } else if legacy {
        TxLegacy {
            chain_id: Some(chain_id),
            nonce,
            gas_price: req.gas_price.unwrap_or_default(),
            gas_limit,
            to,
            value,
            input,
        }
        .into_signed(zero)
        .into()
    } else {
        TxEip1559 {
            chain_id,
            nonce,
            gas_limit,
            max_fee_per_gas: req.max_fee_per_gas.unwrap_or_default(),
            max_priority_fee_per_gas: req.max_priority_fee_per_gas.unwrap_or_default(),
            to,
            value,
            access_list,
            input,
        }
        .into_signed(zero)
        .into()
    })
}
