//! The JSON form of a preconfirmation: EIP-712 typed data a generic library checks, plus the
//! transaction, its receipt, the proofs and the stage timestamps. Parsing is strict.

use alloy_primitives::{B256, FixedBytes, Signature, U256, hex};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::error::VerifyError;
use crate::header::{DOMAIN_NAME, DOMAIN_VERSION, MiniBlockHeader, SignedHeader};
use crate::leaf::ReceiptLeaf;
use crate::preconf::{Preconfirmation, StageTimestamps};

/// EIP-712 `primaryType` of the signed message.
pub const PRIMARY_TYPE: &str = "MiniBlockHeader";

/// `MiniBlockHeader`'s fields as EIP-712 `types` lists them: name and Solidity type, in order.
pub const HEADER_FIELDS: [(&str, &str); 11] = [
    ("chainId", "uint64"),
    ("blockNumber", "uint64"),
    ("miniBlockNumber", "uint64"),
    ("parentHash", "bytes32"),
    ("firstSequence", "uint64"),
    ("transactionsRoot", "bytes32"),
    ("receiptsRoot", "bytes32"),
    ("stateDiffRoot", "bytes32"),
    ("timestampMicros", "uint64"),
    ("sendersHash", "bytes32"),
    ("blockContextHash", "bytes32"),
];

/// The domain's fields as EIP-712 `types.EIP712Domain` lists them.
const DOMAIN_FIELDS: [(&str, &str); 3] = [
    ("name", "string"),
    ("version", "string"),
    ("chainId", "uint256"),
];

/// The `types` object of the typed data: `EIP712Domain` and `MiniBlockHeader`.
///
/// viem accepts the `EIP712Domain` entry (it must match the domain, which it does); ethers'
/// `verifyTypedData` wants it removed ("ambiguous primary types or unused types").
pub fn typed_data_types() -> Value {
    serde_json::to_value(Types).expect("constant field lists always serialize")
}

impl Preconfirmation {
    /// The JSON form (see the crate documentation); integers are JSON numbers, hashes
    /// `0x`-prefixed lower-case hex, the signature 65 bytes `r || s || v` with `v` 27 or 28.
    ///
    /// This builds a [`Value`] tree; to write the text, serialize the preconfirmation itself
    /// (its [`Serialize`] writes the same document straight to the output, several times
    /// faster).
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).expect("a preconfirmation always serializes")
    }

    /// Parses the JSON form strictly: every field present, no unknown field, each of its
    /// type, the domain name and version Peregrine's, the domain `chainId` equal to the
    /// message's, `types` and `primaryType` exactly those [`Preconfirmation::to_json`] writes.
    /// Parsing checks no signature or proof: call [`Preconfirmation::verify`].
    pub fn from_json(v: &Value) -> Result<Self, VerifyError> {
        let root = Obj::new(
            v,
            "",
            &[
                "typedData",
                "signature",
                "transaction",
                "receipt",
                "proofs",
                "timestamps",
            ],
        )?;

        let header = signed_header(&root)?;

        let tx = root.obj("transaction", &["index", "hash"])?;
        let index = u32::try_from(tx.u64("index")?)
            .map_err(|_| VerifyError::json(tx.path("index"), "does not fit in 32 bits"))?;
        let receipt = root.obj(
            "receipt",
            &["success", "gasUsed", "cumulativeGasUsed", "logsHash"],
        )?;
        let receipt = ReceiptLeaf {
            tx_hash: tx.b256("hash")?,
            success: receipt.bool("success")?,
            gas_used: receipt.u64("gasUsed")?,
            cumulative_gas_used: receipt.u64("cumulativeGasUsed")?,
            logs_hash: receipt.b256("logsHash")?,
        };

        let proofs = root.obj("proofs", &["transaction", "receipt"])?;
        let t = root.obj(
            "timestamps",
            &["received", "ordered", "executed", "signed", "sent"],
        )?;
        Ok(Self {
            header,
            index,
            receipt,
            transaction_proof: proofs.hashes("transaction")?,
            receipt_proof: proofs.hashes("receipt")?,
            timestamps: StageTimestamps {
                received: t.u64("received")?,
                ordered: t.u64("ordered")?,
                executed: t.u64("executed")?,
                signed: t.u64("signed")?,
                sent: t.u64("sent")?,
            },
        })
    }
}

