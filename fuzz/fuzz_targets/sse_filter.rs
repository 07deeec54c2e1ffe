//! A server's event stream, cut into chunks anywhere: no hidden tool gets through the
//! list filter, whatever the framing (line ends, BOM, split events, batches).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte says where to cut; the rest is the stream.
    let Some((&cut, stream)) = data.split_first() else { return };
    let at = usize::from(cut).min(stream.len());
    let (a, b) = stream.split_at(at);
    agentnet_sidecar::fuzzing::sse_filter(&[a, b]);
});
