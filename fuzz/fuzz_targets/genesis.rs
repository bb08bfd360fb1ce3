//! Genesis::from_bytes: canonical round trip; the chain id hashes exactly the input.
//! See `ehrchain_fuzz::check_genesis` for the properties asserted.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ehrchain_fuzz::check_genesis(data);
});
