//! A small blocking JSON-RPC client of the L1 node: the dozen methods the batcher and the
//! derivation use.
//!
//! **Written by hand** over `ureq` (already in the workspace) rather than with
//! `alloy-provider`, which would bring reqwest, hyper-util and tower into the build for
//! these calls; the batcher runs on a thread of its own and needs no async client.

use crate::error::L1Error;
use alloy_primitives::{Address, B256, Bytes, U256};
use serde::Deserialize;
use serde_json::{Value, json};
use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

/// A client of one L1 endpoint.
#[derive(Debug)]
pub struct L1Client {
    url: String,
    agent: ureq::Agent,
    next_id: AtomicU64,
}

/// The parts of an L1 block header the batcher reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct L1Block {
    /// Number.
    #[serde(with = "quantity_de")]
    pub number: u64,
    /// Hash.
    pub hash: B256,
    /// The parent's hash.
    #[serde(default)]
    pub parent_hash: B256,
    /// Timestamp (seconds).
    #[serde(default, with = "quantity_opt")]
    pub timestamp: Option<u64>,
    /// Base fee (wei).
    #[serde(default, with = "quantity_opt")]
    pub base_fee_per_gas: Option<u64>,
    /// Its transactions, when asked for in full.
    #[serde(default)]
    pub transactions: Vec<Value>,
}

/// An L1 transaction, as `eth_getBlockByNumber(.., true)` lists it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct L1Tx {
    /// Hash.
    pub hash: B256,
    /// Sender.
    pub from: Address,
    /// Recipient.
    pub to: Option<Address>,
    /// Calldata.
    pub input: Bytes,
    /// Blob versioned hashes (blob transactions).
    #[serde(default)]
    pub blob_versioned_hashes: Option<Vec<B256>>,
}

/// Where and how a transaction was included.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct L1Receipt {
    /// The including block's number.
    #[serde(with = "quantity_de")]
    pub block_number: u64,
    /// The including block's hash.
    pub block_hash: B256,
    /// 1 success, 0 reverted.
    #[serde(with = "quantity_de")]
    pub status: u64,
    /// Gas used.
    #[serde(with = "quantity_de")]
    pub gas_used: u64,
    /// Price paid per gas.
    #[serde(with = "quantity_de")]
    pub effective_gas_price: u64,
    /// Blob gas used (blob transactions).
    #[serde(default, with = "quantity_opt")]
    pub blob_gas_used: Option<u64>,
    /// Price paid per blob gas.
    #[serde(default, with = "quantity_opt")]
    pub blob_gas_price: Option<u64>,
}

mod quantity_de {
    use serde::{Deserialize, Deserializer};
    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let s = String::deserialize(d)?;
        super::parse_quantity(&s).map_err(serde::de::Error::custom)
    }
}

mod quantity_opt {
    use serde::{Deserialize, Deserializer};
    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(s) => super::parse_quantity(&s)
                .map(Some)
                .map_err(serde::de::Error::custom),
        }
    }
}

fn parse_quantity(s: &str) -> Result<u64, String> {
    let hex = s
        .strip_prefix("0x")
        .ok_or_else(|| format!("{s:?} is not a 0x quantity"))?;
    u64::from_str_radix(hex, 16).map_err(|e| format!("{s:?}: {e}"))
}

fn quantity(v: &Value, method: &'static str) -> Result<u64, L1Error> {
    let s = v.as_str().ok_or_else(|| L1Error::Decode {
        method,
        detail: format!("{v} is not a string"),
    })?;
    parse_quantity(s).map_err(|detail| L1Error::Decode { method, detail })
}

fn decode<T: for<'de> Deserialize<'de>>(v: Value, method: &'static str) -> Result<T, L1Error> {
    serde_json::from_value(v).map_err(|e| L1Error::Decode {
        method,
        detail: e.to_string(),
    })
}

