//! ehrchain_api::auth::authenticate (x-ehr-auth header): 401 on every refusal; edited headers never authenticate anything new.
//! See `ehrchain_fuzz::check_auth` for the properties asserted.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ehrchain_fuzz::check_auth(data);
});
