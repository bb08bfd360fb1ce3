//! Envelope::from_bytes and envelope::open with a fixed reader key: only fixture envelopes open.
//! See `ehrchain_fuzz::check_envelope` for the properties asserted.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ehrchain_fuzz::check_envelope(data);
});
