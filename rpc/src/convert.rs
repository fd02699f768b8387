//! Conversions from stored blocks and executed transactions to the JSON-RPC types.

use alloy_consensus::transaction::Recovered;
use alloy_consensus::{
    Block as ConsensusBlock, BlockBody, Header, ReceiptEnvelope, Transaction as _, TxEnvelope,
};
use alloy_eips::eip4895::Withdrawals;
use alloy_primitives::{Address, B256, U256};
use alloy_rlp::Encodable;
use alloy_rpc_types_eth::{
    Block, BlockTransactions, Header as RpcHeader, Log, Transaction, TransactionReceipt,
};
use peregrine_chain::store::StoredBlock;

/// Where a transaction sits in a block.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TxPlace {
    pub(crate) block_hash: Option<B256>,
    pub(crate) block_number: u64,
    pub(crate) timestamp: u64,
    pub(crate) index: u64,
    pub(crate) base_fee: u64,
}

/// A transaction as `eth_getTransactionByHash` returns it.
pub(crate) fn rpc_tx(
    envelope: &TxEnvelope,
    sender: Address,
    place: Option<TxPlace>,
) -> Transaction {
    Transaction {
        inner: Recovered::new_unchecked(envelope.clone(), sender),
        block_hash: place.and_then(|p| p.block_hash),
        block_number: place.map(|p| p.block_number),
        transaction_index: place.map(|p| p.index),
        effective_gas_price: place.map(|p| envelope.effective_gas_price(Some(p.base_fee))),
        block_timestamp: place.map(|p| p.timestamp),
    }
}

/// A receipt as `eth_getTransactionReceipt` returns it.
///
/// `prev_cumulative` is the cumulative gas of the transaction before it in the block,
/// `first_log_index` the block-wide index of its first log.
pub(crate) fn rpc_receipt(
    envelope: &TxEnvelope,
    sender: Address,
    receipt: &ReceiptEnvelope,
    place: TxPlace,
    prev_cumulative: u64,
    first_log_index: u64,
) -> TransactionReceipt {
    let tx_hash = *envelope.tx_hash();
    let mut log_index = first_log_index;
    let inner = receipt.clone().map_logs(|log| {
        let rpc = Log {
            inner: log,
            block_hash: place.block_hash,
            block_number: Some(place.block_number),
            block_timestamp: Some(place.timestamp),
            transaction_hash: Some(tx_hash),
            transaction_index: Some(place.index),
            log_index: Some(log_index),
            removed: false,
        };
        log_index += 1;
        rpc
    });
    let contract_address =
        (envelope.is_create() && receipt.status()).then(|| sender.create(envelope.nonce()));
    TransactionReceipt {
        inner,
        transaction_hash: tx_hash,
        transaction_index: Some(place.index),
        block_hash: place.block_hash,
        block_number: Some(place.block_number),
        gas_used: receipt.cumulative_gas_used() - prev_cumulative,
        effective_gas_price: envelope.effective_gas_price(Some(place.base_fee)),
        blob_gas_used: None,
        blob_gas_price: None,
        from: sender,
        to: envelope.to(),
        contract_address,
    }
}

/// The receipts of a stored block with their block-level positions.
pub(crate) fn block_receipts(block: &StoredBlock) -> Vec<TransactionReceipt> {
    let mut prev = 0;
    let mut logs = 0u64;
    let mut out = Vec::with_capacity(block.txs.len());
    for (i, (tx, receipt)) in block.txs.iter().zip(&block.receipts).enumerate() {
        let place = place_in(block, i);
        let sender = block.senders.get(i).copied().unwrap_or_default();
        out.push(rpc_receipt(tx, sender, receipt, place, prev, logs));
        prev = receipt.cumulative_gas_used();
        logs += receipt.logs().len() as u64;
    }
    out
}

/// The place of transaction `index` in a stored block.
pub(crate) fn place_in(block: &StoredBlock, index: usize) -> TxPlace {
    TxPlace {
        block_hash: Some(block.hash),
        block_number: block.header.number,
        timestamp: block.header.timestamp,
        index: index as u64,
        base_fee: block.header.base_fee_per_gas.unwrap_or_default(),
    }
}

/// RLP size of a block with this header and these transactions.
fn block_size(header: &Header, txs: &[TxEnvelope]) -> usize {
    let block = ConsensusBlock {
        header: header.clone(),
        body: BlockBody {
            transactions: txs.to_vec(),
            ommers: vec![],
            withdrawals: Some(Withdrawals::default()),
        },
    };
    block.length()
}

/// A block as `eth_getBlockBy*` returns it.
pub(crate) fn rpc_block(
    header: Header,
    hash: B256,
    txs: &[TxEnvelope],
    senders: &[Address],
    full: bool,
) -> Block {
    let size = block_size(&header, txs);
    let transactions = if full {
        let base_fee = header.base_fee_per_gas.unwrap_or_default();
        BlockTransactions::Full(
            txs.iter()
                .enumerate()
                .map(|(i, tx)| {
                    let place = TxPlace {
                        block_hash: Some(hash),
                        block_number: header.number,
                        timestamp: header.timestamp,
                        index: i as u64,
                        base_fee,
                    };
                    rpc_tx(tx, senders.get(i).copied().unwrap_or_default(), Some(place))
                })
                .collect(),
        )
    } else {
        BlockTransactions::Hashes(txs.iter().map(|t| *t.tx_hash()).collect())
    };
    Block {
        header: RpcHeader {
            hash,
            inner: header,
            total_difficulty: Some(U256::ZERO),
            size: Some(U256::from(size)),
        },
        uncles: vec![],
        transactions,
        withdrawals: Some(Withdrawals::default()),
    }
}
