// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

/// @title PeregrineInbox
/// @notice Where Peregrine's batcher posts L2 batches, and where it commits, per L2 block,
/// to the ordered list of the block's signed mini-block headers.
/// @dev The batch data is the `frames` argument (calldata) or the transaction's blobs; this
/// contract does not read it. The header digests themselves are calldata of `post`, so
/// anyone can read them back from L1 and build a Merkle proof against the root this
/// contract computes from them: a commitment whose leaves were never published cannot
/// exist. A block's commitment is stored once and never changes, so a preconfirmation can
/// be held against it (PeregrineBond). See docs/batch-format.md.
contract PeregrineInbox {
    /// The only address allowed to post.
    address public immutable batcher;

    /// One L2 block's commitment. `root` is the Merkle root over leaf `i` =
    /// keccak256(bytes.concat(keccak256(abi.encode(uint256 i, bytes32 headerDigest)))), the
    /// OpenZeppelin StandardMerkleTree leaf, pairs hashed sorted, an odd last node promoted;
    /// `count` how many mini-blocks the block has; `firstMiniBlock` the number of its first
    /// (header `i` has number `firstMiniBlock + i`); `l1Block` the L1 block that stored it
    /// (0: never posted).
    struct Commitment {
        bytes32 root;
        uint32 count;
        uint64 firstMiniBlock;
        uint64 l1Block;
    }

    mapping(uint64 => Commitment) internal commitments;

    /// An L2 block's commitment was stored.
    event Committed(uint64 indexed l2Block, bytes32 root, uint32 count, uint64 firstMiniBlock);

    error NotBatcher();
    error LengthMismatch();
    error AlreadyCommitted(uint64 l2Block);

    constructor(address batcher_) {
        batcher = batcher_;
    }

    /// Posts batch data (frames, or empty when the data is in blobs) and the commitments of
    /// L2 blocks `firstBlock .. firstBlock + counts.length - 1`: block `firstBlock + k` has
    /// `counts[k]` mini-blocks, numbered from `firstMiniBlocks[k]`, whose header digests are
    /// the next `counts[k]` entries of `headers`. A block committed before with the same
    /// root, count and first mini-block is skipped (a re-post after an L1 reorg or a
    /// resubmission); with a different one the call reverts.
    function post(
        uint64 firstBlock,
        uint64[] calldata firstMiniBlocks,
        uint32[] calldata counts,
        bytes32[] calldata headers,
        bytes calldata frames
    ) external {
        frames;
        if (msg.sender != batcher) revert NotBatcher();
        if (firstMiniBlocks.length != counts.length) revert LengthMismatch();
        uint256 at = 0;
        for (uint256 k = 0; k < counts.length; k++) {
            uint256 count = counts[k];
            if (at + count > headers.length) revert LengthMismatch();
            store(firstBlock + uint64(k), merkleRoot(headers[at:at + count]), uint32(count), firstMiniBlocks[k]);
            at += count;
        }
        if (at != headers.length) revert LengthMismatch();
    }

    function store(uint64 n, bytes32 root, uint32 count, uint64 first) internal {
        Commitment storage c = commitments[n];
        if (c.l1Block != 0) {
            if (c.root != root || c.count != count || c.firstMiniBlock != first) revert AlreadyCommitted(n);
            return;
        }
        c.root = root;
        c.count = count;
        c.firstMiniBlock = first;
        c.l1Block = uint64(block.number);
        emit Committed(n, root, count, first);
    }

    /// The commitment of L2 block `l2Block` (all zero if none was posted).
    function commitment(uint64 l2Block)
        external
        view
        returns (bytes32 root, uint32 count, uint64 firstMiniBlock, uint64 l1Block)
    {
        Commitment storage c = commitments[l2Block];
        return (c.root, c.count, c.firstMiniBlock, c.l1Block);
    }

    /// The root over `digests`' leaves (zero for none), as `peregrine_preconf::MerkleTree`
    /// builds it: leaf `i` = keccak256(keccak256(abi.encode(i, digests[i]))), pairs hashed
    /// sorted, an odd last node promoted. Hashes in the scratch space and keeps one level
    /// in memory, overwritten level by level (no allocation per node: memory stays linear
    /// in the number of leaves).
    function merkleRoot(bytes32[] calldata digests) public pure returns (bytes32 root) {
        uint256 n = digests.length;
        if (n == 0) return bytes32(0);
        bytes32[] memory level = new bytes32[](n);
        assembly ("memory-safe") {
            let base := add(level, 0x20)
            for { let i := 0 } lt(i, n) { i := add(i, 1) } {
                mstore(0x00, i)
                mstore(0x20, calldataload(add(digests.offset, shl(5, i))))
                mstore(0x00, keccak256(0x00, 0x40))
                mstore(add(base, shl(5, i)), keccak256(0x00, 0x20))
            }
            for {} gt(n, 1) {} {
                let half := 0
                for { let i := 0 } lt(i, n) { i := add(i, 2) } {
                    let a := mload(add(base, shl(5, i)))
                    if lt(add(i, 1), n) {
                        let b := mload(add(base, shl(5, add(i, 1))))
                        switch lt(b, a)
                        case 1 {
                            mstore(0x00, b)
                            mstore(0x20, a)
                        }
                        default {
                            mstore(0x00, a)
                            mstore(0x20, b)
                        }
                        a := keccak256(0x00, 0x40)
                    }
                    mstore(add(base, shl(5, half)), a)
                    half := add(half, 1)
                }
                n := half
            }
            root := mload(base)
        }
    }
}
