//! The implementation of [`EthApiServer`] over a node's [`Chain`], writing through
//! [`crate::forward::Writes`].

use crate::{
    api::{EthApiServer, PreconfirmedReceipt, SyncReceipt, TransactionStatus},
    call,
    config::RpcConfig,
    convert,
    error::{RpcError, RpcResult},
    order::{in_arrival_order, in_arrival_order_async, pass_turn},
};
use alloy_consensus::{Transaction as _, TxReceipt as _};
use alloy_primitives::{Address, B256, Bytes, U64, U256};
use alloy_rpc_types_eth::{
    Block, BlockId, BlockNumberOrTag, FeeHistory, Filter, FilterBlockOption, Log, Transaction,
    TransactionReceipt, TransactionRequest,
};
use alloy_trie::KECCAK_EMPTY;
use peregrine_chain::{
    BlockContext, Chain, ExecutedTx, IngressError, TxStatus,
    chain::OpenBlock,
    feed::WaitOutcome,
    store::{StoreReader, StoredBlock},
    view::OpenView,
};
use peregrine_preconf::Preconfirmation;
use std::sync::Arc;

/// Where a state or block query points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum At {
    /// The newest state, after the latest mini-block: `latest` and `pending`, the open
    /// block's number, its newest view's hash. Its block object is the newest view, or
    /// the last sealed block while the open block has no mini-block yet.
    Latest,
    /// A sealed block.
    Sealed(u64),
    /// An earlier view of block `.1` ([`peregrine_chain::view`]), by hash: a block
    /// object without state.
    View(B256, u64),
}

/// The `eth_` handler.
#[derive(Debug, Clone)]
pub struct EthHandler {
    pub(crate) chain: Arc<Chain>,
    /// Where writes go: this node's ingress, or the sequencer (a replica).
    pub(crate) writes: crate::forward::Writes,
    pub(crate) cfg: RpcConfig,
    pub(crate) metrics: crate::metrics::RpcMetrics,
    /// Serialized `miniBlocks` notifications, shared by every subscription.
    pub(crate) record_json: Arc<crate::record_json::RecordJson>,
    /// Subscriptions between their `eth_subscribe` answer and their registration.
    pub(crate) accepting: Arc<crate::accepting::Accepting>,
    /// Where `eth_call` and `eth_estimateGas` run.
    pub(crate) calls: crate::call_pool::CallPool,
    /// Replication streams being served (`rpc.max-replication-streams`).
    pub(crate) streams: Arc<std::sync::atomic::AtomicUsize>,
}

impl EthHandler {
    /// A handler over a running node's chain, sending writes to `writes`.
    pub fn new(chain: Arc<Chain>, writes: crate::forward::Writes, cfg: RpcConfig) -> Self {
        Self {
            chain,
            writes,
            metrics: crate::metrics::RpcMetrics::new(),
            record_json: Arc::default(),
            accepting: Arc::default(),
            streams: Arc::default(),
            calls: crate::call_pool::CallPool::start(
                cfg.call_threads,
                cfg.call_queue,
                cfg.call_nice,
            ),
            cfg,
        }
    }

    /// The deadline of an EVM run starting now (`rpc.evm-timeout`).
    fn evm_deadline(&self) -> call::RequestDeadline {
        call::RequestDeadline::after(std::time::Duration::from_millis(self.cfg.evm_timeout_ms))
    }

    pub(crate) fn reader(&self) -> RpcResult<StoreReader> {
        Ok(self.chain.reader()?)
    }

    fn head_of(reader: &StoreReader) -> RpcResult<u64> {
        Ok(reader.head()?.unwrap_or_default())
    }

    /// The number of the open block if it has a mini-block yet (then `latest` is it).
    fn open_number(&self) -> Option<u64> {
        let pending = self.chain.pending_view();
        pending.open.newest_view().map(|v| v.header.number)
    }

    /// The number `latest` names: the open block once it has a mini-block, else the
    /// last sealed one.
    fn latest_number(&self) -> u64 {
        let pending = self.chain.pending_view();
        match pending.open.newest_view() {
            Some(view) => view.header.number,
            None => self.chain.head().header.number,
        }
    }

