//! `Preconfirmation::from_json` and its verification, on any JSON: never a panic, and
//! what parses writes back to JSON that parses to the same preconfirmation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use peregrine_preconf::Preconfirmation;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if let Ok(p) = Preconfirmation::from_json(&value) {
        let _ = p.verify(None);
        let again = Preconfirmation::from_json(&p.to_json()).expect("its own JSON parses");
        assert_eq!(again.to_json(), p.to_json());
    }
});