impl SignedHeader {
    /// The signed header of a JSON document holding `typedData` and `signature` as a
    /// preconfirmation writes them (a whole preconfirmation, or just those two fields),
    /// parsed as strictly as [`Preconfirmation::from_json`] parses them. Checks no
    /// signature.
    pub fn from_json(v: &Value) -> Result<Self, VerifyError> {
        let map = v
            .as_object()
            .ok_or_else(|| VerifyError::json("<root>", "expected an object"))?;
        let mut only = Map::new();
        for key in ["typedData", "signature"] {
            if let Some(x) = map.get(key) {
                only.insert(key.to_owned(), x.clone());
            }
        }
        let only = Value::Object(only);
        signed_header(&Obj::new(&only, "", &["typedData", "signature"])?)
    }

    /// `{"typedData": …, "signature": …}`: the two fields of a preconfirmation that
    /// carry the signed header, which [`SignedHeader::from_json`] reads back.
    pub fn to_json(&self) -> Value {
        let h = &self.header;
        serde_json::json!({
            "typedData": {
                "domain": {"name": DOMAIN_NAME, "version": DOMAIN_VERSION, "chainId": h.chainId},
                "types": typed_data_types(),
                "primaryType": PRIMARY_TYPE,
                "message": {
                    "chainId": h.chainId,
                    "blockNumber": h.blockNumber,
                    "miniBlockNumber": h.miniBlockNumber,
                    "parentHash": h.parentHash,
                    "firstSequence": h.firstSequence,
                    "transactionsRoot": h.transactionsRoot,
                    "receiptsRoot": h.receiptsRoot,
                    "stateDiffRoot": h.stateDiffRoot,
                    "timestampMicros": h.timestampMicros,
                    "sendersHash": h.sendersHash,
                    "blockContextHash": h.blockContextHash,
                },
            },
            "signature": hex::encode_prefixed(self.signature.as_bytes()),
        })
    }
}

/// `typedData` and `signature` of `root`, strictly.
fn signed_header(root: &Obj<'_>) -> Result<SignedHeader, VerifyError> {
    let typed = root.obj("typedData", &["domain", "types", "primaryType", "message"])?;
    let domain = typed.obj("domain", &["name", "version", "chainId"])?;
    domain.expect_str("name", DOMAIN_NAME)?;
    domain.expect_str("version", DOMAIN_VERSION)?;
    let types = typed.obj("types", &["EIP712Domain", PRIMARY_TYPE])?;
    let expected_types = typed_data_types();
    for name in ["EIP712Domain", PRIMARY_TYPE] {
        if types.get(name) != &expected_types[name] {
            return Err(VerifyError::json(
                types.path(name),
                format!(
                    "not the {name} fields Peregrine signs: {}",
                    expected_types[name]
                ),
            ));
        }
    }
    typed.expect_str("primaryType", PRIMARY_TYPE)?;

    let fields: Vec<&str> = HEADER_FIELDS.iter().map(|(name, _)| *name).collect();
    let m = typed.obj("message", &fields)?;
    let header = MiniBlockHeader {
        chainId: m.u64("chainId")?,
        blockNumber: m.u64("blockNumber")?,
        miniBlockNumber: m.u64("miniBlockNumber")?,
        parentHash: m.b256("parentHash")?,
        firstSequence: m.u64("firstSequence")?,
        transactionsRoot: m.b256("transactionsRoot")?,
        receiptsRoot: m.b256("receiptsRoot")?,
        stateDiffRoot: m.b256("stateDiffRoot")?,
        timestampMicros: m.u64("timestampMicros")?,
        sendersHash: m.b256("sendersHash")?,
        blockContextHash: m.b256("blockContextHash")?,
    };
    let domain_chain = domain.u64("chainId")?;
    if domain_chain != header.chainId {
        return Err(VerifyError::json(
            domain.path("chainId"),
            format!(
                "domain chainId {domain_chain} differs from message chainId {}",
                header.chainId
            ),
        ));
    }

    let signature = root.signature("signature")?;
    Ok(SignedHeader { header, signature })
}

