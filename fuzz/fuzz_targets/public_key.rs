//! PublicKey::from_bytes against a curve25519-dalek oracle; PublicKey FromStr.
//! See `ehrchain_fuzz::check_public_key` for the properties asserted.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ehrchain_fuzz::check_public_key(data);
});
