// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

/// @title PeregrineInbox
/// @notice Where Peregrine's batcher posts L2 batches, and where it commits, per L2 block,
/// to the ordered list of the block's signed mini-block headers.
/// @dev The batch data is the `frames` argument (calldata) or the transaction's blobs; this
/// contract does not read it. The commitments are stored, once: a block's commitment can
/// never be changed after it is posted, so a preconfirmation can be held against it.
/// See docs/batch-format.md.
contract PeregrineInbox {
    /// The only address allowed to post.
    address public immutable batcher;

    /// One L2 block's commitment. `root` is the Merkle root of its mini-block headers'
    /// leaves (OpenZeppelin StandardMerkleTree leaves of abi.encode(uint256 index, bytes32
    /// headerDigest), sorted-pair hashing); `count` how many mini-blocks it has;
    /// `l1Block` the L1 block that stored it (0: never posted).
    struct Commitment {
        bytes32 root;
        uint32 count;
        uint64 l1Block;
    }

    mapping(uint64 => Commitment) internal commitments;

    /// An L2 block's commitment was stored.
    event Committed(uint64 indexed l2Block, bytes32 root, uint32 count);

    error NotBatcher();
    error LengthMismatch();
    error AlreadyCommitted(uint64 l2Block);

    constructor(address batcher_) {
        batcher = batcher_;
    }

    /// Posts batch data (frames, or empty when the data is in blobs) and the commitments of
    /// L2 blocks `firstBlock .. firstBlock + roots.length - 1`. A block committed before
    /// with the same root and count is skipped (a re-post after an L1 reorg or a
    /// resubmission); with a different one the call reverts.
    function post(uint64 firstBlock, bytes32[] calldata roots, uint32[] calldata counts, bytes calldata frames)
        external
    {
        frames;
        if (msg.sender != batcher) revert NotBatcher();
        if (roots.length != counts.length) revert LengthMismatch();
        for (uint256 i = 0; i < roots.length; i++) {
            uint64 n = firstBlock + uint64(i);
            Commitment storage c = commitments[n];
            if (c.l1Block != 0) {
                if (c.root != roots[i] || c.count != counts[i]) revert AlreadyCommitted(n);
                continue;
            }
            c.root = roots[i];
            c.count = counts[i];
            c.l1Block = uint64(block.number);
            emit Committed(n, roots[i], counts[i]);
        }
    }

    /// The commitment of L2 block `l2Block` (all zero if none was posted).
    function commitment(uint64 l2Block) external view returns (bytes32 root, uint32 count, uint64 l1Block) {
        Commitment storage c = commitments[l2Block];
        return (c.root, c.count, c.l1Block);
    }
}
