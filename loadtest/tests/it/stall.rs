//! Coordinated omission: a fake JSON-RPC node stalls one `eth_sendRawTransactionSync` for
//! 200 ms. With one connection, every transaction scheduled during the stall is sent late;
//! its latency must count from its *intended* send time, so the stall shows up in the
//! percentiles and in each of those transactions, not only in the one that stalled.

use crate::support::run_report;
use alloy_primitives::{hex, keccak256};
use serde_json::{Value, json};
use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{TcpListener, TcpStream},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    thread,
    time::Duration,
};

const STALL: Duration = Duration::from_millis(200);
/// The sync call that stalls (1-based).
const STALLED_CALL: u64 = 60;

fn answer(req: &Value, sync_calls: &AtomicU64) -> Value {
    let id = req["id"].clone();
    let params = &req["params"];
    let result = match req["method"].as_str().unwrap_or("") {
        "eth_chainId" => json!("0x385"),
        "web3_clientVersion" => json!("fake-stalling-node/1.0"),
        "eth_gasPrice" => json!("0x3b9aca00"),
        "eth_blockNumber" => json!("0x0"),
        "eth_maxPriorityFeePerGas" => json!("0x1"),
        "eth_getBalance" => json!("0xffffffffffffffffffffffffffff"),
        "eth_getTransactionCount" => json!("0x0"),
        "eth_sendRawTransactionSync" | "eth_sendRawTransaction" => {
            let raw = hex::decode(params[0].as_str().unwrap_or("")).unwrap_or_default();
            let hash = format!("0x{}", hex::encode(keccak256(&raw)));
            if req["method"] == "eth_sendRawTransaction" {
                json!(hash)
            } else {
                if sync_calls.fetch_add(1, Ordering::SeqCst) + 1 == STALLED_CALL {
                    thread::sleep(STALL);
                }
                json!({"transactionHash": hash, "status": "0x1"})
            }
        }
        "eth_getTransactionReceipt" => json!({"transactionHash": params[0], "status": "0x1"}),
        other => {
            return json!({"jsonrpc": "2.0", "id": id,
                "error": {"code": -32601, "message": format!("no {other}")}});
        }
    };
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

fn serve(stream: TcpStream, sync_calls: Arc<AtomicU64>) {
    stream.set_nodelay(true).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let mut length = 0usize;
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            if let Some((k, v)) = line.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let req: Value = serde_json::from_slice(&body).unwrap();
        let resp = match &req {
            Value::Array(calls) => {
                Value::Array(calls.iter().map(|c| answer(c, &sync_calls)).collect())
            }
            single => answer(single, &sync_calls),
        };
        let text = resp.to_string();
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            text.len()
        );
        if writer
            .write_all(head.as_bytes())
            .and_then(|()| writer.write_all(text.as_bytes()))
            .is_err()
        {
            return;
        }
    }
}

fn fake_node() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let sync_calls = Arc::new(AtomicU64::new(0));
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let calls = sync_calls.clone();
            thread::spawn(move || serve(stream, calls));
        }
    });
    port
}

#[test]
fn open_loop_latency_carries_an_injected_stall() {
    let port = fake_node();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("stall.json");
    let samples = dir.path().join("samples.csv");
    let rate = 200.0;
    let r = run_report(
        &[
            "--rpc",
            &format!("http://127.0.0.1:{port}"),
            "--mode",
            "open",
            "--rate",
            "200",
            "--count",
            "200",
            "--accounts",
            "4",
            "--send",
            "sync",
            "--connections",
            "1",
            "--samples",
            samples.to_str().unwrap(),
        ],
        &out,
    );
    assert_eq!(r["target"], "unknown");
    assert_eq!(r["transactions"], 200);
    assert_eq!(r["completed"], 200);
    assert_eq!(r["errors"], 0);
    // The fake node has no eth_getBlockReceipts: the check falls back to per-hash lookups.
    assert_eq!(r["receipts"]["method"], "eth_getTransactionReceipt");
    assert_eq!(r["receipts"]["found"], 200);
    let stall_us = STALL.as_micros() as u64;
    let lat = &r["latency_us"];
    let service = &r["service_latency_us"];
    assert!(lat["max"].as_u64().unwrap() >= stall_us, "max {lat}");
    assert!(
        lat["p99"].as_u64().unwrap() >= stall_us * 3 / 4,
        "p99 {lat}"
    );
    // About 40 transactions (200 ms at 200 tps) queue behind the stall: with latency counted
    // from the intended time they are ~20% of the run, so even p90 is far above normal...
    assert!(lat["p90"].as_u64().unwrap() >= 20_000, "p90 {lat}");
    // ...while measured from the actual send (coordinated omission) only one is slow.
    assert!(
        service["p90"].as_u64().unwrap() < 20_000,
        "service {service}"
    );
    assert!(
        service["max"].as_u64().unwrap() >= stall_us,
        "service {service}"
    );

    // Per transaction: every one intended during the stall carries the rest of it.
    let rows: Vec<Vec<String>> = std::fs::read_to_string(&samples)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect();
    let num = |row: &Vec<String>, col: usize| row[col].parse::<u64>().unwrap();
    // columns: index,account,nonce,kind,state,intended_us,sent_us,done_us,latency_us,service_us,…
    let stalled = rows.iter().max_by_key(|row| num(row, 9)).unwrap();
    let (stall_sent, stall_intended) = (num(stalled, 6), num(stalled, 5));
    assert!(num(stalled, 9) >= stall_us);
    let interval_us = (1e6 / rate) as u64;
    let during: Vec<&Vec<String>> = rows
        .iter()
        .filter(|row| {
            let t = num(row, 5);
            t > stall_intended && t < stall_sent + stall_us - interval_us
        })
        .collect();
    assert!(
        during.len() >= 30,
        "only {} transactions intended during the stall",
        during.len()
    );
    for row in during {
        let (intended, latency) = (num(row, 5), num(row, 8));
        let owed = stall_sent + stall_us - intended;
        assert!(
            latency + 1_000 >= owed,
            "tx {} intended at {intended} µs has latency {latency} µs, but the stall held it for {owed} µs",
            row[0]
        );
    }
}
