//! The JSON-RPC method table (names are the Ethereum ones, a contract with every client).

use alloy_primitives::{Address, B256, Bytes, U64, U256};
use alloy_rpc_types_eth::{
    Block, BlockId, BlockNumberOrTag, FeeHistory, Filter, Log, Transaction, TransactionReceipt,
    TransactionRequest,
};
use jsonrpsee::proc_macros::rpc;
use peregrine_preconf::Preconfirmation;
use serde::Serialize;

use crate::error::RpcError;

/// Status of a transaction that is not (yet) in a sealed block.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TransactionStatus {
    /// `pending` (executed, block not sealed yet), `included`, `queued` (nonce gap),
    /// `dropped`, or `unknown`.
    pub status: &'static str,
    /// Block number for `pending` and `included`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block_number: Option<U64>,
    /// Why, for `queued` and `dropped`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `eth_sendRawTransactionSync`'s answer: the receipt (as `eth_getTransactionReceipt`
/// writes it) with the signed preconfirmation in a `preconfirmation` field.
#[derive(Debug, Clone, Serialize)]
pub struct PreconfirmedReceipt {
    /// The receipt's fields, at the top level.
    #[serde(flatten)]
    pub receipt: TransactionReceipt,
    /// The preconfirmation's JSON form.
    pub preconfirmation: Preconfirmation,
}

/// The answer of `eth_sendRawTransactionSync`: this node's, or, on a replica, the
/// sequencer's as it came.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum SyncReceipt {
    /// Preconfirmed here.
    Local(Box<PreconfirmedReceipt>),
    /// Forwarded to the sequencer: its answer, unchanged.
    Forwarded(Box<serde_json::value::RawValue>),
}