    /// Resolves a block number or tag against `reader`'s head and the open block.
    pub(crate) fn resolve_tag(&self, reader: &StoreReader, tag: BlockNumberOrTag) -> RpcResult<At> {
        let head = Self::head_of(reader)?;
        Ok(match tag {
            BlockNumberOrTag::Latest | BlockNumberOrTag::Pending => At::Latest,
            // Without a batcher L1 vouches for nothing, and both name the head (as
            // before); with one, what it reported, never past the head this read sees.
            BlockNumberOrTag::Safe => {
                At::Sealed(self.chain.l1.get().map_or(head, |(s, _)| s.min(head)))
            }
            BlockNumberOrTag::Finalized => {
                At::Sealed(self.chain.l1.get().map_or(head, |(_, f)| f.min(head)))
            }
            BlockNumberOrTag::Earliest => At::Sealed(0),
            BlockNumberOrTag::Number(n) if n <= head => At::Sealed(n),
            BlockNumberOrTag::Number(n) if self.open_number() == Some(n) => At::Latest,
            BlockNumberOrTag::Number(_) => return Err(RpcError::HeaderNotFound),
        })
    }

    /// Resolves an EIP-1898 block id: a sealed block's hash, or a view's.
    pub(crate) fn resolve(&self, reader: &StoreReader, id: Option<BlockId>) -> RpcResult<At> {
        let hash = match id.unwrap_or(BlockId::Number(BlockNumberOrTag::Latest)) {
            BlockId::Number(tag) => return self.resolve_tag(reader, tag),
            BlockId::Hash(h) => h.block_hash,
        };
        if let Some(n) = reader.number_of(&hash)? {
            return Ok(At::Sealed(n));
        }
        {
            let pending = self.chain.pending_view();
            let open = &pending.open;
            if let Some(&i) = open.view_by_hash.get(&hash) {
                return Ok(if i + 1 == open.views.len() {
                    At::Latest
                } else {
                    At::View(hash, open.views[i].header.number)
                });
            }
        }
        // A view of a block sealed since: in the store (the seal commits before the open
        // block lets its views go, so one of the two has it).
        match reader.view_location(&hash)? {
            Some((number, _)) => Ok(At::View(hash, number)),
            None => match self.reader()?.view_location(&hash)? {
                Some((number, _)) => Ok(At::View(hash, number)),
                None => Err(RpcError::HeaderNotFound),
            },
        }
    }

    /// Checks that state is available at `at`: the newest state and the last sealed
    /// block's are kept, nothing older.
    pub(crate) fn state_at(reader: &StoreReader, at: At) -> RpcResult<At> {
        let head = Self::head_of(reader)?;
        match at {
            At::Sealed(n) if n != head => Err(RpcError::HistoricalState { requested: n, head }),
            At::View(hash, _) => Err(RpcError::ViewState(hash)),
            other => Ok(other),
        }
    }

    fn account(&self, address: Address, block: Option<BlockId>) -> RpcResult<(u64, U256, B256)> {
        let reader = self.reader()?;
        let at = Self::state_at(&reader, self.resolve(&reader, block)?)?;
        Ok(match at {
            At::Latest => self
                .chain
                .pending_view()
                .state
                .account(&address)
                .map_or((0, U256::ZERO, KECCAK_EMPTY), |a| {
                    (a.nonce, a.balance, a.code_hash)
                }),
            At::Sealed(_) | At::View(..) => {
                reader
                    .account(&address)?
                    .unwrap_or((0, U256::ZERO, KECCAK_EMPTY))
            }
        })
    }

    /// The block object `at` names.
    fn block_at(&self, at: At, full: bool) -> RpcResult<Option<Block>> {
        match at {
            At::Latest => {
                {
                    let pending = self.chain.pending_view();
                    if let Some(view) = pending.open.newest_view() {
                        return Ok(Some(open_view_block(&pending.open, view, full)));
                    }
                }
                let reader = self.reader()?;
                let head = Self::head_of(&reader)?;
                Ok(reader.block(head)?.map(|b| stored_block(b, full)))
            }
            At::Sealed(n) => Ok(self.reader()?.block(n)?.map(|b| stored_block(b, full))),
            At::View(hash, _) => {
                {
                    let pending = self.chain.pending_view();
                    let open = &pending.open;
                    if let Some(&i) = open.view_by_hash.get(&hash) {
                        return Ok(Some(open_view_block(open, &open.views[i], full)));
                    }
                }
                Ok(self
                    .reader()?
                    .view_block(&hash)?
                    .map(|b| stored_block(b, full)))
            }
        }
    }

