//! The inbox contract's interface (`preconf/contracts/PeregrineInbox.sol`): the call the
//! batcher makes, and its decoding for derivation.

use crate::commitment::BlockCommitment;
use alloy_primitives::{B256, Bytes};
use alloy_sol_types::{SolCall, sol};

sol! {
    /// `PeregrineInbox.post`.
    function post(uint64 firstBlock, bytes32[] roots, uint32[] counts, bytes frames);
    /// `PeregrineInbox.batcher`.
    function batcher() returns (address);
    /// `PeregrineInbox.commitment`.
    function commitment(uint64 l2Block) returns (bytes32 root, uint32 count, uint64 l1Block);
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
        roots: commitments.iter().map(|c| c.root).collect(),
        counts: commitments.iter().map(|c| c.count).collect(),
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
    if call.roots.len() != call.counts.len() {
        return None;
    }
    let commitments = call
        .roots
        .iter()
        .zip(&call.counts)
        .enumerate()
        .map(|(i, (root, count))| BlockCommitment {
            number: call.firstBlock + i as u64,
            root: *root,
            count: *count,
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

/// Decodes the answer of `commitment(l2Block)`: root, count, L1 block.
pub fn decode_commitment(output: &[u8]) -> Option<(B256, u32, u64)> {
    let r = commitmentCall::abi_decode_returns(output).ok()?;
    Some((r.root, r.count, r.l1Block))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn post_round_trips() {
        let cs = vec![
            BlockCommitment {
                number: 4,
                root: B256::repeat_byte(1),
                count: 2,
            },
            BlockCommitment {
                number: 5,
                root: B256::repeat_byte(2),
                count: 9,
            },
        ];
        let data = post_calldata(&cs, vec![0, 1, 2]);
        let p = decode_post(&data).unwrap();
        assert_eq!(p.commitments, cs);
        assert_eq!(p.frames.as_ref(), &[0, 1, 2]);
        assert!(decode_post(&data[..10]).is_none());
    }
}
