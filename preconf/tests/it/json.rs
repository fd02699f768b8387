//! The JSON form: round trip, strictness, and tampering with every field.

use alloy_primitives::{Address, B256, address};
use peregrine_preconf::{DEV_SEQUENCER_ADDRESS, Preconfirmation, VerifyError};
use serde_json::Value;

use crate::{flip, mini_block};

const DEV: Option<Address> = Some(DEV_SEQUENCER_ADDRESS);

fn parse_and_verify(v: &Value) -> Result<(), VerifyError> {
    Preconfirmation::from_json(v)?.verify(DEV).map(|_| ())
}

#[test]
fn every_preconfirmation_verifies_and_round_trips() {
    for n in [1, 2, 3, 7, 16, 33] {
        for p in mini_block(n, n as u64) {
            let verified = p.verify(DEV).unwrap();
            assert_eq!(verified.signer, DEV_SEQUENCER_ADDRESS);
            assert_eq!(verified.index, p.index);
            assert_eq!(verified.tx_hash, p.receipt.tx_hash);
            assert_eq!(verified.chain_id, 901);
            assert_eq!(verified.block_number, n as u64);
            assert_eq!(verified.mini_block_hash, p.header.header.signing_hash());
            assert_eq!(p.verify(None).unwrap(), verified);

            let json = p.to_json();
            assert_eq!(Preconfirmation::from_json(&json).unwrap(), p);
            // Through text and serde too.
            let text = serde_json::to_string(&p).unwrap();
            let back: Preconfirmation = serde_json::from_str(&text).unwrap();
            assert_eq!(back, p);
        }
    }
}

#[test]
fn json_has_the_documented_shape() {
    let p = &mini_block(3, 12)[1];
    let json = p.to_json();
    let typed = &json["typedData"];
    assert_eq!(
        typed["domain"],
        serde_json::json!({"name": "Peregrine", "version": "2", "chainId": 901})
    );
    assert_eq!(typed["primaryType"], "MiniBlockHeader");
    assert_eq!(
        typed["types"]["EIP712Domain"],
        serde_json::json!([
            {"name": "name", "type": "string"},
            {"name": "version", "type": "string"},
            {"name": "chainId", "type": "uint256"},
        ])
    );
    let fields: Vec<String> = typed["types"]["MiniBlockHeader"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{} {}",
                f["type"].as_str().unwrap(),
                f["name"].as_str().unwrap()
            )
        })
        .collect();
    // Same type string the Rust EIP-712 implementation hashes.
    use alloy_sol_types::SolStruct;
    assert_eq!(
        format!("MiniBlockHeader({})", fields.join(",")),
        peregrine_preconf::MiniBlockHeader::eip712_encode_type()
    );
    assert_eq!(typed["message"]["blockNumber"], 12);
    assert!(typed["message"]["timestampMicros"].is_u64());
    let sig = json["signature"].as_str().unwrap();
    assert_eq!(sig.len(), 2 + 130);
    assert!(sig.ends_with("1b") || sig.ends_with("1c"));
    assert_eq!(json["transaction"]["index"], 1);
    assert_eq!(json["receipt"]["gasUsed"], 22_000);
    assert_eq!(json["proofs"]["transaction"].as_array().unwrap().len(), 2);
}