    /// The receipts of the block `at` names, each as `eth_getTransactionReceipt` answers
    /// it (a view's receipts name the views that first included them, a sealed view's
    /// the sealed block).
    fn receipts_at(&self, at: At) -> RpcResult<Option<Vec<TransactionReceipt>>> {
        let covered = match at {
            At::Latest => {
                {
                    let pending = self.chain.pending_view();
                    let open = &pending.open;
                    if let Some(view) = open.newest_view() {
                        return Ok(Some(open_receipts(open, view.tx_end())));
                    }
                }
                let reader = self.reader()?;
                let head = Self::head_of(&reader)?;
                return Ok(reader.block(head)?.map(|b| convert::block_receipts(&b)));
            }
            At::Sealed(n) => {
                return Ok(self
                    .reader()?
                    .block(n)?
                    .map(|b| convert::block_receipts(&b)));
            }
            At::View(hash, number) => {
                {
                    let pending = self.chain.pending_view();
                    let open = &pending.open;
                    if let Some(&i) = open.view_by_hash.get(&hash) {
                        return Ok(Some(open_receipts(open, open.views[i].tx_end())));
                    }
                }
                (hash, number)
            }
        };
        let (hash, number) = covered;
        let reader = self.reader()?;
        let Some((_, covers)) = reader.view_location(&hash)? else {
            return Ok(None);
        };
        Ok(reader.block(number)?.map(|b| {
            let mut receipts = convert::block_receipts(&b);
            receipts.truncate(covers as usize);
            receipts
        }))
    }

    fn fee_history_impl(
        &self,
        count: u64,
        newest: BlockNumberOrTag,
        percentiles: Option<Vec<f64>>,
    ) -> RpcResult<FeeHistory> {
        if count == 0 {
            return Ok(FeeHistory::default());
        }
        let count = count.min(self.cfg.max_fee_history);
        if let Some(p) = &percentiles {
            crate::limits::list(
                "reward percentiles",
                p.len(),
                self.cfg.max_reward_percentiles,
                "max-reward-percentiles",
            )?;
            let sorted = p.windows(2).all(|w| w[0] <= w[1]);
            if !sorted || p.iter().any(|x| !(0.0..=100.0).contains(x)) {
                return Err(RpcError::InvalidParams(
                    "reward percentiles must be ascending and within [0, 100]".into(),
                ));
            }
        }
        let reader = self.reader()?;
        let head = Self::head_of(&reader)?;
        // Fee history covers sealed blocks: `latest` and the open block end at the head.
        let newest = match self.resolve_tag(&reader, newest)? {
            At::Sealed(n) => n,
            At::Latest | At::View(..) => head,
        };
        let oldest = newest.saturating_sub(count - 1);
        let mut base_fees = Vec::new();
        let mut ratios = Vec::new();
        let mut rewards = Vec::new();
        let mut last = None;
        for n in oldest..=newest {
            let block = reader.block(n)?.ok_or(RpcError::HeaderNotFound)?;
            let base_fee = block.header.base_fee_per_gas.unwrap_or_default();
            base_fees.push(u128::from(base_fee));
            ratios.push(block.header.gas_used as f64 / block.header.gas_limit.max(1) as f64);
            if let Some(p) = &percentiles {
                rewards.push(block_rewards(&block, base_fee, p));
            }
            last = Some(block.header);
        }
        let last = last.expect("at least one block");
        base_fees.push(u128::from(peregrine_chain::block::next_base_fee(
            last.gas_used,
            last.gas_limit,
            last.base_fee_per_gas.unwrap_or_default(),
            self.writes.min_base_fee(),
        )));
        let n = ratios.len();
        Ok(FeeHistory {
            base_fee_per_gas: base_fees,
            gas_used_ratio: ratios,
            base_fee_per_blob_gas: vec![0; n + 1],
            blob_gas_used_ratio: vec![0.0; n],
            oldest_block: oldest,
            reward: percentiles.map(|_| rewards),
        })
    }
}

