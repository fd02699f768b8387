//! The inbox contract's interface (`preconf/contracts/PeregrineInbox.sol`): the call the
//! batcher makes, and its decoding for derivation.

use crate::commitment::BlockCommitment;
use alloy_primitives::{B256, Bytes};
use alloy_sol_types::{SolCall, sol};

sol! {
    /// `PeregrineInbox.post`.
    function post(uint64 firstBlock, uint64[] firstMiniBlocks, uint32[] counts, bytes32[] headers, bytes frames);
    /// `PeregrineInbox.batcher`.
    function batcher() returns (address);
    /// `PeregrineInbox.commitment`.
    function commitment(uint64 l2Block) returns (bytes32 root, uint32 count, uint64 firstMiniBlock, uint64 l1Block);
}

/// The calldata of `post` for `commitments` (consecutive blocks) and `frames` (empty when
/// the data is in blobs).
pub fn post_calldata(commitments: &[BlockCommitment], frames: Vec<u8>) -> Bytes {
    let first = commitments.first().map_or(0, |c| c.number);
    debug_assert!(
        commitments
            .iter()
            .enumerate()
            .all(|(i, c)| c.number == first + i as u64)
    );
    postCall {
        firstBlock: first,
        firstMiniBlocks: commitments.iter().map(|c| c.first_mini_block).collect(),
        counts: commitments.iter().map(|c| c.count()).collect(),
        headers: commitments
            .iter()
            .flat_map(|c| c.headers.iter().copied())
            .collect(),
        frames: frames.into(),
    }
    .abi_encode()
    .into()
}

/// A decoded `post` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Post {
    /// The blocks' commitments.
    pub commitments: Vec<BlockCommitment>,
    /// The frames payload (empty when in blobs).
    pub frames: Bytes,
}

/// Decodes `post` calldata; `None` for any other call.
pub fn decode_post(input: &[u8]) -> Option<Post> {
    let call = postCall::abi_decode(input).ok()?;
    if call.firstMiniBlocks.len() != call.counts.len()
        || call.counts.iter().map(|&c| c as usize).sum::<usize>() != call.headers.len()
    {
        return None;
    }
    let mut headers = call.headers.iter().copied();
    let commitments = call
        .firstMiniBlocks
        .iter()
        .zip(&call.counts)
        .enumerate()
        .map(|(i, (&first, &count))| BlockCommitment {
            number: call.firstBlock + i as u64,
            first_mini_block: first,
            headers: headers.by_ref().take(count as usize).collect(),
        })
        .collect();
    Some(Post {
        commitments,
        frames: call.frames,
    })
}

/// The calldata of `batcher()`.
pub fn batcher_calldata() -> Bytes {
    batcherCall {}.abi_encode().into()
}

/// Decodes the answer of `batcher()`.
pub fn decode_batcher(output: &[u8]) -> Option<alloy_primitives::Address> {
    batcherCall::abi_decode_returns(output).ok()
}

/// The calldata of `commitment(l2Block)`.
pub fn commitment_calldata(l2_block: u64) -> Bytes {
    commitmentCall { l2Block: l2_block }.abi_encode().into()
}

/// A block's commitment as the inbox stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    /// Merkle root over the block's header digests.
    pub root: B256,
    /// How many mini-blocks.
    pub count: u32,
    /// Number of the first.
    pub first_mini_block: u64,
    /// The L1 block that stored it (0: not posted).
    pub l1_block: u64,
}

/// Decodes the answer of `commitment(l2Block)`.
pub fn decode_commitment(output: &[u8]) -> Option<Stored> {
    let r = commitmentCall::abi_decode_returns(output).ok()?;
    Some(Stored {
        root: r.root,
        count: r.count,
        first_mini_block: r.firstMiniBlock,
        l1_block: r.l1Block,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn post_round_trips() {
        let cs = vec![
            BlockCommitment::new(4, 10, vec![B256::repeat_byte(1), B256::repeat_byte(2)]),
            BlockCommitment::new(5, 12, vec![]),
            BlockCommitment::new(6, 12, vec![B256::repeat_byte(3); 9]),
        ];
        let data = post_calldata(&cs, vec![0, 1, 2]);
        let p = decode_post(&data).unwrap();
        assert_eq!(p.commitments, cs);
        assert_eq!(p.frames.as_ref(), &[0, 1, 2]);
        assert!(decode_post(&data[..10]).is_none());
    }
}