/// Writes the JSON form (see the crate documentation) field by field, without building a
/// [`Value`] first: the preconfirmation feeds send one per transaction per subscriber.
impl Serialize for Preconfirmation {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.json_form(typed_data(&self.header), None)
            .serialize(serializer)
    }
}

impl Preconfirmation {
    /// The document to write, borrowing this preconfirmation, with `typed_data` (this
    /// preconfirmation's header) and, for the feeds, `transactionHash` at the end.
    fn json_form<'a, T: Serialize>(
        &'a self,
        typed_data: T,
        transaction_hash: Option<&'a B256>,
    ) -> JsonForm<'a, T> {
        JsonForm {
            typed_data,
            signature: FixedBytes(self.header.signature.as_bytes()),
            transaction: TransactionRef {
                index: self.index,
                hash: &self.receipt.tx_hash,
            },
            receipt: ReceiptJson {
                success: self.receipt.success,
                gas_used: self.receipt.gas_used,
                cumulative_gas_used: self.receipt.cumulative_gas_used,
                logs_hash: &self.receipt.logs_hash,
            },
            proofs: Proofs {
                transaction: &self.transaction_proof,
                receipt: &self.receipt_proof,
            },
            timestamps: &self.timestamps,
            transaction_hash,
        }
    }
}

/// `typedData` of `header`, borrowing it.
fn typed_data(header: &SignedHeader) -> TypedData<'_> {
    let h = &header.header;
    TypedData {
        domain: Domain {
            name: DOMAIN_NAME,
            version: DOMAIN_VERSION,
            chain_id: h.chainId,
        },
        types: &TYPES_JSON,
        primary_type: PRIMARY_TYPE,
        message: Message {
            chain_id: h.chainId,
            block_number: h.blockNumber,
            mini_block_number: h.miniBlockNumber,
            parent_hash: &h.parentHash,
            first_sequence: h.firstSequence,
            transactions_root: &h.transactionsRoot,
            receipts_root: &h.receiptsRoot,
            state_diff_root: &h.stateDiffRoot,
            timestamp_micros: h.timestampMicros,
            senders_hash: &h.sendersHash,
            block_context_hash: &h.blockContextHash,
        },
    }
}

/// A mini-block's `typedData` (its signed header as EIP-712 typed data, ~1.4 KB of JSON),
/// rendered once for the preconfirmations of all its transactions
/// ([`FeedPreconfirmation`]).
#[derive(Debug)]
pub struct RenderedHeader {
    header: SignedHeader,
    typed_data: Box<serde_json::value::RawValue>,
}

impl RenderedHeader {
    /// Renders `header`'s `typedData`.
    pub fn new(header: &SignedHeader) -> Self {
        let typed_data = serde_json::value::to_raw_value(&typed_data(header))
            .expect("typed data of plain numbers and hashes always serializes");
        Self {
            header: *header,
            typed_data,
        }
    }
}

/// A preconfirmation as the `preconfirmations` feed sends it: its JSON form (as its
/// `Serialize` writes it), then `transactionHash`. The `typedData` is copied from `header`
/// when `header` renders this preconfirmation's own header, as it does for every
/// transaction of one mini-block, and written afresh otherwise.
#[derive(Debug, Clone, Copy)]
pub struct FeedPreconfirmation<'a> {
    /// The preconfirmation.
    pub preconfirmation: &'a Preconfirmation,
    /// Its mini-block's header, rendered once.
    pub header: &'a RenderedHeader,
}