/// A timeout given as a JSON number or a hex/decimal string, in milliseconds.
fn parse_timeout(v: &serde_json::Value) -> RpcResult<u64> {
    let parsed = match v {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => match s.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).ok(),
            None => s.parse().ok(),
        },
        _ => None,
    };
    parsed.ok_or_else(|| {
        RpcError::InvalidParams(format!("timeout must be a number of milliseconds, got {v}"))
    })
}

/// Where transaction `tx` of the open block sits: its block hash is that of the view
/// that first included it (see docs/api.md, "Blocks under construction").
fn open_place(tx: &ExecutedTx, ctx: &BlockContext, view_hash: Option<B256>) -> convert::TxPlace {
    convert::TxPlace {
        block_hash: view_hash,
        block_number: ctx.number,
        timestamp: ctx.timestamp,
        index: u64::from(tx.index_in_block),
        base_fee: ctx.base_fee,
    }
}

/// The receipt of an executed transaction at `place`: the same fields before and after
/// its block seals, but for the block hash.
fn executed_receipt(tx: &ExecutedTx, place: convert::TxPlace) -> TransactionReceipt {
    convert::rpc_receipt(
        &tx.envelope,
        tx.sender,
        &tx.receipt,
        place,
        tx.receipt.cumulative_gas_used() - tx.gas_used,
        tx.first_log_index,
    )
}

/// The receipt of transaction `i` of the open block.
fn open_receipt(open: &OpenBlock, i: usize) -> Option<TransactionReceipt> {
    let (tx, ctx, view) = (open.txs.get(i)?, open.ctx?, open.view_of_tx(i)?);
    Some(executed_receipt(tx, open_place(tx, &ctx, Some(view.hash))))
}

/// The receipts of the open block's first `end` transactions.
fn open_receipts(open: &OpenBlock, end: usize) -> Vec<TransactionReceipt> {
    (0..end.min(open.txs.len()))
        .filter_map(|i| open_receipt(open, i))
        .collect()
}

/// The open block as `view` shows it: its header, and the transactions it covers.
fn open_view_block(open: &OpenBlock, view: &OpenView, full: bool) -> Block {
    let txs = &open.txs[..view.tx_end().min(open.txs.len())];
    let envelopes: Vec<_> = txs.iter().map(|t| t.envelope.clone()).collect();
    let senders: Vec<_> = txs.iter().map(|t| t.sender).collect();
    convert::rpc_block(view.header.clone(), view.hash, &envelopes, &senders, full)
}

fn stored_block(b: StoredBlock, full: bool) -> Block {
    convert::rpc_block(b.header, b.hash, &b.txs, &b.senders, full)
}

/// Transaction `index` of a block fetched with full transactions.
fn nth_tx(block: Block, index: U64) -> Option<Transaction> {
    match block.transactions {
        alloy_rpc_types_eth::BlockTransactions::Full(txs) => {
            txs.into_iter().nth(usize::try_from(index).ok()?)
        }
        _ => None,
    }
}

/// Priority fees paid at the given gas-weighted percentiles of a block (as geth computes).
fn block_rewards(block: &StoredBlock, base_fee: u64, percentiles: &[f64]) -> Vec<u128> {
    if block.txs.is_empty() {
        return vec![0; percentiles.len()];
    }
    let mut prev = 0;
    let mut tips: Vec<(u128, u64)> = block
        .txs
        .iter()
        .zip(&block.receipts)
        .map(|(tx, r)| {
            let used = r.cumulative_gas_used() - prev;
            prev = r.cumulative_gas_used();
            (tx.effective_tip_per_gas(base_fee).unwrap_or_default(), used)
        })
        .collect();
    tips.sort_unstable();
    let total: u64 = tips.iter().map(|t| t.1).sum();
    percentiles
        .iter()
        .map(|p| {
            let threshold = (total as f64 * p / 100.0) as u64;
            let mut acc = 0;
            for (tip, used) in &tips {
                acc += used;
                if acc >= threshold {
                    return *tip;
                }
            }
            tips.last().map_or(0, |t| t.0)
        })
        .collect()
}

#[jsonrpsee::core::async_trait]
impl EthApiServer for EthHandler {
    fn chain_id(&self) -> RpcResult<U64> {
        Ok(U64::from(self.chain.chain_id))
    }

    fn net_version(&self) -> RpcResult<String> {
        Ok(self.chain.chain_id.to_string())
    }

    fn client_version(&self) -> RpcResult<String> {
        Ok(format!(
            "peregrine/v{}/{}-{}",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::OS,
            std::env::consts::ARCH
        ))
    }

