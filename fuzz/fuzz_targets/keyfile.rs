//! keyfile::open with a fixed passphrase: refusals predicted by a header model, decided before Argon2.
//! See `ehrchain_fuzz::check_keyfile` for the properties asserted.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ehrchain_fuzz::check_keyfile(data);
});
