//! The sequencer's signing key.

use std::fmt;
use std::path::Path;

use alloy_primitives::{Address, B256, Signature, U256, keccak256};
use alloy_signer_local::PrivateKeySigner;

use crate::error::KeyError;
use crate::header::{MiniBlockHeader, SignedHeader};

/// The string whose keccak256 is the development key's private key.
pub const DEV_KEY_SEED: &str = "peregrine.dev.sequencer";

/// Address of [`SequencerKey::dev`].
pub const DEV_SEQUENCER_ADDRESS: Address =
    alloy_primitives::address!("0xEB25E6d7f8118b1E24dD5Eff177Cea2110736076");

/// A sequencer signing key (secp256k1). Signing is deterministic (RFC 6979): the same header
/// signed twice gives the same bytes. `Debug` shows the address, never the key.
#[derive(Clone)]
pub struct SequencerKey {
    signer: PrivateKeySigner,
    /// The same key for libsecp256k1, which signs several times faster than pure-Rust k256.
    secret: secp256k1::SecretKey,
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
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
            path: path.to_owned(),
            source,
        })?;
        let format = |reason: String| KeyError::Format {
            path: path.to_owned(),
            reason,
        };
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
            return Err(format(format!(
                "expected 64 hex digits, found {}",
                digits.len()
            )));
        }
        let bytes: B256 = digits.parse().map_err(|e| format(format!("{e}")))?;
        Self::from_bytes(&bytes).map_err(|_| {
            format("zero or not below the secp256k1 curve order: not a valid private key".into())
        })
    }

    /// A key from its 32 private-key bytes.
    pub fn from_bytes(b: &B256) -> Result<Self, KeyError> {
        let signer = PrivateKeySigner::from_bytes(b).map_err(|_| KeyError::InvalidScalar)?;
        let secret =
            secp256k1::SecretKey::from_byte_array(&b.0).map_err(|_| KeyError::InvalidScalar)?;
        Ok(Self { signer, secret })
    }

    /// The sequencer address: what [`SignedHeader::recover_signer`] returns for its signatures.
    pub fn address(&self) -> Address {
        self.signer.address()
    }

    /// Signs `header.signing_hash()`. Deterministic, with a low `s` and `v` = 27/28 in the
    /// 65-byte form.
    pub fn sign(&self, header: &MiniBlockHeader) -> Signature {
        self.sign_digest(header.signing_hash())
    }

    /// Signs a digest already computed: `header.signing_hash()` for a mini-block header,
    /// when the caller needs the hash too and should not compute it twice.
    pub fn sign_digest(&self, digest: B256) -> Signature {
        // libsecp256k1: RFC 6979 nonces (the same bytes k256 would produce) and low `s`.
        let digest = secp256k1::Message::from_digest(digest.0);
        let sig = secp256k1::SECP256K1.sign_ecdsa_recoverable(&digest, &self.secret);
        let (rec_id, data) = sig.serialize_compact();
        Signature::new(
            U256::from_be_slice(&data[..32]),
            U256::from_be_slice(&data[32..]),
            i32::from(rec_id) != 0,
        )
    }

    /// Signs `header` and pairs it with its signature.
    pub fn sign_header(&self, header: MiniBlockHeader) -> SignedHeader {
        SignedHeader {
            signature: self.sign(&header),
            header,
        }
    }
}

impl fmt::Debug for SequencerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SequencerKey")
            .field("address", &self.address())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn libsecp256k1_signs_the_bytes_k256_signs() {
        use alloy_signer::SignerSync;
        let key = super::SequencerKey::dev();
        for n in 0..16u64 {
            let header = crate::MiniBlockHeader {
                chainId: 901,
                miniBlockNumber: n,
                timestampMicros: n * 7,
                ..Default::default()
            };
            let k256 = key.signer.sign_hash_sync(&header.signing_hash()).unwrap();
            assert_eq!(key.sign(&header), k256, "header {n}");
        }
    }

    use super::*;
    use std::io::Write;

    #[test]
    fn dev_key_address_is_stable() {
        assert_eq!(SequencerKey::dev().address(), DEV_SEQUENCER_ADDRESS);
        assert_eq!(
            SequencerKey::dev().address().to_checksum(None),
            "0xEB25E6d7f8118b1E24dD5Eff177Cea2110736076"
        );
    }

    #[test]
    fn debug_shows_the_address_not_the_key() {
        let debug = format!("{:?}", SequencerKey::dev());
        assert!(
            debug.contains("EB25E6d7") || debug.contains("eb25e6d7"),
            "{debug}"
        );
        let secret = alloy_primitives::hex::encode(keccak256(DEV_KEY_SEED));
        assert!(!debug.to_lowercase().contains(&secret[..16]), "{debug}");
    }

    fn key_file(contents: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(contents.as_bytes()).unwrap();
        f
    }

    #[test]
    fn from_file_accepts_hex_with_or_without_prefix_and_whitespace() {
        let hex = alloy_primitives::hex::encode(keccak256(DEV_KEY_SEED));
        for contents in [
            hex.clone(),
            format!("0x{hex}"),
            format!("  0x{hex}\n"),
            format!("\n{}\r\n", hex.to_uppercase()),
        ] {
            let key = SequencerKey::from_file(key_file(&contents).path()).unwrap();
            assert_eq!(key.address(), DEV_SEQUENCER_ADDRESS, "{contents:?}");
        }
    }

    #[test]
    fn from_file_errors_are_clear_and_never_echo_the_contents() {
        let hex = alloy_primitives::hex::encode(keccak256(DEV_KEY_SEED));
        let cases = [
            (String::new(), "empty"),
            (" \n".into(), "empty"),
            (
                format!("0x{}", &hex[..62]),
                "expected 64 hex digits, found 62",
            ),
            (format!("{hex}00"), "expected 64 hex digits, found 66"),
            (
                format!("{}zz", &hex[..62]),
                "non-hex character at position 62",
            ),
            ("0x".to_owned() + &"0".repeat(64), "not a valid private key"),
            ("f".repeat(64), "not a valid private key"),
        ];
        for (contents, expected) in cases {
            let file = key_file(&contents);
            let err = SequencerKey::from_file(file.path()).unwrap_err();
            let msg = err.to_string();
            assert!(matches!(err, KeyError::Format { .. }), "{msg}");
            assert!(msg.contains(expected), "{contents:?}: {msg}");
            assert!(msg.contains(&file.path().display().to_string()), "{msg}");
            if contents.trim().len() > 8 {
                assert!(!msg.contains(&contents.trim()[..8]), "{msg}");
            }
        }
        let missing = SequencerKey::from_file(Path::new("/nonexistent/peregrine.key")).unwrap_err();
        assert!(matches!(missing, KeyError::Read { .. }));
        assert!(missing.to_string().contains("/nonexistent/peregrine.key"));
    }

    #[test]
    fn from_bytes_refuses_invalid_scalars() {
        assert!(matches!(
            SequencerKey::from_bytes(&B256::ZERO),
            Err(KeyError::InvalidScalar)
        ));
        assert!(matches!(
            SequencerKey::from_bytes(&B256::repeat_byte(0xff)),
            Err(KeyError::InvalidScalar)
        ));
    }
}
