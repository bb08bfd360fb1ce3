//! Block::from_bytes: canonical round trip; structural check and inclusion proofs of decoded blocks.
//! See `ehrchain_fuzz::check_block` for the properties asserted.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ehrchain_fuzz::check_block(data);
});