impl Serialize for FeedPreconfirmation<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let p = self.preconfirmation;
        let hash = Some(&p.receipt.tx_hash);
        if self.header.header == p.header {
            p.json_form(&*self.header.typed_data, hash)
                .serialize(serializer)
        } else {
            p.json_form(typed_data(&p.header), hash)
                .serialize(serializer)
        }
    }
}

/// The document [`Preconfirmation`]'s `Serialize` writes, borrowing its fields;
/// `typed_data` is [`TypedData`] or the same already rendered ([`RenderedHeader`]).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonForm<'a, T> {
    typed_data: T,
    signature: FixedBytes<65>,
    transaction: TransactionRef<'a>,
    receipt: ReceiptJson<'a>,
    proofs: Proofs<'a>,
    timestamps: &'a StageTimestamps,
    #[serde(skip_serializing_if = "Option::is_none")]
    transaction_hash: Option<&'a B256>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TypedData<'a> {
    domain: Domain,
    types: &'a serde_json::value::RawValue,
    primary_type: &'static str,
    message: Message<'a>,
}

/// The EIP-712 message: [`MiniBlockHeader`]'s fields by their Solidity names, `uint64` as
/// numbers, `bytes32` as hex.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Message<'a> {
    chain_id: u64,
    block_number: u64,
    mini_block_number: u64,
    parent_hash: &'a B256,
    first_sequence: u64,
    transactions_root: &'a B256,
    receipts_root: &'a B256,
    state_diff_root: &'a B256,
    timestamp_micros: u64,
    senders_hash: &'a B256,
    block_context_hash: &'a B256,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Domain {
    name: &'static str,
    version: &'static str,
    chain_id: u64,
}

/// [`typed_data_types`], written from the constant field lists.
struct Types;

/// [`Types`] rendered once: the same ~900 bytes open every preconfirmation; writing them
/// field by field took a fifth of a one-transaction preconfirmation's serialization
/// (`benches/json.rs`, `serialize/1`: 1.66 µs before, 1.36 µs after).
static TYPES_JSON: std::sync::LazyLock<Box<serde_json::value::RawValue>> =
    std::sync::LazyLock::new(|| {
        serde_json::value::to_raw_value(&Types).expect("constant field lists always serialize")
    });

impl Serialize for Types {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("EIP712Domain", &Fields(&DOMAIN_FIELDS))?;
        map.serialize_entry(PRIMARY_TYPE, &Fields(&HEADER_FIELDS))?;
        map.end()
    }
}

/// An EIP-712 field list: `[{"name": .., "type": ..}, ..]`.
struct Fields(&'static [(&'static str, &'static str)]);

impl Serialize for Fields {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Field {
            name: &'static str,
            #[serde(rename = "type")]
            ty: &'static str,
        }
        serializer.collect_seq(self.0.iter().map(|&(name, ty)| Field { name, ty }))
    }
}

#[derive(Serialize)]
struct TransactionRef<'a> {
    index: u32,
    hash: &'a B256,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReceiptJson<'a> {
    success: bool,
    gas_used: u64,
    cumulative_gas_used: u64,
    logs_hash: &'a B256,
}

#[derive(Serialize)]
struct Proofs<'a> {
    transaction: &'a [B256],
    receipt: &'a [B256],
}

/// Deserializes with [`Preconfirmation::from_json`] (strict; verifies nothing).
impl<'de> Deserialize<'de> for Preconfirmation {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(deserializer)?;
        Self::from_json(&v).map_err(serde::de::Error::custom)
    }
}

/// A JSON object whose key set has been checked, with its path for error messages.
struct Obj<'a> {
    path: String,
    map: &'a Map<String, Value>,
}

