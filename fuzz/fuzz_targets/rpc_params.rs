//! JSON-RPC parameter parsing for every method: the first byte picks the method, the
//! rest is its `params` text (valid JSON or not), run through the real `EthHandler`.
#![no_main]

mod node;

use libfuzzer_sys::fuzz_target;
use peregrine_rpc::{EthApiServer, EthHandler, RpcConfig};
use std::sync::OnceLock;

const METHODS: &[&str] = &[
    "eth_chainId",
    "net_version",
    "web3_clientVersion",
    "eth_blockNumber",
    "eth_syncing",
    "eth_accounts",
    "eth_getBalance",
    "eth_getTransactionCount",
    "eth_getCode",
    "eth_getStorageAt",
    "eth_call",
    "eth_estimateGas",
    "eth_gasPrice",
    "eth_maxPriorityFeePerGas",
    "eth_feeHistory",
    "eth_sendRawTransaction",
    "eth_getTransactionByHash",
    "eth_getTransactionReceipt",
    "eth_getBlockByNumber",
    "eth_getBlockByHash",
    "eth_getTransactionByBlockNumberAndIndex",
    "eth_getTransactionByBlockHashAndIndex",
    "eth_getBlockTransactionCountByNumber",
    "eth_getBlockTransactionCountByHash",
    "eth_getBlockReceipts",
    "eth_getLogs",
    "eth_sendRawTransactionSync",
    "preconf_sequencer",
    "preconf_getPreconfirmation",
    "peregrine_getTransactionStatus",
];

struct Rpc {
    runtime: tokio::runtime::Runtime,
    module: jsonrpsee::RpcModule<EthHandler>,
}

fn rpc() -> &'static Rpc {
    static RPC: OnceLock<Rpc> = OnceLock::new();
    RPC.get_or_init(|| {
        let node = &node::shared().node;
        let mut cfg = RpcConfig::default();
        // Bounded work per input: no waiting for preconfirmations, small calls.
        cfg.sync_timeout_ms = 0;
        cfg.sync_timeout_cap_ms = 0;
        cfg.gas_cap = 1_000_000;
        cfg.evm_timeout_ms = 100;
        cfg.call_threads = 1;
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let module = {
            let _guard = runtime.enter();
            let writes = peregrine_rpc::Writes::Local(std::sync::Arc::new(node.ingress().clone()));
            EthHandler::new(node.chain().clone(), writes, cfg).into_rpc()
        };
        Rpc { runtime, module }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, params)) = data.split_first() else {
        return;
    };
    let method = METHODS[pick as usize % METHODS.len()];
    let params = String::from_utf8_lossy(params);
    let request = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{method}","params":{params}}}"#);
    let rpc = rpc();
    let _ = rpc
        .runtime
        .block_on(rpc.module.raw_json_request(&request, 1));
});