    fn block_number(&self) -> RpcResult<U64> {
        Ok(U64::from(self.latest_number()))
    }

    fn syncing(&self) -> RpcResult<bool> {
        Ok(false)
    }

    fn accounts(&self) -> RpcResult<Vec<Address>> {
        Ok(vec![])
    }

    fn balance(&self, address: Address, block: Option<BlockId>) -> RpcResult<U256> {
        Ok(self.account(address, block)?.1)
    }

    fn transaction_count(&self, address: Address, block: Option<BlockId>) -> RpcResult<U64> {
        let reader = self.reader()?;
        if let At::Latest = Self::state_at(&reader, self.resolve(&reader, block)?)? {
            // `latest` and `pending` alike: after the sender's transactions that ingress
            // accepted before this call (microseconds from execution), so that a wallet
            // sending several in a row at `latest` (cast) gets the next nonce each time.
            return Ok(U64::from(self.chain.pending_nonce(&address)));
        }
        Ok(U64::from(self.account(address, block)?.0))
    }

    fn code(&self, address: Address, block: Option<BlockId>) -> RpcResult<Bytes> {
        let reader = self.reader()?;
        let at = Self::state_at(&reader, self.resolve(&reader, block)?)?;
        Ok(match at {
            At::Latest => self.chain.pending_view().state.code_of(&address),
            At::Sealed(_) | At::View(..) => match reader.account(&address)? {
                Some((_, _, hash)) if hash != KECCAK_EMPTY => {
                    reader.code(&hash)?.unwrap_or_default()
                }
                _ => Bytes::new(),
            },
        })
    }

    fn storage_at(&self, address: Address, slot: U256, block: Option<BlockId>) -> RpcResult<B256> {
        let reader = self.reader()?;
        let at = Self::state_at(&reader, self.resolve(&reader, block)?)?;
        let value = match at {
            At::Latest => self.chain.pending_view().state.storage(&address, &slot),
            At::Sealed(_) | At::View(..) => reader.storage(&address, &slot)?,
        };
        Ok(B256::from(value))
    }

    async fn call(&self, request: TransactionRequest, block: Option<BlockId>) -> RpcResult<Bytes> {
        let (handler, deadline) = (self.clone(), self.evm_deadline());
        self.calls
            .run(move || call::call(&handler, request, block, deadline))
            .await
    }

    async fn estimate_gas(
        &self,
        request: TransactionRequest,
        block: Option<BlockId>,
    ) -> RpcResult<U64> {
        let (handler, deadline) = (self.clone(), self.evm_deadline());
        self.calls
            .run(move || call::estimate_gas(&handler, request, block, deadline))
            .await
            .map(U64::from)
    }

    async fn fill_transaction(
        &self,
        request: TransactionRequest,
    ) -> RpcResult<crate::fill::FilledTransaction> {
        self.fill(request).await
    }

    fn gas_price(&self) -> RpcResult<U256> {
        Ok(U256::from(
            u128::from(self.writes.pending_base_fee(&self.chain)) + self.cfg.priority_fee,
        ))
    }

    fn max_priority_fee(&self) -> RpcResult<U256> {
        Ok(U256::from(self.cfg.priority_fee))
    }

    fn fee_history(
        &self,
        block_count: U64,
        newest: BlockNumberOrTag,
        percentiles: Option<Vec<f64>>,
    ) -> RpcResult<FeeHistory> {
        self.fee_history_impl(block_count.to(), newest, percentiles)
    }

    async fn send_raw_transaction(
        &self,
        ext: &jsonrpsee::Extensions,
        raw: Bytes,
    ) -> RpcResult<B256> {
        let ingress = match &self.writes {
            crate::forward::Writes::Local(ingress) => ingress.as_ref(),
            crate::forward::Writes::Forward(f) => {
                return in_arrival_order_async(ext, || f.send(&self.chain, &raw)).await;
            }
        };
        let started = std::time::Instant::now();
        let result = match ingress.decode(&raw) {
            Ok(tx) => in_arrival_order(ext, || ingress.submit_decoded(tx)).await,
            Err(e) => {
                pass_turn(ext);
                Err(e)
            }
        };
        self.metrics
            .submitted(&result, started.elapsed().as_secs_f64());
        Ok(result?)
    }

