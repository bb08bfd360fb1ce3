//! Cid::from_bytes and Cid FromStr: one binary and one text form per content.
//! See `ehrchain_fuzz::check_cid` for the properties asserted.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ehrchain_fuzz::check_cid(data);
});
