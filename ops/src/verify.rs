//! `peregrine preconf verify`: check a preconfirmation offline.

use crate::cli::VerifyArgs;
use peregrine_preconf::Preconfirmation;
use serde_json::Value;
use std::io::Read;

/// Why verification could not run or failed.
#[derive(Debug, thiserror::Error)]
pub enum VerifyCmdError {
    /// The input could not be read or parsed (exit code 2).
    #[error("{0}")]
    Input(String),
    /// The preconfirmation is not valid (exit code 1).
    #[error("invalid preconfirmation: {0}")]
    Invalid(String),
}

/// Finds the preconfirmation in a JSON document: itself, a receipt's `preconfirmation`
/// field, a `preconfirmations` subscription item (which adds `transactionHash`), or any
/// of these wrapped in a JSON-RPC response's `result` or a notification's `params.result`.
pub(crate) fn locate(v: &Value) -> Value {
    let v = v
        .get("params")
        .and_then(|p| p.get("result"))
        .or_else(|| v.get("result"))
        .unwrap_or(v);
    let mut found = v.get("preconfirmation").unwrap_or(v).clone();
    if let Some(map) = found.as_object_mut()
        && map.contains_key("typedData")
    {
        map.remove("transactionHash");
    }
    found
}

/// The JSON document in file `input` (`-`: standard input).
pub(crate) fn read_json(input: &str) -> Result<Value, String> {
    let text = if input == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| format!("cannot read standard input: {e}"))?;
        s
    } else {
        std::fs::read_to_string(input).map_err(|e| format!("cannot read {input}: {e}"))?
    };
    serde_json::from_str(&text).map_err(|e| format!("{input}: not JSON: {e}"))
}

/// Reads, checks and describes a preconfirmation; returns the report to print.
pub fn verify(args: &VerifyArgs) -> Result<String, VerifyCmdError> {
    let json = read_json(&args.input).map_err(VerifyCmdError::Input)?;
    let preconf = Preconfirmation::from_json(&locate(&json))
        .map_err(|e| VerifyCmdError::Invalid(e.to_string()))?;
    let v = preconf
        .verify(args.sequencer)
        .map_err(|e| VerifyCmdError::Invalid(e.to_string()))?;
    let signer_note = match args.sequencer {
        Some(_) => "(the expected sequencer)",
        None => "(--any-signer: not compared with an expected sequencer)",
    };
    Ok(format!(
        "valid preconfirmation\n  \
         signer         {} {signer_note}\n  \
         chain id       {}\n  \
         L2 block       {}\n  \
         mini-block     {} (hash {})\n  \
         position       {} in the mini-block\n  \
         transaction    {}\n  \
         result         {}, gas used {}, cumulative gas used {}\n  \
         logs hash      {}\n  \
         proofs         transaction {} hashes, receipt {} hashes (both verified)\n",
        v.signer,
        v.chain_id,
        v.block_number,
        v.mini_block_number,
        v.mini_block_hash,
        v.index,
        v.tx_hash,
        if v.success { "success" } else { "reverted" },
        v.gas_used,
        preconf.receipt.cumulative_gas_used,
        preconf.receipt.logs_hash,
        preconf.transaction_proof.len(),
        preconf.receipt_proof.len(),
    ))
}