/// The serialized text is the document the crate documentation describes, built here field
/// by field as a reference, for preconfirmations with short and long proofs.
#[test]
fn serialized_text_matches_a_field_by_field_reference() {
    use alloy_primitives::hex;
    use serde_json::json;
    let hex32 = |b: &B256| json!(hex::encode_prefixed(b));
    for p in mini_block(1, 3).iter().chain(&mini_block(5, 4)) {
        let h = &p.header.header;
        let t = &p.timestamps;
        let reference = json!({
            "typedData": {
                "domain": { "name": "Peregrine", "version": "2", "chainId": h.chainId },
                "types": peregrine_preconf::typed_data_types(),
                "primaryType": "MiniBlockHeader",
                "message": {
                    "chainId": h.chainId,
                    "blockNumber": h.blockNumber,
                    "miniBlockNumber": h.miniBlockNumber,
                    "parentHash": hex32(&h.parentHash),
                    "firstSequence": h.firstSequence,
                    "transactionsRoot": hex32(&h.transactionsRoot),
                    "receiptsRoot": hex32(&h.receiptsRoot),
                    "stateDiffRoot": hex32(&h.stateDiffRoot),
                    "timestampMicros": h.timestampMicros,
                    "sendersHash": hex32(&h.sendersHash),
                    "blockContextHash": hex32(&h.blockContextHash),
                },
            },
            "signature": hex::encode_prefixed(p.header.signature.as_bytes()),
            "transaction": { "index": p.index, "hash": hex32(&p.receipt.tx_hash) },
            "receipt": {
                "success": p.receipt.success,
                "gasUsed": p.receipt.gas_used,
                "cumulativeGasUsed": p.receipt.cumulative_gas_used,
                "logsHash": hex32(&p.receipt.logs_hash),
            },
            "proofs": {
                "transaction": p.transaction_proof.iter().map(hex32).collect::<Vec<_>>(),
                "receipt": p.receipt_proof.iter().map(hex32).collect::<Vec<_>>(),
            },
            "timestamps": {
                "received": t.received,
                "ordered": t.ordered,
                "executed": t.executed,
                "signed": t.signed,
                "sent": t.sent,
            },
        });
        let text = serde_json::to_string(p).unwrap();
        let parsed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed, reference, "{text}");
        assert_eq!(p.to_json(), reference);
    }
}

/// The feed's form is the preconfirmation's own form plus `transactionHash`, whichever
/// header was rendered for it: its own mini-block's (shared by its transactions), or
/// another's, which must not leak into it.
#[test]
fn the_feed_form_adds_the_hash_and_always_carries_its_own_header() {
    use peregrine_preconf::{FeedPreconfirmation, RenderedHeader};
    let (first, second) = (mini_block(3, 7), mini_block(2, 8));
    let other = RenderedHeader::new(&second[0].header);
    let own = RenderedHeader::new(&first[0].header);
    for p in &first {
        let mut expected = p.to_json();
        expected["transactionHash"] = serde_json::json!(p.receipt.tx_hash);
        for header in [&own, &other] {
            let text = serde_json::to_string(&FeedPreconfirmation {
                preconfirmation: p,
                header,
            })
            .unwrap();
            let mut parsed: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(parsed, expected, "{text}");
            // Less the hash, the strict parser takes it and its signature verifies.
            parsed.as_object_mut().unwrap().remove("transactionHash");
            parse_and_verify(&parsed).unwrap();
        }
    }
}

/// Every scalar in `v` with its path, as a list of JSON pointers.
fn scalar_pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                scalar_pointers(child, format!("{at}/{k}"), out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                scalar_pointers(child, format!("{at}/{i}"), out);
            }
        }
        _ => out.push(at),
    }
}

/// Changed copies of a scalar: numbers ± 1, booleans negated, hex strings with their first
/// and last digit changed, other strings with a letter appended.
fn tamper(v: &Value) -> Vec<Value> {
    let flip_digit = |c: char| if c == '0' { '1' } else { '0' };
    match v {
        Value::Bool(b) => vec![Value::Bool(!b)],
        Value::Number(n) => {
            let n = n.as_u64().unwrap();
            let mut out = vec![Value::from(n + 1)];
            if n > 0 {
                out.push(Value::from(n - 1));
            }
            out
        }
        Value::String(s) if s.starts_with("0x") && s.len() > 2 => {
            let mut first: Vec<char> = s.chars().collect();
            first[2] = flip_digit(first[2]);
            let mut last: Vec<char> = s.chars().collect();
            let end = last.len() - 1;
            last[end] = flip_digit(last[end]);
            vec![
                Value::String(first.into_iter().collect()),
                Value::String(last.into_iter().collect()),
            ]
        }
        Value::String(s) => vec![Value::String(format!("{s}x"))],
        other => panic!("unexpected scalar {other}"),
    }
}

