//! AuditEntry::from_bytes: canonical round trip.
//! See `ehrchain_fuzz::check_audit_entry` for the properties asserted.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ehrchain_fuzz::check_audit_entry(data);
});
