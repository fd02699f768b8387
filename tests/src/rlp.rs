//! Minimal RLP encoder, used to recompute block hashes from the header fields a
//! node returns (`keccak256(rlp(header))`, hashed with `cast keccak`).

use serde_json::Value;

use crate::util::{decode_hex, hex_quantity};

/// An RLP item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A byte string.
    Bytes(Vec<u8>),
    /// A list of items.
    List(Vec<Item>),
}

fn length_prefix(out: &mut Vec<u8>, len: usize, short: u8, long: u8) {
    if len <= 55 {
        out.push(short + len as u8);
    } else {
        let be = len.to_be_bytes();
        let skip = be.iter().take_while(|b| **b == 0).count();
        out.push(long + (be.len() - skip) as u8);
        out.extend_from_slice(&be[skip..]);
    }
}

/// RLP-encodes an item.
pub fn encode(item: &Item) -> Vec<u8> {
    let mut out = Vec::new();
    match item {
        Item::Bytes(b) if b.len() == 1 && b[0] < 0x80 => out.push(b[0]),
        Item::Bytes(b) => {
            length_prefix(&mut out, b.len(), 0x80, 0xb7);
            out.extend_from_slice(b);
        }
        Item::List(items) => {
            let payload: Vec<u8> = items.iter().flat_map(encode).collect();
            length_prefix(&mut out, payload.len(), 0xc0, 0xf7);
            out.extend_from_slice(&payload);
        }
    }
    out
}

/// An integer as an RLP byte string (big-endian, no leading zeros; zero is empty).
pub fn uint(n: u128) -> Item {
    let be = n.to_be_bytes();
    let skip = be.iter().take_while(|b| **b == 0).count();
    Item::Bytes(be[skip..].to_vec())
}

/// A JSON-RPC quantity of any size (e.g. a 256-bit signature value) as an RLP
/// integer. Panics on a malformed quantity (no `0x`, leading zeros).
#[track_caller]
pub fn big_uint(v: &Value) -> Item {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("expected a hex quantity string, got {v}"));
    let hex = s
        .strip_prefix("0x")
        .unwrap_or_else(|| panic!("quantity {s:?} lacks 0x prefix"));
    assert!(
        !hex.is_empty() && (hex == "0" || !hex.starts_with('0')),
        "malformed quantity {s:?}"
    );
    let padded = if hex.len() % 2 == 1 {
        format!("0{hex}")
    } else {
        hex.to_owned()
    };
    let bytes = decode_hex(&padded);
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    Item::Bytes(bytes[skip..].to_vec())
}

/// Header fields in consensus order: (JSON name, is a quantity). Fields from
/// `baseFeePerGas` on are optional (London, Shanghai, Cancun, Prague) and must
/// be contiguous.
const HEADER_FIELDS: &[(&str, bool)] = &[
    ("parentHash", false),
    ("sha3Uncles", false),
    ("miner", false),
    ("stateRoot", false),
    ("transactionsRoot", false),
    ("receiptsRoot", false),
    ("logsBloom", false),
    ("difficulty", true),
    ("number", true),
    ("gasLimit", true),
    ("gasUsed", true),
    ("timestamp", true),
    ("extraData", false),
    ("mixHash", false),
    ("nonce", false),
    // optional from here on
    ("baseFeePerGas", true),
    ("withdrawalsRoot", false),
    ("blobGasUsed", true),
    ("excessBlobGas", true),
    ("parentBeaconBlockRoot", false),
    ("requestsHash", false),
];
const FIRST_OPTIONAL: usize = 15;

/// RLP encoding of the consensus header described by an `eth_getBlockBy*` result.
/// Panics if a mandatory field is missing or the optional fields are not contiguous.
#[track_caller]
pub fn header_rlp(block: &Value) -> Vec<u8> {
    let mut items = Vec::new();
    let mut ended = false;
    for (i, (name, quantity)) in HEADER_FIELDS.iter().enumerate() {
        match block.get(*name).filter(|v| !v.is_null()) {
            None if i < FIRST_OPTIONAL => panic!("block lacks header field {name}: {block}"),
            None => ended = true,
            Some(v) => {
                assert!(
                    !ended,
                    "header field {name} present after an absent optional field: {block}"
                );
                items.push(if *quantity {
                    big_uint(v)
                } else {
                    Item::Bytes(decode_hex(v.as_str().unwrap_or_else(|| {
                        panic!("header field {name} is not a string: {v}")
                    })))
                });
            }
        }
    }
    encode(&Item::List(items))
}

