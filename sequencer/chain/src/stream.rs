//! The replication stream (`miniBlocks` version 2): what a replica follows.
//!
//! Items come block by block: each mini-block of a block ([`StreamItem::MiniBlock`]: the
//! signed record, with the raw transactions and the block context its header commits
//! to), then the block's signed seal ([`StreamItem::Seal`]). A block without mini-blocks
//! is a seal alone. Everything a replica applies is under a signature: the record's
//! through its EIP-712 header (raw bytes hash to the transaction hashes under
//! `transactionsRoot`, senders to `sendersHash`, the context to `blockContextHash`), the
//! seal's through its own, and a seal's `context` through `blockHash`, which the replica
//! recomputes.

use crate::{block::BlockContext, record::MiniBlockRecord};
use alloy_primitives::{B256, Bytes, Signature};
use peregrine_preconf::{BlockSeal, SignedSeal};
use serde::{Deserialize, Serialize};

/// One item of the stream.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(clippy::large_enum_variant)] // nearly every item is a mini-block: boxing it costs each one an allocation
pub enum StreamItem {
    /// A signed mini-block.
    MiniBlock(MiniBlockItem),
    /// The end of a block.
    Seal(SealItem),
}

/// A mini-block on the wire.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MiniBlockItem {
    /// The number of the next mini-block the sender had when it sent this item (not
    /// signed: it only tells the receiver how far behind it is).
    pub stream_head: u64,
    /// The signed record.
    pub record: Box<MiniBlockRecord>,
}

/// A block's signed seal on the wire: the [`BlockSeal`] fields, the signature, and the
/// block's context (for a block without mini-blocks, the only place it is given).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SealItem {
    /// Chain id.
    pub chain_id: u64,
    /// The sealed block.
    pub block_number: u64,
    /// Its hash.
    pub block_hash: B256,
    /// Its state root.
    pub state_root: B256,
    /// The first mini-block of any later block.
    pub next_mini_block: u64,
    /// The last mini-block up to this block.
    pub last_mini_block_hash: B256,
    /// The sequencer's signature over the seal's EIP-712 digest (65 bytes, v = 27/28).
    pub signature: Bytes,
    /// The block's context.
    pub context: BlockContext,
    /// As in [`MiniBlockItem::stream_head`].
    pub stream_head: u64,
}

impl SealItem {
    /// The wire form of `seal`, for the block of context `context`, sent when the
    /// sender's next mini-block is `stream_head`.
    pub fn new(seal: &SignedSeal, context: BlockContext, stream_head: u64) -> Self {
        let s = &seal.seal;
        Self {
            chain_id: s.chainId,
            block_number: s.blockNumber,
            block_hash: s.blockHash,
            state_root: s.stateRoot,
            next_mini_block: s.nextMiniBlock,
            last_mini_block_hash: s.lastMiniBlockHash,
            signature: Bytes::copy_from_slice(&seal.signature.as_bytes()),
            context,
            stream_head,
        }
    }

    /// The signed seal it carries (`None` if the signature is not 65 bytes).
    pub fn signed(&self) -> Option<SignedSeal> {
        Some(SignedSeal {
            seal: BlockSeal {
                chainId: self.chain_id,
                blockNumber: self.block_number,
                blockHash: self.block_hash,
                stateRoot: self.state_root,
                nextMiniBlock: self.next_mini_block,
                lastMiniBlockHash: self.last_mini_block_hash,
            },
            signature: Signature::from_raw(&self.signature).ok()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use peregrine_preconf::SequencerKey;

    #[test]
    fn a_seal_survives_the_wire() {
        let seal = BlockSeal {
            chainId: 901,
            blockNumber: 4,
            blockHash: B256::repeat_byte(1),
            stateRoot: B256::repeat_byte(2),
            nextMiniBlock: 9,
            lastMiniBlockHash: B256::repeat_byte(3),
        };
        let signed = SignedSeal {
            seal,
            signature: SequencerKey::dev().sign_digest(seal.signing_hash()),
        };
        let item = StreamItem::Seal(SealItem::new(&signed, crate::testing::block_context(4), 12));
        let json = serde_json::to_string(&item).unwrap();
        assert!(
            json.starts_with(r#"{"seal":{"chainId":901,"blockNumber":4,"#),
            "{json}"
        );
        let StreamItem::Seal(back) = serde_json::from_str(&json).unwrap() else {
            panic!("not a seal: {json}");
        };
        assert_eq!(back.signed(), Some(signed));
        assert_eq!(back.context, crate::testing::block_context(4));
    }
}
