//! Block views: the open L2 block as an honest Ethereum block after each mini-block.
//!
//! A wallet that knows only standard JSON-RPC learns of its transaction through a receipt,
//! and a receipt names a block by hash. Before a block seals, the block it names is a
//! **view**: the open block as it stands after one mini-block, a real Ethereum header whose
//! `transactionsRoot`, `receiptsRoot`, `logsBloom` and `gasUsed` cover the block's
//! transactions up to and including that mini-block, and whose hash is keccak256 of its
//! RLP, so any library can check it. Two fields differ from the sealed block:
//!
//! - `stateRoot` is zero: the state root is computed once, at the seal;
//! - `extraData` is the EIP-712 hash of the mini-block the view ends with (32 bytes), which
//!   binds the view to the signed promise and tells one view from the next.
//!
//! Every other field (parent, number, timestamp, base fee, gas limit, `mixHash`, …) is the
//! one the sealed block will carry. A view is a pure function of the parent's hash, the
//! block context and the mini-blocks, so replay after a crash rebuilds the same hashes.
//!
//! The tries are built incrementally ([`ViewBuilder`]): the ordered trie's keys are the
//! RLP of the index, and in nibble order those run 1‥127, 0, 128, 129, …, so from index 128
//! on every new key is the largest so far and alloy's [`HashBuilder`] can take it; the
//! root of a prefix is read from a clone (its stack is a few nodes). The builder runs on
//! the log thread, before the mini-block is published, because a sync receipt names its
//! view; it costs a transaction and a receipt encoding and two leaf hashes per
//! transaction, and two trie finalisations per mini-block (`benches/seal.rs`).

use crate::block::BlockContext;
use alloy_consensus::{EMPTY_OMMER_ROOT_HASH, Header, ReceiptEnvelope, TxEnvelope, TxReceipt};
use alloy_eips::{eip2718::Encodable2718, eip7685::EMPTY_REQUESTS_HASH};
use alloy_primitives::{B256, Bloom, Bytes};
use alloy_trie::{EMPTY_ROOT_HASH, HashBuilder, Nibbles};

/// What a view's header takes from the transactions it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViewParts {
    /// How many of the block's transactions it covers (its first `tx_count`).
    pub tx_count: u32,
    /// Root of the transactions trie over them.
    pub transactions_root: B256,
    /// Root of the receipts trie over them.
    pub receipts_root: B256,
    /// Union of their receipts' blooms.
    pub logs_bloom: Bloom,
    /// Gas they used together.
    pub gas_used: u64,
}

impl Default for ViewParts {
    fn default() -> Self {
        Self {
            tx_count: 0,
            transactions_root: EMPTY_ROOT_HASH,
            receipts_root: EMPTY_ROOT_HASH,
            logs_bloom: Bloom::ZERO,
            gas_used: 0,
        }
    }
}

impl ViewParts {
    /// The parts of a view over `txs` and `receipts` (the first transactions of a block),
    /// computed from scratch: for views of sealed blocks, read back from the store.
    pub fn over(txs: &[TxEnvelope], receipts: &[ReceiptEnvelope]) -> Self {
        let mut builder = ViewBuilder::default();
        for (tx, receipt) in txs.iter().zip(receipts) {
            builder.push_one(tx, receipt);
        }
        builder.parts()
    }
}

/// One ordered trie (index → encoded item), built as items are appended.
#[derive(Debug, Clone, Default)]
struct AppendTrie {
    builder: HashBuilder,
    /// Item 0's encoding: its key (0x80) sorts after those of items 1‥127, so it joins the
    /// builder only when item 128 arrives; until then each root adds it to a clone.
    first: Option<Vec<u8>>,
    len: usize,
    buf: Vec<u8>,
}

impl AppendTrie {
    fn key(index: usize) -> Nibbles {
        Nibbles::unpack(alloy_rlp::encode_fixed_size(&index))
    }

    fn push(&mut self, encode: impl FnOnce(&mut Vec<u8>)) {
        let index = self.len;
        self.len += 1;
        if index == 0 {
            let mut first = Vec::new();
            encode(&mut first);
            self.first = Some(first);
            return;
        }
        if index == 0x80
            && let Some(first) = self.first.take()
        {
            self.builder.add_leaf(Self::key(0), &first);
        }
        self.buf.clear();
        encode(&mut self.buf);
        self.builder.add_leaf(Self::key(index), &self.buf);
    }

