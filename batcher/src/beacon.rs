//! Blobs from a consensus-layer node: the beacon API, for derivation against a production
//! L1 (`peregrine derive --l1.beacon <url>`).
//!
//! The slot of an execution block is `(timestamp - genesis_time) / SECONDS_PER_SLOT`
//! (`/eth/v1/beacon/genesis`, `/eth/v1/config/spec`, read once); its sidecars come from
//! `/eth/v1/beacon/blob_sidecars/{slot}` (Deneb and Electra; Fulu nodes serve it too
//! until they prune). The sidecars of a transaction are the ones whose commitments hash
//! to its `blob_versioned_hashes`, in that order, and each blob is checked against its
//! commitment and proof with c-kzg (`BlobTransactionSidecar::validate`) before it is
//! used: a beacon node is trusted for availability, not for content.
//!
//! **Written by hand** over `ureq` (three GET endpoints): the beacon client crates pull in
//! an async HTTP stack this blocking derivation does not need.

use crate::derive::{BlobSource, DeriveError};
use crate::l1::{L1Client, L1Tx};
use alloy_eips::eip4844::{
    Blob, BlobTransactionSidecar, Bytes48, env_settings::EnvKzgSettings, kzg_to_versioned_hash,
};
use alloy_primitives::{B256, Bytes};
use serde::Deserialize;
use serde_json::Value;
use std::sync::OnceLock;
use std::time::Duration;

/// A beacon node's blob sidecars, located through the execution node `l1`.
pub struct BeaconBlobs<'a> {
    url: String,
    l1: &'a L1Client,
    agent: ureq::Agent,
    /// (genesis time, seconds per slot), read on first use.
    clock: OnceLock<(u64, u64)>,
}

impl std::fmt::Debug for BeaconBlobs<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BeaconBlobs")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Sidecar {
    blob: Bytes,
    kzg_commitment: Bytes,
    kzg_proof: Bytes,
}

impl<'a> BeaconBlobs<'a> {
    /// Blobs from the beacon node at `url` (e.g. `http://beacon:5052`).
    pub fn new(url: &str, l1: &'a L1Client) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        Self {
            url: url.trim_end_matches('/').to_owned(),
            l1,
            agent,
            clock: OnceLock::new(),
        }
    }

    fn get(&self, path: &str) -> Result<Value, String> {
        let url = format!("{}{path}", self.url);
        let mut resp = self
            .agent
            .get(&url)
            .call()
            .map_err(|e| format!("GET {url}: {e}"))?;
        resp.body_mut()
            .with_config()
            .limit(64 << 20)
            .read_json()
            .map_err(|e| format!("GET {url}: {e}"))
    }

    fn clock(&self) -> Result<(u64, u64), String> {
        if let Some(c) = self.clock.get() {
            return Ok(*c);
        }
        let number = |v: &Value, what: &str| {
            v.as_str()
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| format!("the beacon node's {what} is {v}"))
        };
        let genesis = number(
            &self.get("/eth/v1/beacon/genesis")?["data"]["genesis_time"],
            "genesis_time",
        )?;
        let per_slot = number(
            &self.get("/eth/v1/config/spec")?["data"]["SECONDS_PER_SLOT"],
            "SECONDS_PER_SLOT",
        )?;
        if per_slot == 0 {
            return Err("SECONDS_PER_SLOT is 0".into());
        }
        Ok(*self.clock.get_or_init(|| (genesis, per_slot)))
    }
}

