//! The sequencer's signing key.

use std::fmt;
use std::path::Path;

use alloy_primitives::{Address, B256, Signature, keccak256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;

use crate::error::KeyError;
use crate::header::{MiniBlockHeader, SignedHeader};

/// The string whose keccak256 is the development key's private key.
pub const DEV_KEY_SEED: &str = "peregrine.dev.sequencer";

/// Address of [`SequencerKey::dev`].
pub const DEV_SEQUENCER_ADDRESS: Address =
    alloy_primitives::address!("0x0000000000000000000000000000000000000000");

/// A sequencer signing key (secp256k1). Signing is deterministic (RFC 6979): the same header
/// signed twice gives the same bytes. `Debug` shows the address, never the key.
#[derive(Clone)]
pub struct SequencerKey {
    signer: PrivateKeySigner,
}

impl SequencerKey {
    /// The fixed development key, private key `keccak256("peregrine.dev.sequencer")`, address
    /// [`DEV_SEQUENCER_ADDRESS`]. Public knowledge: never use it where preconfirmations matter.
    pub fn dev() -> Self {
        Self::from_bytes(&keccak256(DEV_KEY_SEED)).expect("the dev key is a valid scalar")
    }

    /// Loads a key from a file holding the private key as 64 hex digits, with an optional
    /// `0x` prefix; surrounding whitespace (a trailing newline) is ignored. Errors name the
    /// file and the problem, never the file's contents.
    pub fn from_file(path: &Path) -> Result<Self, KeyError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| KeyError::Read { path: path.to_owned(), source })?;
        let format = |reason: String| KeyError::Format { path: path.to_owned(), reason };
        let trimmed = text.trim();
        let digits = trimmed
            .strip_prefix("0x")
            .or_else(|| trimmed.strip_prefix("0X"))
            .unwrap_or(trimmed);
        if digits.is_empty() {
            return Err(format("the file is empty".into()));
        }
        if let Some(pos) = digits.find(|c: char| !c.is_ascii_hexdigit()) {
            return Err(format(format!("non-hex character at position {pos}")));
        }
        if digits.len() != 64 {
            return Err(format(format!("expected 64 hex digits, found {}", digits.len())));
        }
        let bytes: B256 = digits.parse().map_err(|e| format(format!("{e}")))?;
        Self::from_bytes(&bytes).map_err(|_| {
            format("zero or not below the secp256k1 curve order: not a valid private key".into())
        })
    }

    /// A key from its 32 private-key bytes.
    pub fn from_bytes(b: &B256) -> Result<Self, KeyError> {
        PrivateKeySigner::from_bytes(b)
            .map(|signer| Self { signer })
            .map_err(|_| KeyError::InvalidScalar)
    }

    /// The sequencer address: what [`SignedHeader::recover_signer`] returns for its signatures.
    pub fn address(&self) -> Address {
        self.signer.address()
    }

    /// Signs `header.signing_hash()`. Deterministic, with a low `s` and `v` = 27/28 in the
    /// 65-byte form.
    pub fn sign(&self, header: &MiniBlockHeader) -> Signature {
        // Signing a 32-byte prehash with a valid k256 key only fails with negligible
        // probability (an RFC 6979 nonce giving r = 0 or s = 0).
        self.signer
            .sign_hash_sync(&header.signing_hash())
            .expect("secp256k1 signing of a prehash with a valid key")
    }

    /// Signs `header` and pairs it with its signature.
    pub fn sign_header(&self, header: MiniBlockHeader) -> SignedHeader {
        SignedHeader { signature: self.sign(&header), header }
    }
}

impl fmt::Debug for SequencerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SequencerKey").field("address", &self.address()).finish_non_exhaustive()
    }
}