#[test]
fn tampering_with_any_signed_field_fails() {
    // A tree of 5: index 2 has a three-element proof in each tree.
    let p = &mini_block(5, 9)[2];
    assert_eq!(p.transaction_proof.len(), 3);
    let json = p.to_json();
    parse_and_verify(&json).unwrap();

    let mut pointers = Vec::new();
    scalar_pointers(&json, String::new(), &mut pointers);
    let mut checked = 0;
    for pointer in &pointers {
        let original = json.pointer(pointer).unwrap();
        for changed in tamper(original) {
            let mut bad = json.clone();
            *bad.pointer_mut(pointer).unwrap() = changed.clone();
            let result = parse_and_verify(&bad);
            if pointer.starts_with("/timestamps/") {
                // Documented: the stage timestamps are not signed.
                assert!(result.is_ok(), "{pointer}: {result:?}");
            } else {
                assert!(
                    result.is_err(),
                    "tampering {pointer} = {changed} went unnoticed"
                );
                checked += 1;
            }
        }
    }
    // Every message field, the domain, types, primaryType, signature, transaction, receipt
    // and each proof element were covered.
    for must in [
        "/typedData/message/chainId",
        "/typedData/message/blockNumber",
        "/typedData/message/miniBlockNumber",
        "/typedData/message/parentHash",
        "/typedData/message/firstSequence",
        "/typedData/message/transactionsRoot",
        "/typedData/message/receiptsRoot",
        "/typedData/message/stateDiffRoot",
        "/typedData/message/timestampMicros",
        "/typedData/message/sendersHash",
        "/typedData/message/blockContextHash",
        "/typedData/domain/name",
        "/typedData/domain/version",
        "/typedData/domain/chainId",
        "/typedData/primaryType",
        "/typedData/types/MiniBlockHeader/10/type",
        "/signature",
        "/transaction/index",
        "/transaction/hash",
        "/receipt/success",
        "/receipt/gasUsed",
        "/receipt/cumulativeGasUsed",
        "/receipt/logsHash",
        "/proofs/transaction/0",
        "/proofs/transaction/2",
        "/proofs/receipt/1",
    ] {
        assert!(pointers.iter().any(|p| p == must), "{must} not covered");
    }
    assert!(checked > 60, "only {checked} tamperings checked");
}

#[test]
fn each_tampering_fails_the_right_check() {
    let p = &mini_block(5, 9)[2];
    let with = |pointer: &str, value: Value| {
        let mut v = p.to_json();
        *v.pointer_mut(pointer).unwrap() = value;
        parse_and_verify(&v).unwrap_err()
    };
    // A signed field: the signature now recovers to someone else.
    let err = with("/typedData/message/blockNumber", Value::from(10));
    assert!(
        matches!(err, VerifyError::WrongSigner { expected, .. } if expected == DEV_SEQUENCER_ADDRESS),
        "{err}"
    );
    assert!(
        err.to_string().starts_with(
            "wrong signer: expected 0xEB25E6d7f8118b1E24dD5Eff177Cea2110736076, got 0x"
        ),
        "{err}"
    );
    let err = with(
        "/transaction/hash",
        Value::String(flip(p.receipt.tx_hash).to_string()),
    );
    assert!(
        matches!(err, VerifyError::TransactionProof { index: 2, .. }),
        "{err}"
    );
    let err = with("/transaction/index", Value::from(3));
    assert!(
        matches!(err, VerifyError::TransactionProof { index: 3, .. }),
        "{err}"
    );
    let err = with("/receipt/gasUsed", Value::from(1));
    assert!(
        matches!(err, VerifyError::ReceiptProof { index: 2, .. }),
        "{err}"
    );
    let err = with(
        "/proofs/receipt/0",
        Value::String(flip(p.receipt_proof[0]).to_string()),
    );
    assert!(matches!(err, VerifyError::ReceiptProof { .. }), "{err}");
    let err = with("/typedData/domain/name", Value::from("Other"));
    assert_eq!(
        err,
        VerifyError::Json {
            field: "typedData.domain.name".into(),
            reason: "expected \"Peregrine\", got \"Other\"".into()
        }
    );
    let err = with("/typedData/domain/chainId", Value::from(1));
    assert!(
        matches!(&err, VerifyError::Json { field, .. } if field == "typedData.domain.chainId"),
        "{err}"
    );
    let err = with("/typedData/primaryType", Value::from("EIP712Domain"));
    assert!(
        matches!(&err, VerifyError::Json { field, .. } if field == "typedData.primaryType"),
        "{err}"
    );
    let err = with(
        "/typedData/types/MiniBlockHeader/0/type",
        Value::from("uint256"),
    );
    assert!(
        matches!(&err, VerifyError::Json { field, .. } if field == "typedData.types.MiniBlockHeader"),
        "{err}"
    );
    // v = 29, and an r that recovers nothing or someone else.
    let sig = p.to_json()["signature"].as_str().unwrap().to_owned();
    let err = with(
        "/signature",
        Value::from(format!("{}1d", &sig[..sig.len() - 2])),
    );
    assert!(
        matches!(&err, VerifyError::Json { field, reason } if field == "signature" && reason.contains("29")),
        "{err}"
    );
    let err = with(
        "/signature",
        Value::from(format!("0x{}{}", "00".repeat(32), &sig[66..])),
    );
    assert!(matches!(err, VerifyError::BadSignature(_)), "{err}");
    // Changing the chain id in both places still breaks the signature.
    let mut v = p.to_json();
    *v.pointer_mut("/typedData/domain/chainId").unwrap() = Value::from(902);
    *v.pointer_mut("/typedData/message/chainId").unwrap() = Value::from(902);
    assert!(matches!(
        parse_and_verify(&v),
        Err(VerifyError::WrongSigner { .. })
    ));
}

