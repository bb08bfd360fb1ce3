//! Every Canonical::from_bytes impl (byte 0 picks the type): canonical round trip.
//! See `ehrchain_fuzz::check_canonical` for the properties asserted.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ehrchain_fuzz::check_canonical(data);
});