impl L1Client {
    /// A client of `url`, each request bounded by `timeout`.
    pub fn new(url: &str, timeout: Duration) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build()
            .into();
        Self {
            url: url.to_owned(),
            agent,
            next_id: AtomicU64::new(1),
        }
    }

    /// The endpoint.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// One call.
    pub fn call(&self, method: &'static str, params: Value) -> Result<Value, L1Error> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let mut resp = self
            .agent
            .post(&self.url)
            .header("content-type", "application/json")
            .send(body.to_string())
            .map_err(|e| L1Error::Transport(format!("{method}: {e}")))?;
        let text = resp
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_string()
            .map_err(|e| L1Error::Transport(format!("{method}: {e}")))?;
        let mut v: Value = serde_json::from_str(&text).map_err(|e| L1Error::Decode {
            method,
            detail: format!(
                "not JSON ({e}): {}",
                text.chars().take(200).collect::<String>()
            ),
        })?;
        if let Some(err) = v.get("error") {
            return Err(L1Error::Rpc {
                code: err["code"].as_i64().unwrap_or(0),
                message: err["message"].as_str().unwrap_or_default().to_owned(),
                data: err["data"].as_str().and_then(|d| d.parse().ok()),
            });
        }
        Ok(v["result"].take())
    }

    /// `eth_chainId`.
    pub fn chain_id(&self) -> Result<u64, L1Error> {
        quantity(&self.call("eth_chainId", json!([]))?, "eth_chainId")
    }

    /// `eth_blockNumber`.
    pub fn block_number(&self) -> Result<u64, L1Error> {
        quantity(&self.call("eth_blockNumber", json!([]))?, "eth_blockNumber")
    }

    /// `eth_getBlockByNumber(tag, full)`; `None` when the node has no such block.
    pub fn block(&self, tag: &str, full: bool) -> Result<Option<L1Block>, L1Error> {
        let v = self.call("eth_getBlockByNumber", json!([tag, full]))?;
        if v.is_null() {
            return Ok(None);
        }
        decode(v, "eth_getBlockByNumber").map(Some)
    }

    /// The block numbered `n`.
    pub fn block_at(&self, n: u64, full: bool) -> Result<Option<L1Block>, L1Error> {
        self.block(&format!("{n:#x}"), full)
    }

    /// `eth_getTransactionCount(address, tag)`.
    pub fn nonce(&self, address: Address, tag: &str) -> Result<u64, L1Error> {
        let v = self.call("eth_getTransactionCount", json!([address, tag]))?;
        quantity(&v, "eth_getTransactionCount")
    }

    /// `eth_maxPriorityFeePerGas`.
    pub fn max_priority_fee(&self) -> Result<u64, L1Error> {
        quantity(
            &self.call("eth_maxPriorityFeePerGas", json!([]))?,
            "eth_maxPriorityFeePerGas",
        )
    }

    /// `eth_blobBaseFee`.
    pub fn blob_base_fee(&self) -> Result<u64, L1Error> {
        quantity(&self.call("eth_blobBaseFee", json!([]))?, "eth_blobBaseFee")
    }

    /// `eth_estimateGas` of a call from `from` to `to` with `data`, at `latest` (not
    /// `pending`: a pending version of the same post would make it look cheaper).
    pub fn estimate_gas(&self, from: Address, to: Address, data: &Bytes) -> Result<u64, L1Error> {
        let v = self.call(
            "eth_estimateGas",
            json!([{"from": from, "to": to, "input": data}, "latest"]),
        )?;
        quantity(&v, "eth_estimateGas")
    }

    /// `eth_call` at `latest`.
    pub fn eth_call(&self, to: Address, data: &Bytes) -> Result<Bytes, L1Error> {
        let v = self.call("eth_call", json!([{"to": to, "input": data}, "latest"]))?;
        decode(v, "eth_call")
    }

    /// `eth_call` at `latest` from `from`.
    pub fn eth_call_from(
        &self,
        from: Address,
        to: Address,
        data: &Bytes,
    ) -> Result<Bytes, L1Error> {
        let v = self.call(
            "eth_call",
            json!([{"from": from, "to": to, "input": data}, "latest"]),
        )?;
        decode(v, "eth_call")
    }

    /// The hash of the transaction that emitted the first log of `address` with `topics`
    /// in L1 block `block`.
    pub fn log_tx(
        &self,
        block: u64,
        address: Address,
        topics: &[B256],
    ) -> Result<Option<B256>, L1Error> {
        let v = self.call(
            "eth_getLogs",
            json!([{"fromBlock": format!("{block:#x}"), "toBlock": format!("{block:#x}"),
                    "address": address, "topics": topics}]),
        )?;
        match v.as_array().and_then(|logs| logs.first()) {
            Some(log) => decode(log["transactionHash"].clone(), "eth_getLogs").map(Some),
            None => Ok(None),
        }
    }

    /// Signs with `key` an EIP-1559 call of `to` with `data` (gas estimated, the fee twice
    /// the base fee plus the node's tip, nonce `pending`), sends it, and waits up to
    /// `wait` for its receipt. For one-off transactions (the `peregrine preconf prove`
    /// and `watch` tools), not for the batcher's own, which it tracks itself.
    pub fn send_call(
        &self,
        key: &B256,
        to: Address,
        data: Bytes,
        wait: Duration,
    ) -> Result<(B256, L1Receipt), L1Error> {
        use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
        use alloy_eips::eip2718::Encodable2718;
        use alloy_primitives::TxKind;
        use alloy_signer::SignerSync;
        let signer =
            alloy_signer_local::PrivateKeySigner::from_bytes(key).map_err(|e| L1Error::Decode {
                method: "send_call",
                detail: format!("not a private key: {e}"),
            })?;
        let from = signer.address();
        let gas = self.estimate_gas(from, to, &data)?;
        let base = self
            .block("latest", false)?
            .and_then(|b| b.base_fee_per_gas)
            .unwrap_or(1_000_000_000);
        let tip = self.max_priority_fee()?;
        let tx = TxEip1559 {
            chain_id: self.chain_id()?,
            nonce: self.nonce(from, "pending")?,
            gas_limit: gas + gas / 5,
            max_fee_per_gas: u128::from(base * 2 + tip),
            max_priority_fee_per_gas: u128::from(tip),
            to: TxKind::Call(to),
            value: U256::ZERO,
            access_list: Default::default(),
            input: data,
        };
        let sig = signer
            .sign_hash_sync(&tx.signature_hash())
            .map_err(|e| L1Error::Decode {
                method: "send_call",
                detail: format!("cannot sign: {e}"),
            })?;
        let env = TxEnvelope::Eip1559(tx.into_signed(sig));
        let hash = *env.tx_hash();
        self.send_raw(&env.encoded_2718())?;
        let deadline = std::time::Instant::now() + wait;
        loop {
            if let Some(r) = self.receipt(hash)? {
                return Ok((hash, r));
            }
            if std::time::Instant::now() >= deadline {
                return Err(L1Error::Transport(format!(
                    "{hash} not included after {wait:?}"
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The input of transaction `hash`.
    pub fn tx_input(&self, hash: B256) -> Result<Option<Bytes>, L1Error> {
        let v = self.call("eth_getTransactionByHash", json!([hash]))?;
        if v.is_null() {
            return Ok(None);
        }
        decode(v["input"].clone(), "eth_getTransactionByHash").map(Some)
    }

    /// `eth_sendRawTransaction`. "Already known" counts as sent.
    pub fn send_raw(&self, raw: &[u8]) -> Result<(), L1Error> {
        match self.call(
            "eth_sendRawTransaction",
            json!([Bytes::copy_from_slice(raw)]),
        ) {
            Ok(_) => Ok(()),
            Err(L1Error::Rpc { message, .. })
                if message.to_ascii_lowercase().contains("already known")
                    || message.to_ascii_lowercase().contains("already imported") =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// `eth_getTransactionReceipt`; `None` while not included.
    pub fn receipt(&self, hash: B256) -> Result<Option<L1Receipt>, L1Error> {
        let v = self.call("eth_getTransactionReceipt", json!([hash]))?;
        if v.is_null() {
            return Ok(None);
        }
        decode(v, "eth_getTransactionReceipt").map(Some)
    }

    /// anvil's `anvil_getBlobsByTransactionHash`: the blobs of a blob transaction.
    pub fn anvil_blobs(&self, hash: B256) -> Result<Vec<Bytes>, L1Error> {
        let v = self.call("anvil_getBlobsByTransactionHash", json!([hash]))?;
        if v.is_null() {
            return Ok(Vec::new());
        }
        decode(v, "anvil_getBlobsByTransactionHash")
    }

    /// The balance of `address` at `latest`.
    pub fn balance(&self, address: Address) -> Result<U256, L1Error> {
        let v = self.call("eth_getBalance", json!([address, "latest"]))?;
        decode(v, "eth_getBalance")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_parse_strictly() {
        assert_eq!(parse_quantity("0x1f").unwrap(), 31);
        assert!(parse_quantity("31").is_err());
        assert!(parse_quantity("0xzz").is_err());
    }

    #[test]
    fn an_unreachable_node_is_a_transport_error() {
        let c = L1Client::new("http://127.0.0.1:9", Duration::from_secs(2));
        assert!(matches!(c.chain_id(), Err(L1Error::Transport(_))));
    }
}
