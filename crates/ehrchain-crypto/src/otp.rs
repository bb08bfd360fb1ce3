//! Time-based one-time passwords (RFC 6238: HMAC-SHA-1, 30-second steps, 6 digits), the second
//! factor of staff logins. Pure: the caller passes the time.

use hmac::{Hmac, Mac};
use sha1::Sha1;

/// Seconds per TOTP step.
pub const STEP_SECS: u64 = 30;
/// Length of a TOTP secret in bytes (160 bits, as RFC 4226 recommends).
pub const SECRET_LEN: usize = 20;

/// The 6-digit code for time step `step` (RFC 4226 HOTP with the step as counter).
pub fn hotp(secret: &[u8], step: u64) -> u32 {
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[19] & 0x0f);
    let code = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    code % 1_000_000
}

/// The step a code entered at `unix_secs` matches, allowing one step of clock skew either way,
/// or `None`. Callers refuse a step at or before the last one accepted (no replay).
pub fn matching_step(secret: &[u8], code: u32, unix_secs: u64) -> Option<u64> {
    let now = unix_secs / STEP_SECS;
    [now, now.saturating_sub(1), now + 1]
        .into_iter()
        .find(|&step| hotp(secret, step) == code)
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 6238 appendix B, SHA-1 rows, truncated to 6 digits (the 8-digit codes mod 10^6).
    #[test]
    fn rfc6238_vectors() {
        let secret = b"12345678901234567890";
        for (t, code) in [
            (59u64, 287_082u32),
            (1_111_111_109, 81_804),
            (1_111_111_111, 50_471),
            (1_234_567_890, 5_924),
            (2_000_000_000, 279_037),
            (20_000_000_000, 353_130),
        ] {
            assert_eq!(hotp(secret, t / STEP_SECS), code, "t={t}");
        }
    }

    #[test]
    fn skew_of_one_step_is_accepted_and_two_is_not() {
        let secret = [7u8; SECRET_LEN];
        let t = 1_700_000_000;
        let code = hotp(&secret, t / STEP_SECS);
        assert_eq!(matching_step(&secret, code, t), Some(t / STEP_SECS));
        assert_eq!(
            matching_step(&secret, code, t + STEP_SECS),
            Some(t / STEP_SECS)
        );
        assert_eq!(matching_step(&secret, code, t + 2 * STEP_SECS), None);
        assert_eq!(matching_step(&secret, (code + 1) % 1_000_000, t), None);
    }
}