    fn transaction_by_hash(&self, hash: B256) -> RpcResult<Option<Transaction>> {
        self.chain.await_ordered(&hash);
        // The open block first: a seal stores the block before the open block lets it go.
        {
            let pending = self.chain.pending_view();
            let open = &pending.open;
            if let Some(&i) = open.by_hash.get(&hash) {
                let tx = &open.txs[i];
                let place = open
                    .ctx
                    .map(|ctx| open_place(tx, &ctx, open.view_of_tx(i).map(|v| v.hash)));
                return Ok(Some(convert::rpc_tx(&tx.envelope, tx.sender, place)));
            }
        }
        let reader = self.reader()?;
        let Some((number, index)) = reader.tx_location(&hash)? else {
            return Ok(None);
        };
        let (header, block_hash, tx, sender) = reader
            .block_tx(number, index as usize)?
            .ok_or(RpcError::HeaderNotFound)?;
        let place = convert::TxPlace {
            block_hash: Some(block_hash),
            block_number: header.number,
            timestamp: header.timestamp,
            index: u64::from(index),
            base_fee: header.base_fee_per_gas.unwrap_or_default(),
        };
        Ok(Some(convert::rpc_tx(&tx, sender, Some(place))))
    }

    fn transaction_receipt(&self, hash: B256) -> RpcResult<Option<TransactionReceipt>> {
        // From the preconfirmation on; a hash ingress just accepted is microseconds from
        // it, and waited for.
        self.chain.await_ordered(&hash);
        {
            let pending = self.chain.pending_view();
            let open = &pending.open;
            if let Some(&i) = open.by_hash.get(&hash) {
                return Ok(open_receipt(open, i));
            }
        }
        let Some(r) = self.reader()?.sealed_receipt(&hash)? else {
            return Ok(None);
        };
        let place = convert::TxPlace {
            block_hash: Some(r.block_hash),
            block_number: r.header.number,
            timestamp: r.header.timestamp,
            index: u64::from(r.index),
            base_fee: r.header.base_fee_per_gas.unwrap_or_default(),
        };
        Ok(Some(convert::rpc_receipt(
            &r.tx,
            r.sender,
            &r.receipt,
            place,
            r.receipt.cumulative_gas_used() - r.gas_used,
            r.first_log_index,
        )))
    }