    fn root(&self) -> B256 {
        if self.len == 0 {
            return EMPTY_ROOT_HASH;
        }
        let mut builder = self.builder.clone();
        if let Some(first) = &self.first {
            builder.add_leaf(Self::key(0), first);
        }
        builder.root()
    }
}

/// The views of one block, built as its mini-blocks close.
#[derive(Debug, Clone, Default)]
pub struct ViewBuilder {
    /// The block being built (`None` before its first transaction).
    block: Option<u64>,
    txs: AppendTrie,
    receipts: AppendTrie,
    bloom: Bloom,
    gas_used: u64,
}

impl ViewBuilder {
    /// Adds the transactions of a mini-block of block `block` (starting afresh when the
    /// block changes) and returns the parts of the view that ends with them.
    pub fn push<'a>(
        &mut self,
        block: u64,
        txs: impl IntoIterator<Item = (&'a TxEnvelope, &'a ReceiptEnvelope)>,
    ) -> ViewParts {
        if self.block != Some(block) {
            *self = Self {
                block: Some(block),
                ..Self::default()
            };
        }
        for (tx, receipt) in txs {
            self.push_one(tx, receipt);
        }
        self.parts()
    }

    fn push_one(&mut self, tx: &TxEnvelope, receipt: &ReceiptEnvelope) {
        self.txs.push(|buf| tx.encode_2718(buf));
        self.receipts.push(|buf| receipt.encode_2718(buf));
        self.bloom.accrue_bloom(&receipt.bloom());
        self.gas_used = receipt.cumulative_gas_used();
    }

    /// The parts of the view over everything pushed so far.
    pub fn parts(&self) -> ViewParts {
        ViewParts {
            tx_count: u32::try_from(self.txs.len).expect("fewer than 2^32 transactions a block"),
            transactions_root: self.txs.root(),
            receipts_root: self.receipts.root(),
            logs_bloom: self.bloom,
            gas_used: self.gas_used,
        }
    }
}

/// The header of block `ctx` on top of `parent_hash` over the transactions `parts`
/// describes. A sealed block passes its state root and empty `extra_data`; a view passes
/// zero and its mini-block's hash (see the module docs).
pub fn block_header(
    parent_hash: B256,
    ctx: &BlockContext,
    parts: &ViewParts,
    state_root: B256,
    extra_data: Bytes,
) -> Header {
    Header {
        parent_hash,
        ommers_hash: EMPTY_OMMER_ROOT_HASH,
        beneficiary: ctx.beneficiary,
        state_root,
        transactions_root: parts.transactions_root,
        receipts_root: parts.receipts_root,
        logs_bloom: parts.logs_bloom,
        difficulty: Default::default(),
        number: ctx.number,
        gas_limit: ctx.gas_limit,
        gas_used: parts.gas_used,
        timestamp: ctx.timestamp,
        extra_data,
        mix_hash: ctx.prevrandao,
        nonce: Default::default(),
        base_fee_per_gas: Some(ctx.base_fee),
        withdrawals_root: Some(EMPTY_ROOT_HASH),
        blob_gas_used: Some(0),
        excess_blob_gas: Some(0),
        parent_beacon_block_root: Some(B256::ZERO),
        requests_hash: Some(EMPTY_REQUESTS_HASH),
        ..Default::default()
    }
}

/// The header of the view that ends with mini-block `mini_hash`.
pub fn view_header(
    parent_hash: B256,
    ctx: &BlockContext,
    parts: &ViewParts,
    mini_hash: B256,
) -> Header {
    block_header(
        parent_hash,
        ctx,
        parts,
        B256::ZERO,
        Bytes::copy_from_slice(mini_hash.as_slice()),
    )
}

/// The block context a stored header was built with.
pub fn context_of(header: &Header) -> BlockContext {
    BlockContext {
        number: header.number,
        timestamp: header.timestamp,
        base_fee: header.base_fee_per_gas.unwrap_or_default(),
        gas_limit: header.gas_limit,
        beneficiary: header.beneficiary,
        prevrandao: header.mix_hash,
    }
}

