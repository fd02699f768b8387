// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

/// The part of PeregrineInbox this contract reads.
interface IPeregrineInbox {
    function commitment(uint64 l2Block)
        external
        view
        returns (bytes32 root, uint32 count, uint64 firstMiniBlock, uint64 l1Block);
}

/// @title PeregrineBond
/// @notice The sequencer's bond, and the judge of its broken promises. Anyone holding a
/// preconfirmation the sequencer broke takes part of the bond with one transaction, from
/// what clients already receive: the EIP-712 signed mini-block header (domain
/// {name: "Peregrine", version: "2", chainId}) and OpenZeppelin Merkle proofs. No oracle, no
/// committee. See docs/trust.md.
///
/// Faults, each provable once (by the header digest, or by the pair for equivocation):
/// - Equivocation: two different headers signed by the bonded key for the same chain and
///   the same mini-block number, or the same parent.
/// - Mismatch: the inbox's commitment of the header's L2 block holds another digest at the
///   header's position (`miniBlockNumber - firstMiniBlock`).
/// - Omitted: the commitment was posted, but the header's position is outside it.
/// - NotPosted: no commitment of the header's L2 block by `postingDeadline` seconds after
///   the header's signed timestamp. A liveness fault: it costs `livenessPenalty`; the
///   three above are safety faults and cost `safetyPenalty` (at most what is bonded).
/// Half of what is slashed goes to the challenger, the rest stays locked here for good.
///
/// A fault can be proven until `postingDeadline + challengeWindow` seconds after the
/// header's signed timestamp; a withdrawal waits `withdrawalDelay`, which is longer.
contract PeregrineBond {
    /// Mirrors peregrine_preconf::MiniBlockHeader, field for field.
    struct MiniBlockHeader {
        uint64 chainId;
        uint64 blockNumber;
        uint64 miniBlockNumber;
        bytes32 parentHash;
        uint64 firstSequence;
        bytes32 transactionsRoot;
        bytes32 receiptsRoot;
        bytes32 stateDiffRoot;
        uint64 timestampMicros;
        bytes32 sendersHash;
        bytes32 blockContextHash;
    }

    /// A signature in EIP-2098 compact form: `r`, and `s` with the parity of `v` (27 or
    /// 28) in its top bit. The 65-byte `r || s || v` of a preconfirmation converts exactly.
    struct Signature {
        bytes32 r;
        bytes32 vs;
    }

    enum Fault {
        Equivocation,
        Mismatch,
        Omitted,
        NotPosted
    }

    bytes32 public constant HEADER_TYPEHASH = keccak256(
        "MiniBlockHeader(uint64 chainId,uint64 blockNumber,uint64 miniBlockNumber,bytes32 parentHash,"
        "uint64 firstSequence,bytes32 transactionsRoot,bytes32 receiptsRoot,bytes32 stateDiffRoot,"
        "uint64 timestampMicros,bytes32 sendersHash,bytes32 blockContextHash)"
    );

    /// The bonded key: the sequencer's preconfirmation signer.
    address public immutable sequencer;
    /// Where the batcher commits to each L2 block's headers.
    IPeregrineInbox public immutable inbox;
    /// The L2 chain id (the EIP-712 domain's chainId).
    uint64 public immutable chainId;
    /// EIP-712 domain separator of {name: "Peregrine", version: "2", chainId}.
    bytes32 public immutable domainSeparator;
    /// Seconds after a header's timestamp by which its block must be committed.
    uint64 public immutable postingDeadline;
    /// Seconds after the posting deadline during which faults can still be proven.
    uint64 public immutable challengeWindow;
    /// Seconds between a withdrawal request and the withdrawal.
    uint64 public immutable withdrawalDelay;
    /// Slashed for equivocation, mismatch and omission (at most the bond).
    uint256 public immutable safetyPenalty;
    /// Slashed for a block not posted in time (at most the bond).
    uint256 public immutable livenessPenalty;

    /// What is bonded now.
    uint256 public bond;
    /// When a withdrawal was requested (0: none pending).
    uint64 public withdrawalRequestedAt;
    /// Faults already proven, by id.
    mapping(bytes32 => bool) public proven;

    event Deposited(address indexed from, uint256 amount);
    event WithdrawalRequested(uint64 at);
    event Withdrawn(uint256 amount);
    event Slashed(Fault indexed fault, bytes32 indexed id, address indexed challenger, uint256 amount, uint256 reward);

    error BadConfig();
    error NotSequencer();
    error WrongChain(uint64 chainId);
    error WrongSigner(address signer);
    error TooLate(uint256 deadline);
    error NotEquivocation();
    error AlreadyProven(bytes32 id);
    error NotPosted(uint64 l2Block);
    error Posted(uint64 l2Block);
    error StillInTime(uint256 deadline);
    error NoFault();
    error BadProof();
    error NoBond();
    error NoWithdrawal();
    error WithdrawalNotDue(uint256 due);
    error TransferFailed();

    constructor(
        address sequencer_,
        IPeregrineInbox inbox_,
        uint64 chainId_,
        uint64 postingDeadline_,
        uint64 challengeWindow_,
        uint64 withdrawalDelay_,
        uint256 safetyPenalty_,
        uint256 livenessPenalty_
    ) payable {
        if (withdrawalDelay_ <= uint256(postingDeadline_) + challengeWindow_) revert BadConfig();
        sequencer = sequencer_;
        inbox = inbox_;
        chainId = chainId_;
        postingDeadline = postingDeadline_;
        challengeWindow = challengeWindow_;
        withdrawalDelay = withdrawalDelay_;
        safetyPenalty = safetyPenalty_;
        livenessPenalty = livenessPenalty_;
        domainSeparator = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId)"),
                keccak256("Peregrine"),
                keccak256("2"),
                uint256(chainId_)
            )
        );
        bond = msg.value;
        if (msg.value > 0) emit Deposited(msg.sender, msg.value);
    }

    // ----- the bond -------------------------------------------------------------------

    /// Adds to the bond (anyone may).
    function deposit() external payable {
        bond += msg.value;
        emit Deposited(msg.sender, msg.value);
    }

    /// Starts the withdrawal delay. Preconfirmations signed after this are not backed.
    function requestWithdrawal() external {
        if (msg.sender != sequencer) revert NotSequencer();
        withdrawalRequestedAt = uint64(block.timestamp);
        emit WithdrawalRequested(uint64(block.timestamp));
    }

    /// Pays out the whole bond, `withdrawalDelay` after the request.
    function withdraw() external {
        if (msg.sender != sequencer) revert NotSequencer();
        if (withdrawalRequestedAt == 0) revert NoWithdrawal();
        uint256 due = uint256(withdrawalRequestedAt) + withdrawalDelay;
        if (block.timestamp < due) revert WithdrawalNotDue(due);
        uint256 amount = bond;
        bond = 0;
        withdrawalRequestedAt = 0;
        emit Withdrawn(amount);
        (bool ok,) = sequencer.call{value: amount}("");
        if (!ok) revert TransferFailed();
    }

    /// Slashed and not paid out: locked here for good (everything held beyond the bond;
    /// not a storage variable, which would cost every proof a write).
    function burned() external view returns (uint256) {
        return address(this).balance - bond;
    }

    // ----- proofs ---------------------------------------------------------------------

    /// The EIP-712 digest of `h`: the mini-block's hash, and what the sequencer signs.
    /// keccak256(0x1901 || domainSeparator || keccak256(HEADER_TYPEHASH || abi.encode(h))):
    /// the struct's eleven words are hashed as they are in calldata (a field with dirty
    /// high bits only makes another digest, which no signature of the bonded key covers).
    function headerDigest(MiniBlockHeader calldata h) public view returns (bytes32 d) {
        bytes32 typeHash = HEADER_TYPEHASH;
        bytes32 separator = domainSeparator;
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, typeHash)
            calldatacopy(add(m, 0x20), h, 0x160)
            let structHash := keccak256(m, 0x180)
            mstore(m, 0x1901000000000000000000000000000000000000000000000000000000000000)
            mstore(add(m, 0x02), separator)
            mstore(add(m, 0x22), structHash)
            d := keccak256(m, 0x42)
        }
    }

    /// Two different headers signed by the bonded key for the same mini-block number, or
    /// with the same parent.
    function proveEquivocation(
        MiniBlockHeader calldata a,
        Signature calldata signatureA,
        MiniBlockHeader calldata b,
        Signature calldata signatureB
    ) external {
        bytes32 da = checked(a, signatureA);
        bytes32 db = checked(b, signatureB);
        if (da == db || (a.miniBlockNumber != b.miniBlockNumber && a.parentHash != b.parentHash)) {
            revert NotEquivocation();
        }
        bytes32 id = da < db ? keccak256(abi.encode(da, db)) : keccak256(abi.encode(db, da));
        slash(Fault.Equivocation, id, safetyPenalty);
    }

    /// `h` against the posted commitment of its L2 block: slashes when the commitment holds
    /// `committed` (≠ the header's digest) at the header's position, with `proof` the Merkle
    /// proof of that leaf, or when the position is outside the commitment (then `committed`
    /// and `proof` are not read).
    function proveMismatch(
        MiniBlockHeader calldata h,
        Signature calldata signature,
        bytes32 committed,
        bytes32[] calldata proof
    ) external {
        bytes32 d = checked(h, signature);
        (bytes32 root, uint32 count, uint64 first, uint64 l1Block) = inbox.commitment(h.blockNumber);
        if (l1Block == 0) revert NotPosted(h.blockNumber);
        if (h.miniBlockNumber < first || h.miniBlockNumber - first >= count) {
            slash(Fault.Omitted, d, safetyPenalty);
            return;
        }
        if (committed == d) revert NoFault();
        uint256 position = h.miniBlockNumber - first;
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(position, committed))));
        if (!MerkleProof.verifyCalldata(proof, root, leaf)) revert BadProof();
        slash(Fault.Mismatch, d, safetyPenalty);
    }

    /// `h`'s L2 block has no commitment, `postingDeadline` seconds after `h` was signed.
    function proveNotPosted(MiniBlockHeader calldata h, Signature calldata signature) external {
        bytes32 d = checked(h, signature);
        (,,, uint64 l1Block) = inbox.commitment(h.blockNumber);
        if (l1Block != 0) revert Posted(h.blockNumber);
        uint256 deadline = h.timestampMicros / 1e6 + postingDeadline;
        if (block.timestamp <= deadline) revert StillInTime(deadline);
        slash(Fault.NotPosted, d, livenessPenalty);
    }

    /// The digest of `h` after checking that it is for this chain, signed by the bonded key
    /// (low `s`, under this domain), and still within its challenge window.
    function checked(MiniBlockHeader calldata h, Signature calldata signature) internal view returns (bytes32 d) {
        if (h.chainId != chainId) revert WrongChain(h.chainId);
        uint256 last = h.timestampMicros / 1e6 + postingDeadline + challengeWindow;
        if (block.timestamp > last) revert TooLate(last);
        d = headerDigest(h);
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(d, signature.r, signature.vs);
        if (err != ECDSA.RecoverError.NoError || signer != sequencer) revert WrongSigner(signer);
    }

    function slash(Fault fault, bytes32 id, uint256 penalty) internal {
        if (proven[id]) revert AlreadyProven(id);
        uint256 amount = penalty < bond ? penalty : bond;
        if (amount == 0) revert NoBond();
        proven[id] = true;
        bond -= amount;
        uint256 reward = amount / 2;
        emit Slashed(fault, id, msg.sender, amount, reward);
        (bool ok,) = msg.sender.call{value: reward}("");
        if (!ok) revert TransferFailed();
    }
}
