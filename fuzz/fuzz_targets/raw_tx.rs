//! A raw transaction through ingress: EIP-2718 decode, the stateless checks, sender
//! recovery, the checks against `pending`, and (if all pass) the push into the ring.
#![no_main]

mod node;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let ingress = node::shared().node.ingress();
    if let Ok(tx) = ingress.decode(data) {
        let _ = ingress.submit_decoded(tx);
    }
});
