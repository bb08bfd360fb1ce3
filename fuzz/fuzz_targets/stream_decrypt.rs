//! Stream Decryptor under a fixed key: succeeds only on exact encryptions; never releases unauthenticated plaintext.
//! See `ehrchain_fuzz::check_stream` for the properties asserted.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ehrchain_fuzz::check_stream(data);
});