impl<'a> Obj<'a> {
    /// Checks that `v` is an object with exactly the keys `keys`.
    fn new(v: &'a Value, path: &str, keys: &[&str]) -> Result<Self, VerifyError> {
        let what = if path.is_empty() { "<root>" } else { path };
        let map = v
            .as_object()
            .ok_or_else(|| VerifyError::json(what, "expected an object"))?;
        let obj = Self {
            path: path.to_owned(),
            map,
        };
        if let Some(missing) = keys.iter().find(|k| !map.contains_key(**k)) {
            return Err(VerifyError::json(obj.path(missing), "missing field"));
        }
        if let Some(unknown) = map.keys().find(|k| !keys.contains(&k.as_str())) {
            return Err(VerifyError::json(obj.path(unknown), "unknown field"));
        }
        Ok(obj)
    }

    fn path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// The value at `key`, which [`Obj::new`] checked is present.
    fn get(&self, key: &str) -> &'a Value {
        &self.map[key]
    }

    fn obj(&self, key: &str, keys: &[&str]) -> Result<Obj<'a>, VerifyError> {
        Obj::new(self.get(key), &self.path(key), keys)
    }

    fn u64(&self, key: &str) -> Result<u64, VerifyError> {
        self.get(key).as_u64().ok_or_else(|| {
            VerifyError::json(
                self.path(key),
                "expected an unsigned integer as a JSON number",
            )
        })
    }

    fn bool(&self, key: &str) -> Result<bool, VerifyError> {
        self.get(key)
            .as_bool()
            .ok_or_else(|| VerifyError::json(self.path(key), "expected a boolean"))
    }

    fn expect_str(&self, key: &str, expected: &str) -> Result<(), VerifyError> {
        match self.get(key).as_str() {
            Some(s) if s == expected => Ok(()),
            Some(s) => Err(VerifyError::json(
                self.path(key),
                format!("expected {expected:?}, got {s:?}"),
            )),
            None => Err(VerifyError::json(self.path(key), "expected a string")),
        }
    }

    fn b256(&self, key: &str) -> Result<B256, VerifyError> {
        parse_b256(self.get(key), &self.path(key))
    }

    fn hashes(&self, key: &str) -> Result<Vec<B256>, VerifyError> {
        let path = self.path(key);
        let list = self
            .get(key)
            .as_array()
            .ok_or_else(|| VerifyError::json(&path, "expected an array of 32-byte hex strings"))?;
        list.iter()
            .enumerate()
            .map(|(i, v)| parse_b256(v, &format!("{path}[{i}]")))
            .collect()
    }

    fn signature(&self, key: &str) -> Result<Signature, VerifyError> {
        let path = self.path(key);
        let bytes: [u8; 65] = parse_hex(self.get(key), &path)?;
        let v = bytes[64];
        if v != 27 && v != 28 {
            return Err(VerifyError::json(
                path,
                format!("v must be 27 or 28, got {v}"),
            ));
        }
        let r = B256::from_slice(&bytes[..32]);
        let s = B256::from_slice(&bytes[32..64]);
        Ok(Signature::new(
            U256::from_be_bytes(r.0),
            U256::from_be_bytes(s.0),
            v == 28,
        ))
    }
}

fn parse_b256(v: &Value, path: &str) -> Result<B256, VerifyError> {
    parse_hex::<32>(v, path).map(B256::from)
}

/// `0x` followed by exactly `2 * N` hex digits (either case).
fn parse_hex<const N: usize>(v: &Value, path: &str) -> Result<[u8; N], VerifyError> {
    let bad = || {
        VerifyError::json(
            path,
            format!("expected 0x followed by {} hex digits", 2 * N),
        )
    };
    let s = v.as_str().ok_or_else(bad)?;
    let digits = s.strip_prefix("0x").ok_or_else(bad)?;
    if digits.len() != 2 * N {
        return Err(bad());
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(digits, &mut out).map_err(|_| bad())?;
    Ok(out)
}
