//! The L1 contract that slashes a broken promise (`preconf/contracts/PeregrineBond.sol`):
//! its interface, the calldata of each proof, and its errors decoded.
//!
//! The proofs take what clients already hold: a [`SignedHeader`] (in a preconfirmation,
//! or on the `miniBlocks` feed) and, for a mismatch, a Merkle proof against the inbox's
//! commitment of the header's L2 block, built from the header digests the batcher posted
//! (calldata of `PeregrineInbox.post`).

use alloy_primitives::{B256, Bytes, U256};
use alloy_sol_types::{SolCall, SolInterface, sol};

use crate::header::{MiniBlockHeader, SignedHeader};

sol! {
    /// `PeregrineBond`'s interface.
    #[derive(Debug, PartialEq, Eq)]
    contract PeregrineBond {
        /// `PeregrineBond.MiniBlockHeader`: the fields of [`MiniBlockHeader`], in order.
        struct Header {
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

        /// EIP-2098 compact signature: `r`, and `s` with `v`'s parity in its top bit.
        struct Signature {
            bytes32 r;
            bytes32 vs;
        }

        function proveEquivocation(Header a, Signature signatureA, Header b, Signature signatureB);
        function proveMismatch(Header h, Signature signature, bytes32 committed, bytes32[] proof);
        function proveNotPosted(Header h, Signature signature);
        function headerDigest(Header h) returns (bytes32);
        function postingDeadline() returns (uint64);
        function bond() returns (uint256);
        function sequencer() returns (address);
        function inbox() returns (address);

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
    }
}

pub use PeregrineBond::PeregrineBondErrors as BondError;

impl From<&MiniBlockHeader> for PeregrineBond::Header {
    fn from(h: &MiniBlockHeader) -> Self {
        Self {
            chainId: h.chainId,
            blockNumber: h.blockNumber,
            miniBlockNumber: h.miniBlockNumber,
            parentHash: h.parentHash,
            firstSequence: h.firstSequence,
            transactionsRoot: h.transactionsRoot,
            receiptsRoot: h.receiptsRoot,
            stateDiffRoot: h.stateDiffRoot,
            timestampMicros: h.timestampMicros,
            sendersHash: h.sendersHash,
            blockContextHash: h.blockContextHash,
        }
    }
}

/// The header's signature in the compact form the contract takes (EIP-2098).
fn signature(h: &SignedHeader) -> PeregrineBond::Signature {
    let sig = &h.signature;
    let mut vs = sig.s();
    if sig.v() {
        vs |= U256::from(1) << 255;
    }
    PeregrineBond::Signature {
        r: sig.r().into(),
        vs: vs.into(),
    }
}

/// Calldata of `proveEquivocation(a, b)`.
pub fn equivocation_calldata(a: &SignedHeader, b: &SignedHeader) -> Bytes {
    PeregrineBond::proveEquivocationCall {
        a: (&a.header).into(),
        signatureA: signature(a),
        b: (&b.header).into(),
        signatureB: signature(b),
    }
    .abi_encode()
    .into()
}

/// Calldata of `proveMismatch(h, committed, proof)`: the commitment of `h`'s block holds
/// `committed` at `h`'s position (`proof` its Merkle proof), or does not reach that
/// position (then `committed` and `proof` are not read: pass zero and nothing).
pub fn mismatch_calldata(h: &SignedHeader, committed: B256, proof: Vec<B256>) -> Bytes {
    PeregrineBond::proveMismatchCall {
        h: (&h.header).into(),
        signature: signature(h),
        committed,
        proof,
    }
    .abi_encode()
    .into()
}

/// Calldata of `proveNotPosted(h)`.
pub fn not_posted_calldata(h: &SignedHeader) -> Bytes {
    PeregrineBond::proveNotPostedCall {
        h: (&h.header).into(),
        signature: signature(h),
    }
    .abi_encode()
    .into()
}

/// The contract's error in `revert` data, by name and arguments (`None` for data that is
/// none of its errors).
pub fn decode_error(data: &[u8]) -> Option<BondError> {
    BondError::abi_decode(data).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SequencerKey;
    use alloy_primitives::keccak256;
    use alloy_sol_types::SolError;

    #[test]
    fn the_bond_hashes_headers_as_the_client_format_does() {
        // The contract's `headerDigest` is keccak(0x1901 || separator || keccak(typehash ||
        // abi.encode(header))): the ABI encoding of the mirrored struct must be the EIP-712
        // encoded data of `MiniBlockHeader`.
        use alloy_sol_types::{SolStruct, SolValue};
        let h = MiniBlockHeader {
            chainId: 901,
            blockNumber: 3,
            miniBlockNumber: 17,
            parentHash: keccak256("p"),
            timestampMicros: 1_700_000_000_000_000,
            ..Default::default()
        };
        let mirrored: PeregrineBond::Header = (&h).into();
        assert_eq!(mirrored.abi_encode(), h.eip712_encode_data());
    }

    #[test]
    fn calldata_carries_the_signed_headers() {
        let key = SequencerKey::dev();
        let a = key.sign_header(MiniBlockHeader {
            chainId: 901,
            miniBlockNumber: 5,
            ..Default::default()
        });
        let b = key.sign_header(MiniBlockHeader {
            chainId: 901,
            miniBlockNumber: 5,
            firstSequence: 1,
            ..Default::default()
        });
        let data = equivocation_calldata(&a, &b);
        let call = PeregrineBond::proveEquivocationCall::abi_decode(&data).unwrap();
        assert_eq!(call.a, (&a.header).into());
        assert_eq!(call.signatureB.r, B256::from(b.signature.r()));
        let data = mismatch_calldata(&a, B256::ZERO, vec![keccak256("x")]);
        assert!(PeregrineBond::proveMismatchCall::abi_decode(&data).is_ok());
        assert_eq!(
            decode_error(&PeregrineBond::NoFault {}.abi_encode()),
            Some(BondError::NoFault(PeregrineBond::NoFault {}))
        );
        assert!(decode_error(&[1, 2, 3, 4]).is_none());
    }
}