    fn block_by_number(&self, number: BlockNumberOrTag, full: bool) -> RpcResult<Option<Block>> {
        let reader = self.reader()?;
        match self.resolve_tag(&reader, number) {
            Ok(at) => self.block_at(at, full),
            Err(RpcError::HeaderNotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn block_by_hash(&self, hash: B256, full: bool) -> RpcResult<Option<Block>> {
        let reader = self.reader()?;
        match self.resolve(&reader, Some(BlockId::from(hash))) {
            Ok(at) => self.block_at(at, full),
            Err(RpcError::HeaderNotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn transaction_by_block_number_and_index(
        &self,
        number: BlockNumberOrTag,
        index: U64,
    ) -> RpcResult<Option<Transaction>> {
        Ok(self
            .block_by_number(number, true)?
            .and_then(|b| nth_tx(b, index)))
    }

    fn transaction_by_block_hash_and_index(
        &self,
        hash: B256,
        index: U64,
    ) -> RpcResult<Option<Transaction>> {
        Ok(self
            .block_by_hash(hash, true)?
            .and_then(|b| nth_tx(b, index)))
    }

    fn block_tx_count_by_number(&self, number: BlockNumberOrTag) -> RpcResult<Option<U64>> {
        Ok(self
            .block_by_number(number, false)?
            .map(|b| U64::from(b.transactions.len())))
    }

    fn block_tx_count_by_hash(&self, hash: B256) -> RpcResult<Option<U64>> {
        Ok(self
            .block_by_hash(hash, false)?
            .map(|b| U64::from(b.transactions.len())))
    }

    fn block_receipts(&self, block: BlockId) -> RpcResult<Option<Vec<TransactionReceipt>>> {
        let reader = self.reader()?;
        match self.resolve(&reader, Some(block)) {
            Ok(at) => self.receipts_at(at),
            Err(RpcError::HeaderNotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn logs(&self, filter: Filter) -> RpcResult<Vec<Log>> {
        crate::limits::log_filter(&filter, self.cfg.max_filter_items)?;
        let reader = self.reader()?;
        let head = Self::head_of(&reader)?;
        let mut out = Vec::new();
        let mut push = |receipts: Vec<TransactionReceipt>| -> RpcResult<()> {
            for receipt in receipts {
                for log in receipt.inner.logs() {
                    if filter.matches(&log.inner) {
                        if out.len() >= self.cfg.max_logs {
                            return Err(RpcError::LimitExceeded(format!(
                                "query returned more than {} results",
                                self.cfg.max_logs
                            )));
                        }
                        out.push(log.clone());
                    }
                }
            }
            Ok(())
        };
        let (from, to) = match filter.block_option {
            FilterBlockOption::AtBlockHash(hash) => {
                match self.resolve(&reader, Some(BlockId::from(hash)))? {
                    At::Sealed(n) => (n, n),
                    at => {
                        push(self.receipts_at(at)?.ok_or(RpcError::HeaderNotFound)?)?;
                        return Ok(out);
                    }
                }
            }
            FilterBlockOption::Range {
                from_block,
                to_block,
            } => {
                // The open block counts once it has a mini-block: `latest` is then it.
                let top = self.open_number().unwrap_or(head).max(head);
                let number = |tag: Option<BlockNumberOrTag>| -> RpcResult<u64> {
                    match tag.unwrap_or(BlockNumberOrTag::Latest) {
                        BlockNumberOrTag::Number(n) => Ok(n.min(top)),
                        BlockNumberOrTag::Latest | BlockNumberOrTag::Pending => Ok(top),
                        tag => match self.resolve_tag(&reader, tag)? {
                            At::Sealed(n) | At::View(_, n) => Ok(n),
                            At::Latest => Ok(top),
                        },
                    }
                };
                (number(from_block)?, number(to_block)?)
            }
        };
        if from > to {
            return Err(RpcError::InvalidParams(format!(
                "invalid block range: fromBlock {from} is after toBlock {to}"
            )));
        }
        if to - from >= self.cfg.max_log_range {
            return Err(RpcError::LimitExceeded(format!(
                "block range too large: {} blocks, the limit is {}",
                to - from + 1,
                self.cfg.max_log_range
            )));
        }
        for n in from..=to {
            if n > head {
                // The open block: only the receipts whose blooms may match are built.
                let pending = self.chain.pending_view();
                let open = &pending.open;
                if open.ctx.is_some_and(|c| c.number == n) {
                    let matching = (0..open.txs.len())
                        .filter(|&i| filter.matches_bloom(open.txs[i].receipt.bloom()))
                        .filter_map(|i| open_receipt(open, i))
                        .collect();
                    push(matching)?;
                    continue;
                }
                drop(pending);
                // Sealed since the reader was opened: read it from a fresh one.
                if let Some(block) = self.reader()?.block(n)? {
                    push(convert::block_receipts(&block))?;
                }
                continue;
            }
            let header = reader.header(n)?.ok_or(RpcError::HeaderNotFound)?;
            if !filter.matches_bloom(header.logs_bloom) {
                continue;
            }
            let block = reader.block(n)?.ok_or(RpcError::HeaderNotFound)?;
            push(convert::block_receipts(&block))?;
        }
        Ok(out)
    }

    async fn send_raw_transaction_sync(
        &self,
        ext: &jsonrpsee::Extensions,
        raw: Bytes,
        timeout_ms: Option<serde_json::Value>,
    ) -> RpcResult<SyncReceipt> {
        let timeout_ms = match timeout_ms {
            None | Some(serde_json::Value::Null) => self.cfg.sync_timeout_ms,
            Some(v) => parse_timeout(&v)?,
        }
        .min(self.cfg.sync_timeout_cap_ms);
        let ingress = match &self.writes {
            crate::forward::Writes::Local(ingress) => ingress.as_ref(),
            crate::forward::Writes::Forward(f) => {
                let timeout = serde_json::Value::from(timeout_ms);
                let answer =
                    in_arrival_order_async(ext, || f.send_sync(&self.chain, &raw, Some(timeout)))
                        .await?;
                return Ok(SyncReceipt::Forwarded(answer));
            }
        };
        let started = std::time::Instant::now();
        let decoded = ingress.decode(&raw);
        if decoded.is_err() {
            pass_turn(ext);
            self.metrics
                .submitted(&decoded, started.elapsed().as_secs_f64());
        }
        let tx = decoded?;
        let hash = tx.hash;
        let feed = &self.chain.feed;
        // Register just before submitting (the preconfirmation can arrive before `submit`
        // returns), in the turn: a client gone while waiting for it leaves no waiter.
        let ((waiter_id, mut waiter), submitted) = in_arrival_order(ext, || {
            let waiter = feed.wait_for(hash);
            (waiter, ingress.submit_decoded(tx))
        })
        .await;
        self.metrics
            .submitted(&submitted, started.elapsed().as_secs_f64());
        if let Err(e) = submitted {
            feed.cancel(&hash, waiter_id);
            return Err(match e {
                IngressError::InsufficientFunds { .. } => RpcError::NotReady {
                    hash,
                    reason: e.to_string(),
                },
                other => RpcError::Ingress(other),
            });
        }
        let outcome = if timeout_ms == 0 {
            // No wait at all: a timer would round 0 ms up to its next 1 ms tick.
            waiter.try_recv().ok()
        } else {
            tokio::time::timeout(std::time::Duration::from_millis(timeout_ms), waiter)
                .await
                .ok()
                .and_then(Result::ok)
        };
        match outcome {
            Some(WaitOutcome::Preconfirmed {
                record,
                index,
                tx,
                block,
            }) => {
                // The view that ends with this mini-block: the block the receipt names,
                // fetchable with eth_getBlockByHash, until the block seals.
                let view = self.chain.view_of(&record)?.map(|(hash, _)| hash);
                let receipt = executed_receipt(&tx, open_place(&tx, &block, view));
                let sent = peregrine_chain::clock::now_us();
                Ok(SyncReceipt::Local(Box::new(PreconfirmedReceipt {
                    receipt,
                    preconfirmation: record.preconfirmation(index, sent),
                })))
            }
            Some(WaitOutcome::Queued { missing_nonce }) => Err(RpcError::NotReady {
                hash,
                reason: format!(
                    "nonce gap: the sender's next nonce is {missing_nonce}; the transaction waits until it arrives"
                ),
            }),
            Some(WaitOutcome::Dropped { reason }) => Err(RpcError::NotReady { hash, reason }),
            None => {
                feed.cancel(&hash, waiter_id);
                Err(RpcError::SyncTimeout { hash, timeout_ms })
            }
        }
    }

    fn preconf_sequencer(&self) -> RpcResult<Address> {
        Ok(self.chain.feed.sequencer())
    }

    fn get_preconfirmation(&self, hash: B256) -> RpcResult<Option<Preconfirmation>> {
        let sent = peregrine_chain::clock::now_us();
        Ok(self
            .chain
            .preconfirmed(&hash)?
            .map(|(record, index)| record.preconfirmation(index, sent)))
    }

    async fn subscribe(
        &self,
        pending: jsonrpsee::PendingSubscriptionSink,
        kind: String,
        params: Option<serde_json::Value>,
    ) -> jsonrpsee::core::SubscriptionResult {
        crate::pubsub::subscribe(self.clone(), pending, kind, params).await
    }

    fn transaction_status(&self, hash: B256) -> RpcResult<TransactionStatus> {
        let reader = self.reader()?;
        if let Some((number, _)) = reader.tx_location(&hash)? {
            return Ok(TransactionStatus {
                status: "included",
                block_number: Some(U64::from(number)),
                reason: None,
            });
        }
        {
            let pending = self.chain.pending_view();
            if pending.open.by_hash.contains_key(&hash) {
                return Ok(TransactionStatus {
                    status: "pending",
                    block_number: pending.open.ctx.map(|c| U64::from(c.number)),
                    reason: None,
                });
            }
        }
        Ok(match self.chain.tx_status(&hash) {
            Some(TxStatus::Queued { missing_nonce }) => TransactionStatus {
                status: "queued",
                block_number: None,
                reason: Some(format!(
                    "waiting for nonce {missing_nonce} from the same sender"
                )),
            },
            Some(TxStatus::Dropped { reason }) => TransactionStatus {
                status: "dropped",
                block_number: None,
                reason: Some(reason),
            },
            None => TransactionStatus {
                status: "unknown",
                block_number: None,
                reason: None,
            },
        })
    }
}
