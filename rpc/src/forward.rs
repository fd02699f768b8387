//! Where a node's writes go ([`Writes`]): into its own sequencer ([`TxSink`]), or, on a
//! replica, forwarded to the sequencer ([`Forwarder`]) over one WebSocket connection,
//! opened on first use and again after it drops. The sequencer's answers, results and
//! errors alike, are passed on as they came: a forwarded `eth_sendRawTransactionSync`
//! answers with the sequencer's own signed preconfirmation.

use crate::error::RpcError;
use alloy_primitives::{B256, Bytes};
use jsonrpsee::core::params::ArrayParams;
use jsonrpsee_core::client::{ClientT, Error as ClientError};
use jsonrpsee_ws_client::{WsClient, WsClientBuilder};
use peregrine_chain::{Chain, TxSink};
use serde_json::value::RawValue;
use std::{sync::Arc, time::Duration};

/// Where `eth_sendRawTransaction` and `eth_sendRawTransactionSync` go.
#[derive(Debug, Clone)]
pub enum Writes {
    /// This node sequences them (the sequencer's ingress).
    Local(Arc<dyn TxSink>),
    /// A replica: they go to the sequencer.
    Forward(Arc<Forwarder>),
}

impl Writes {
    /// The base fee a transaction sent now pays (the open block's, or the next block's).
    pub(crate) fn pending_base_fee(&self, chain: &Chain) -> u64 {
        match self {
            Writes::Local(ingress) => ingress.pending_base_fee(),
            Writes::Forward(f) => {
                if let Some(ctx) = chain.pending_view().open.ctx {
                    return ctx.base_fee;
                }
                let head = chain.head().header;
                peregrine_chain::block::next_base_fee(
                    head.gas_used,
                    head.gas_limit,
                    head.base_fee_per_gas.unwrap_or(f.min_base_fee),
                    f.min_base_fee,
                )
            }
        }
    }

    /// The lowest base fee of the chain.
    pub(crate) fn min_base_fee(&self) -> u64 {
        match self {
            Writes::Local(ingress) => ingress.min_base_fee(),
            Writes::Forward(f) => f.min_base_fee,
        }
    }
}

/// A JSON-RPC client of the sequencer, for writes.
pub struct Forwarder {
    url: String,
    /// The sequencer's lowest base fee (its block 0's).
    min_base_fee: u64,
    timeout: Duration,
    client: tokio::sync::Mutex<Option<Arc<WsClient>>>,
}

impl std::fmt::Debug for Forwarder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forwarder")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Forwarder {
    /// Forwards to the sequencer at `url` (`ws://`), each call waiting at most `timeout`.
    pub fn new(url: String, min_base_fee: u64, timeout: Duration) -> Self {
        Self {
            url,
            min_base_fee,
            timeout,
            client: tokio::sync::Mutex::new(None),
        }
    }

    /// The connected client, connecting if there is none or it dropped.
    async fn client(&self) -> Result<Arc<WsClient>, RpcError> {
        let mut slot = self.client.lock().await;
        if let Some(c) = slot.as_ref().filter(|c| c.is_connected()) {
            return Ok(c.clone());
        }
        let client = WsClientBuilder::default()
            .request_timeout(self.timeout)
            .connection_timeout(self.timeout)
            .build(&self.url)
            .await
            .map_err(|e| RpcError::Upstream(format!("cannot reach the sequencer: {e}")))?;
        let client = Arc::new(client);
        *slot = Some(client.clone());
        Ok(client)
    }

    /// Calls `method` on the sequencer with `raw` (and `extra` params), returning its
    /// answer as it came.
    async fn call(
        &self,
        method: &str,
        raw: &Bytes,
        extra: Option<serde_json::Value>,
    ) -> Result<Box<RawValue>, RpcError> {
        let client = self.client().await?;
        let mut params = ArrayParams::new();
        let pushed = params.insert(raw).and_then(|()| match extra {
            Some(v) => params.insert(v),
            None => Ok(()),
        });
        pushed.map_err(|e| RpcError::InvalidParams(e.to_string()))?;
        client.request(method, params).await.map_err(|e| match e {
            ClientError::Call(e) => RpcError::Forwarded(e),
            other => RpcError::Upstream(format!("the sequencer did not answer: {other}")),
        })
    }

    /// `eth_sendRawTransaction` on the sequencer; once accepted there, the transaction
    /// counts as in flight on `chain` until it is applied ([`Chain::note_forwarded`]).
    pub(crate) async fn send(&self, chain: &Chain, raw: &Bytes) -> Result<B256, RpcError> {
        let answer = self.call("eth_sendRawTransaction", raw, None).await?;
        let hash = serde_json::from_str(answer.get())
            .map_err(|e| RpcError::Upstream(format!("the sequencer answered {answer}: {e}")))?;
        note(chain, raw);
        Ok(hash)
    }

    /// `eth_sendRawTransactionSync` on the sequencer: its receipt and preconfirmation.
    pub(crate) async fn send_sync(
        &self,
        chain: &Chain,
        raw: &Bytes,
        timeout_ms: Option<serde_json::Value>,
    ) -> Result<Box<RawValue>, RpcError> {
        let answer = self
            .call("eth_sendRawTransactionSync", raw, timeout_ms)
            .await?;
        note(chain, raw);
        Ok(answer)
    }
}

/// How long a forwarded write counts as in flight at most, if the stream never brings it
/// (the sequencer dropped it, or the replica is cut off).
const FORWARDED_HOLD: Duration = Duration::from_secs(2);

/// Counts a write the sequencer accepted as in flight here (read-your-writes). One that
/// does not decode or recover here is not counted.
fn note(chain: &Chain, raw: &Bytes) {
    use alloy_consensus::transaction::SignerRecoverable as _;
    use alloy_eips::eip2718::Decodable2718 as _;
    let Ok(tx) = alloy_consensus::TxEnvelope::decode_2718(&mut raw.as_ref()) else {
        return;
    };
    let Ok(sender) = tx.recover_signer() else {
        return;
    };
    if let Err(e) = chain.note_forwarded(&tx, sender, FORWARDED_HOLD) {
        tracing::warn!(error = %e, "cannot look up a forwarded transaction");
    }
}