/// Ethereum JSON-RPC methods served by Peregrine.
#[rpc(server)]
pub trait EthApi {
    /// `eth_chainId`
    #[method(name = "eth_chainId")]
    fn chain_id(&self) -> Result<U64, RpcError>;
    /// `net_version`
    #[method(name = "net_version")]
    fn net_version(&self) -> Result<String, RpcError>;
    /// `web3_clientVersion`
    #[method(name = "web3_clientVersion")]
    fn client_version(&self) -> Result<String, RpcError>;
    /// `eth_blockNumber`
    #[method(name = "eth_blockNumber")]
    fn block_number(&self) -> Result<U64, RpcError>;
    /// `eth_syncing`
    #[method(name = "eth_syncing")]
    fn syncing(&self) -> Result<bool, RpcError>;
    /// `eth_accounts` (always empty: Peregrine holds no user keys).
    #[method(name = "eth_accounts")]
    fn accounts(&self) -> Result<Vec<Address>, RpcError>;
    /// `eth_getBalance`
    #[method(name = "eth_getBalance")]
    fn balance(&self, address: Address, block: Option<BlockId>) -> Result<U256, RpcError>;
    /// `eth_getTransactionCount`
    #[method(name = "eth_getTransactionCount")]
    fn transaction_count(&self, address: Address, block: Option<BlockId>) -> Result<U64, RpcError>;
    /// `eth_getCode`
    #[method(name = "eth_getCode")]
    fn code(&self, address: Address, block: Option<BlockId>) -> Result<Bytes, RpcError>;
    /// `eth_getStorageAt`
    #[method(name = "eth_getStorageAt")]
    fn storage_at(
        &self,
        address: Address,
        slot: U256,
        block: Option<BlockId>,
    ) -> Result<B256, RpcError>;
    /// `eth_call`
    #[method(name = "eth_call")]
    async fn call(
        &self,
        request: TransactionRequest,
        block: Option<BlockId>,
    ) -> Result<Bytes, RpcError>;
    /// `eth_estimateGas`
    #[method(name = "eth_estimateGas")]
    async fn estimate_gas(
        &self,
        request: TransactionRequest,
        block: Option<BlockId>,
    ) -> Result<U64, RpcError>;
    /// `eth_fillTransaction` (geth's): the request completed with nonce, fees and gas,
    /// unsigned.
    #[method(name = "eth_fillTransaction")]
    async fn fill_transaction(
        &self,
        request: TransactionRequest,
    ) -> Result<crate::fill::FilledTransaction, RpcError>;
    /// `eth_gasPrice`
    #[method(name = "eth_gasPrice")]
    fn gas_price(&self) -> Result<U256, RpcError>;
    /// `eth_maxPriorityFeePerGas`
    #[method(name = "eth_maxPriorityFeePerGas")]
    fn max_priority_fee(&self) -> Result<U256, RpcError>;
    /// `eth_feeHistory`
    #[method(name = "eth_feeHistory", blocking)]
    fn fee_history(
        &self,
        block_count: U64,
        newest: BlockNumberOrTag,
        percentiles: Option<Vec<f64>>,
    ) -> Result<FeeHistory, RpcError>;
    /// `eth_sendRawTransaction`
    #[method(name = "eth_sendRawTransaction", with_extensions)]
    async fn send_raw_transaction(&self, raw: Bytes) -> Result<B256, RpcError>;
    /// `eth_getTransactionByHash`
    #[method(name = "eth_getTransactionByHash")]
    fn transaction_by_hash(&self, hash: B256) -> Result<Option<Transaction>, RpcError>;
    /// `eth_getTransactionReceipt`
    #[method(name = "eth_getTransactionReceipt")]
    fn transaction_receipt(&self, hash: B256) -> Result<Option<TransactionReceipt>, RpcError>;
    /// `eth_getBlockByNumber`
    #[method(name = "eth_getBlockByNumber")]
    fn block_by_number(
        &self,
        number: BlockNumberOrTag,
        full: bool,
    ) -> Result<Option<Block>, RpcError>;
    /// `eth_getBlockByHash`
    #[method(name = "eth_getBlockByHash")]
    fn block_by_hash(&self, hash: B256, full: bool) -> Result<Option<Block>, RpcError>;
    /// `eth_getTransactionByBlockNumberAndIndex`
    #[method(name = "eth_getTransactionByBlockNumberAndIndex")]
    fn transaction_by_block_number_and_index(
        &self,
        number: BlockNumberOrTag,
        index: U64,
    ) -> Result<Option<Transaction>, RpcError>;
    /// `eth_getTransactionByBlockHashAndIndex`
    #[method(name = "eth_getTransactionByBlockHashAndIndex")]
    fn transaction_by_block_hash_and_index(
        &self,
        hash: B256,
        index: U64,
    ) -> Result<Option<Transaction>, RpcError>;
    /// `eth_getBlockTransactionCountByNumber`
    #[method(name = "eth_getBlockTransactionCountByNumber")]
    fn block_tx_count_by_number(&self, number: BlockNumberOrTag) -> Result<Option<U64>, RpcError>;
    /// `eth_getBlockTransactionCountByHash`
    #[method(name = "eth_getBlockTransactionCountByHash")]
    fn block_tx_count_by_hash(&self, hash: B256) -> Result<Option<U64>, RpcError>;
    /// `eth_getBlockReceipts`
    #[method(name = "eth_getBlockReceipts")]
    fn block_receipts(&self, block: BlockId) -> Result<Option<Vec<TransactionReceipt>>, RpcError>;
    /// `eth_getLogs`
    #[method(name = "eth_getLogs", blocking)]
    fn logs(&self, filter: Filter) -> Result<Vec<Log>, RpcError>;
    /// `eth_sendRawTransactionSync` (EIP-7966): the receipt as soon as the transaction is
    /// preconfirmed, with the signed preconfirmation in a `preconfirmation` field.
    #[method(name = "eth_sendRawTransactionSync", with_extensions)]
    async fn send_raw_transaction_sync(
        &self,
        raw: Bytes,
        timeout_ms: Option<serde_json::Value>,
    ) -> Result<SyncReceipt, RpcError>;
    /// `preconf_sequencer`: the address that signs mini-block headers.
    #[method(name = "preconf_sequencer")]
    fn preconf_sequencer(&self) -> Result<Address, RpcError>;
    /// `preconf_getPreconfirmation`: the signed preconfirmation of a transaction.
    #[method(name = "preconf_getPreconfirmation")]
    fn get_preconfirmation(&self, hash: B256) -> Result<Option<Preconfirmation>, RpcError>;
    /// `eth_subscribe`: `newHeads`, `miniBlocks`, `preconfirmations`, `stateChanges`, `logs`.
    #[subscription(name = "eth_subscribe" => "eth_subscription", unsubscribe = "eth_unsubscribe", item = serde_json::Value)]
    async fn subscribe(
        &self,
        kind: String,
        params: Option<serde_json::Value>,
    ) -> jsonrpsee::core::SubscriptionResult;
    /// `peregrine_getTransactionStatus`: where a transaction is, including why it was dropped.
    #[method(name = "peregrine_getTransactionStatus")]
    fn transaction_status(&self, hash: B256) -> Result<TransactionStatus, RpcError>;
}