/// What the log thread knows of a mini-block's view: everything but the parent block's
/// hash, which the chain service learns a fraction of a millisecond into the parent's
/// seal (and which may not be known yet when the mini-block is published).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViewSeed {
    /// The block's context.
    pub ctx: BlockContext,
    /// Its transactions up to and including the mini-block.
    pub parts: ViewParts,
}

impl ViewSeed {
    /// The view's header, on top of `parent_hash`, ending with mini-block `mini_hash`.
    pub fn header(&self, parent_hash: B256, mini_hash: B256) -> Header {
        view_header(parent_hash, &self.ctx, &self.parts, mini_hash)
    }
}

/// A view of the open block, as the chain service keeps it.
#[derive(Debug, Clone)]
pub struct OpenView {
    /// The view's hash (keccak256 of the RLP of `header`).
    pub hash: B256,
    /// Its header.
    pub header: Header,
    /// What it covers (`parts.tx_count`: the block's first transactions).
    pub parts: ViewParts,
    /// Number of the mini-block it ends with.
    pub mini_block: u64,
}

impl OpenView {
    /// How many of the block's transactions it covers.
    pub fn tx_end(&self) -> usize {
        self.parts.tx_count as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_consensus::{
        Receipt, ReceiptWithBloom, Signed, TxLegacy,
        proofs::{calculate_receipt_root, calculate_transaction_root},
    };
    use alloy_primitives::{Address, Log, LogData, Signature, TxKind, U256};

    fn tx(i: usize) -> TxEnvelope {
        let tx = TxLegacy {
            nonce: i as u64,
            gas_limit: 21_000,
            to: TxKind::Call(Address::with_last_byte(i as u8)),
            value: U256::from(i),
            ..Default::default()
        };
        let sig = Signature::new(U256::from(1 + i), U256::from(2 + i), i.is_multiple_of(2));
        TxEnvelope::Legacy(Signed::new_unchecked(
            tx,
            sig,
            B256::with_last_byte(i as u8),
        ))
    }

    fn receipt(i: usize) -> ReceiptEnvelope {
        let logs = if i.is_multiple_of(3) {
            vec![Log {
                address: Address::with_last_byte(i as u8),
                data: LogData::new_unchecked(vec![B256::with_last_byte(i as u8)], Bytes::new()),
            }]
        } else {
            vec![]
        };
        ReceiptEnvelope::Legacy(ReceiptWithBloom::from(Receipt {
            status: (!i.is_multiple_of(5)).into(),
            cumulative_gas_used: 21_000 * (i as u64 + 1),
            logs,
        }))
    }

    #[test]
    fn every_prefix_matches_a_trie_built_from_scratch() {
        // Across the 127/128 boundary, where item 0's key joins the builder, and past 256.
        let txs: Vec<_> = (0..300).map(tx).collect();
        let receipts: Vec<_> = (0..300).map(receipt).collect();
        let mut builder = ViewBuilder::default();
        // Mini-blocks of varying sizes, so roots are read at many different prefixes.
        let mut at = 0;
        let mut size = 1;
        while at < txs.len() {
            let end = (at + size).min(txs.len());
            let parts = builder.push(7, txs[at..end].iter().zip(&receipts[at..end]));
            assert_eq!(parts.tx_count as usize, end);
            assert_eq!(
                parts.transactions_root,
                calculate_transaction_root(&txs[..end])
            );
            assert_eq!(
                parts.receipts_root,
                calculate_receipt_root(&receipts[..end])
            );
            assert_eq!(parts, ViewParts::over(&txs[..end], &receipts[..end]));
            at = end;
            size = size % 7 + 1;
        }
    }

    #[test]
    fn a_new_block_starts_afresh() {
        let (txs, receipts): (Vec<_>, Vec<_>) = (0..3).map(|i| (tx(i), receipt(i))).unzip();
        let mut builder = ViewBuilder::default();
        builder.push(1, txs.iter().zip(&receipts));
        let parts = builder.push(2, txs[..1].iter().zip(&receipts[..1]));
        assert_eq!(parts, ViewParts::over(&txs[..1], &receipts[..1]));
        assert_eq!(ViewParts::over(&[], &[]), ViewParts::default());
    }
}