fn field<'a>(v: &'a Value, name: &str) -> &'a Value {
    v.get(name)
        .filter(|x| !x.is_null())
        .unwrap_or_else(|| panic!("transaction lacks field {name}: {v}"))
}

fn q(v: &Value, name: &str) -> Item {
    big_uint(field(v, name))
}

fn b(v: &Value, name: &str) -> Item {
    Item::Bytes(decode_hex(field(v, name).as_str().unwrap_or_else(|| {
        panic!("transaction field {name} is not a string: {v}")
    })))
}

fn access_list(v: &Value) -> Item {
    let list = v
        .get("accessList")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    Item::List(
        list.iter()
            .map(|entry| {
                let keys = entry["storageKeys"]
                    .as_array()
                    .unwrap_or_else(|| panic!("bad access list entry {entry}"))
                    .iter()
                    .map(|k| Item::Bytes(decode_hex(k.as_str().expect("storage key string"))))
                    .collect();
                Item::List(vec![b(entry, "address"), Item::List(keys)])
            })
            .collect(),
    )
}

/// The signed network encoding of a legacy (type 0), EIP-2930 (type 1) or
/// EIP-1559 (type 2) transaction described by an `eth_getTransactionByHash`
/// result; `keccak256` of it is the transaction hash.
#[track_caller]
pub fn signed_tx_encoding(tx: &Value) -> Vec<u8> {
    let ty = tx.get("type").map(hex_quantity).unwrap_or(0);
    let to = match tx.get("to") {
        Some(Value::String(s)) => Item::Bytes(decode_hex(s)),
        _ => Item::Bytes(vec![]),
    };
    let y_parity = |tx: &Value| {
        tx.get("yParity")
            .filter(|x| !x.is_null())
            .map(big_uint)
            .unwrap_or_else(|| q(tx, "v"))
    };
    match ty {
        0 => encode(&Item::List(vec![
            q(tx, "nonce"),
            q(tx, "gasPrice"),
            q(tx, "gas"),
            to,
            q(tx, "value"),
            b(tx, "input"),
            q(tx, "v"),
            q(tx, "r"),
            q(tx, "s"),
        ])),
        1 | 2 => {
            let mut fields = vec![q(tx, "chainId"), q(tx, "nonce")];
            if ty == 1 {
                fields.push(q(tx, "gasPrice"));
            } else {
                fields.push(q(tx, "maxPriorityFeePerGas"));
                fields.push(q(tx, "maxFeePerGas"));
            }
            fields.extend([
                q(tx, "gas"),
                to,
                q(tx, "value"),
                b(tx, "input"),
                access_list(tx),
                y_parity(tx),
                q(tx, "r"),
                q(tx, "s"),
            ]);
            let mut out = vec![ty as u8];
            out.extend(encode(&Item::List(fields)));
            out
        }
        other => panic!("transaction type {other} not supported by the test encoder: {tx}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_examples_from_the_yellow_paper() {
        assert_eq!(encode(&Item::Bytes(b"dog".to_vec())), b"\x83dog");
        assert_eq!(
            encode(&Item::List(vec![
                Item::Bytes(b"cat".to_vec()),
                Item::Bytes(b"dog".to_vec())
            ])),
            b"\xc8\x83cat\x83dog"
        );
        assert_eq!(encode(&Item::Bytes(vec![])), vec![0x80]);
        assert_eq!(encode(&Item::List(vec![])), vec![0xc0]);
        assert_eq!(encode(&uint(0)), vec![0x80]);
        assert_eq!(encode(&uint(15)), vec![0x0f]);
        assert_eq!(encode(&uint(1024)), vec![0x82, 0x04, 0x00]);
        let long = vec![b'a'; 56];
        let mut expected = vec![0xb8, 56];
        expected.extend_from_slice(&long);
        assert_eq!(encode(&Item::Bytes(long)), expected);
    }
}
