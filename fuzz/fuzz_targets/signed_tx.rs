//! SignedTx::decode_submitted: canonical round trip; a verifying tx re-encodes identically; batch and single verification agree.
//! See `ehrchain_fuzz::check_signed_tx` for the properties asserted.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ehrchain_fuzz::check_signed_tx(data);
});
