//! An authority as a request names it: its canonical form is stable.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        agentnet_sidecar::fuzzing::authority(text);
    }
});
