//! InclusionProof::from_bytes (ledger): canonical round trip; verifying proofs name only real fixture transactions.
//! See `ehrchain_fuzz::check_inclusion_proof` for the properties asserted.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ehrchain_fuzz::check_inclusion_proof(data);
});