impl BlobSource for BeaconBlobs<'_> {
    fn blobs(&self, tx: &L1Tx, l1_block: u64) -> Result<Vec<Bytes>, DeriveError> {
        let fail = |why: String| DeriveError::Blobs { tx: tx.hash, why };
        let wanted: Vec<B256> = tx.blob_versioned_hashes.clone().unwrap_or_default();
        let timestamp = self
            .l1
            .block_at(l1_block, false)?
            .and_then(|b| b.timestamp)
            .ok_or_else(|| fail(format!("L1 block {l1_block} has no timestamp")))?;
        let (genesis, per_slot) = self.clock().map_err(fail)?;
        let slot = timestamp
            .checked_sub(genesis)
            .ok_or_else(|| fail(format!("L1 block {l1_block} is before the beacon genesis")))?
            / per_slot;
        let v = self
            .get(&format!("/eth/v1/beacon/blob_sidecars/{slot}"))
            .map_err(fail)?;
        let sidecars: Vec<Sidecar> = serde_json::from_value(v["data"].clone())
            .map_err(|e| fail(format!("slot {slot}: unexpected sidecars: {e}")))?;
        let mut sidecar = BlobTransactionSidecar::default();
        for hash in &wanted {
            let found = sidecars
                .iter()
                .find(|s| kzg_to_versioned_hash(&s.kzg_commitment) == *hash)
                .ok_or_else(|| {
                    fail(format!(
                        "slot {slot} has no blob with versioned hash {hash}"
                    ))
                })?;
            let blob = Blob::try_from(found.blob.as_ref())
                .map_err(|_| fail(format!("a blob of {} bytes", found.blob.len())))?;
            let commitment = Bytes48::try_from(found.kzg_commitment.as_ref())
                .map_err(|_| fail("a commitment that is not 48 bytes".into()))?;
            let proof = Bytes48::try_from(found.kzg_proof.as_ref())
                .map_err(|_| fail("a proof that is not 48 bytes".into()))?;
            sidecar.blobs.push(blob);
            sidecar.commitments.push(commitment);
            sidecar.proofs.push(proof);
        }
        sidecar
            .validate(&wanted, EnvKzgSettings::Default.get())
            .map_err(|e| fail(format!("the beacon node's blobs do not verify: {e}")))?;
        Ok(sidecar
            .blobs
            .iter()
            .map(|b| Bytes::copy_from_slice(b.as_slice()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_eips::eip4844::builder::{SidecarBuilder, SimpleCoder};
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;

    /// A one-thread HTTP server answering the three beacon routes and the execution
    /// node's `eth_getBlockByNumber`, from canned JSON (no beacon node runs here).
    fn serve(sidecars: Value, genesis: u64, block_time: u64) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let mut len = 0;
                loop {
                    let mut h = String::new();
                    reader.read_line(&mut h).unwrap();
                    if h.trim().is_empty() {
                        break;
                    }
                    if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap();
                    }
                }
                let mut body = vec![0; len];
                reader.read_exact(&mut body).unwrap();
                let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
                let answer = match path.as_str() {
                    "/eth/v1/beacon/genesis" => {
                        serde_json::json!({"data": {"genesis_time": genesis.to_string()}})
                    }
                    "/eth/v1/config/spec" => {
                        serde_json::json!({"data": {"SECONDS_PER_SLOT": "12"}})
                    }
                    "/eth/v1/beacon/blob_sidecars/5" => sidecars.clone(),
                    "/eth/v1/beacon/blob_sidecars/6" => serde_json::json!({"data": []}),
                    _ => {
                        let req: Value = serde_json::from_slice(&body).unwrap_or_default();
                        let n = req["params"][0].as_str().unwrap_or("0x0").to_owned();
                        serde_json::json!({"jsonrpc": "2.0", "id": req["id"], "result": {
                            "number": n, "hash": B256::ZERO,
                            "timestamp": format!("{:#x}", genesis + block_time * u64::from_str_radix(n.trim_start_matches("0x"), 16).unwrap())}})
                    }
                };
                let text = answer.to_string();
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                    text.len()
                );
            }
        });
        url
    }

    /// Blobs are 128 KiB arrays, several at a time on the stack: more than a test
    /// thread's 2 MiB (the batcher's thread has 32 MiB, a main thread 8).
    fn with_big_stack(f: fn()) {
        std::thread::Builder::new()
            .stack_size(32 << 20)
            .spawn(f)
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn blobs_are_found_by_versioned_hash_and_checked() {
        with_big_stack(blobs_are_found);
    }

    fn blobs_are_found() {
        let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let sidecar: BlobTransactionSidecar = SidecarBuilder::<SimpleCoder>::from_slice(&payload)
            .build()
            .unwrap();
        let hashes: Vec<B256> = sidecar.versioned_hashes().collect();
        assert!(hashes.len() >= 2);
        // The node lists them in another order, with a stranger's blob first.
        let other: BlobTransactionSidecar =
            SidecarBuilder::<SimpleCoder>::from_slice(b"someone else")
                .build()
                .unwrap();
        let item = |s: &BlobTransactionSidecar, i: usize| {
            serde_json::json!({"index": i.to_string(), "blob": Bytes::copy_from_slice(s.blobs[i].as_slice()),
                               "kzg_commitment": Bytes::copy_from_slice(s.commitments[i].as_slice()),
                               "kzg_proof": Bytes::copy_from_slice(s.proofs[i].as_slice())})
        };
        let mut items = vec![item(&other, 0)];
        for i in (0..hashes.len()).rev() {
            items.push(item(&sidecar, i));
        }
        // L1 block 5 at genesis + 60 s: slot 5.
        let url = serve(serde_json::json!({"data": items}), 1_000, 12);
        let l1 = L1Client::new(&url, Duration::from_secs(5));
        let beacon = BeaconBlobs::new(&url, &l1);
        let tx = |hashes: Vec<B256>| L1Tx {
            hash: B256::repeat_byte(1),
            from: Default::default(),
            to: None,
            input: Bytes::new(),
            blob_versioned_hashes: Some(hashes),
        };
        let blobs = beacon.blobs(&tx(hashes.clone()), 5).unwrap();
        assert_eq!(blobs.len(), hashes.len());
        let decoded = crate::derive::decode_blobs(B256::ZERO, &blobs).unwrap();
        assert_eq!(decoded, payload);
        // A hash the slot does not have, and a slot without blobs: errors, not panics.
        assert!(beacon.blobs(&tx(vec![B256::repeat_byte(9)]), 5).is_err());
        assert!(beacon.blobs(&tx(hashes), 6).is_err());
    }

    #[test]
    fn a_blob_that_does_not_match_its_commitment_is_refused() {
        with_big_stack(a_changed_blob_is_refused);
    }

    fn a_changed_blob_is_refused() {
        let sidecar: BlobTransactionSidecar =
            SidecarBuilder::<SimpleCoder>::from_slice(b"batch data")
                .build()
                .unwrap();
        let hashes: Vec<B256> = sidecar.versioned_hashes().collect();
        let mut blob = sidecar.blobs[0];
        blob.0[100] ^= 1;
        let items = vec![
            serde_json::json!({"index": "0", "blob": Bytes::copy_from_slice(blob.as_slice()),
            "kzg_commitment": Bytes::copy_from_slice(sidecar.commitments[0].as_slice()),
            "kzg_proof": Bytes::copy_from_slice(sidecar.proofs[0].as_slice())}),
        ];
        let url = serve(serde_json::json!({"data": items}), 1_000, 12);
        let l1 = L1Client::new(&url, Duration::from_secs(5));
        let beacon = BeaconBlobs::new(&url, &l1);
        let tx = L1Tx {
            hash: B256::repeat_byte(1),
            from: Default::default(),
            to: None,
            input: Bytes::new(),
            blob_versioned_hashes: Some(hashes),
        };
        let err = beacon.blobs(&tx, 5).unwrap_err().to_string();
        assert!(err.contains("do not verify"), "{err}");
    }
}