#[test]
fn proofs_of_the_wrong_length_fail() {
    let p = &mini_block(5, 9)[2];
    let mut short = p.clone();
    short.transaction_proof.pop();
    assert!(matches!(
        short.verify(DEV),
        Err(VerifyError::TransactionProof { .. })
    ));
    let mut long = p.clone();
    long.receipt_proof.push(p.receipt_proof[0]);
    assert!(matches!(
        long.verify(DEV),
        Err(VerifyError::ReceiptProof { .. })
    ));
}

#[test]
fn wrong_expected_signer_is_reported_with_both_addresses() {
    let p = &mini_block(2, 1)[0];
    let other = address!("0x00000000000000000000000000000000000000aa");
    assert_eq!(
        p.verify(Some(other)).unwrap_err(),
        VerifyError::WrongSigner {
            expected: other,
            got: DEV_SEQUENCER_ADDRESS
        }
    );
}

#[test]
fn structural_errors_name_the_field() {
    let p = &mini_block(2, 1)[0];
    let field_of = |v: Value| match Preconfirmation::from_json(&v).unwrap_err() {
        VerifyError::Json { field, .. } => field,
        other => panic!("not a JSON error: {other}"),
    };
    // Every key of every object, removed, is a missing field; an extra key is unknown.
    let json = p.to_json();
    let mut objects = vec![(String::new(), String::new())];
    while let Some((pointer, dotted)) = objects.pop() {
        let Some(map) = json.pointer(&pointer).unwrap().as_object() else {
            continue;
        };
        if pointer.starts_with("/typedData/types") {
            continue; // compared whole, not key by key
        }
        for key in map.keys() {
            let child = if dotted.is_empty() {
                key.clone()
            } else {
                format!("{dotted}.{key}")
            };
            let mut missing = json.clone();
            missing
                .pointer_mut(&pointer)
                .unwrap()
                .as_object_mut()
                .unwrap()
                .remove(key);
            assert_eq!(field_of(missing), child);
            objects.push((format!("{pointer}/{key}"), child));
        }
        let mut extra = json.clone();
        extra
            .pointer_mut(&pointer)
            .unwrap()
            .as_object_mut()
            .unwrap()
            .insert("extra".into(), Value::Null);
        let expected = if dotted.is_empty() {
            "extra".to_owned()
        } else {
            format!("{dotted}.extra")
        };
        assert_eq!(field_of(extra), expected);
    }
    // Types of values.
    let mut v = p.to_json();
    v["typedData"]["message"]["blockNumber"] = Value::from("1");
    assert_eq!(field_of(v), "typedData.message.blockNumber");
    let mut v = p.to_json();
    v["typedData"]["message"]["blockNumber"] = Value::from(1.5);
    assert_eq!(field_of(v), "typedData.message.blockNumber");
    let mut v = p.to_json();
    v["proofs"]["receipt"] = serde_json::json!(["0x12"]);
    assert_eq!(field_of(v), "proofs.receipt[0]");
    let mut v = p.to_json();
    v["transaction"]["index"] = Value::from(u64::from(u32::MAX) + 1);
    assert_eq!(field_of(v), "transaction.index");
    let mut v = p.to_json();
    v["typedData"]["types"]
        .as_object_mut()
        .unwrap()
        .remove("EIP712Domain");
    assert_eq!(field_of(v), "typedData.types.EIP712Domain");
    assert_eq!(field_of(Value::Null), "<root>");
}
