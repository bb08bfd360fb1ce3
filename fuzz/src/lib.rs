//! Fuzzing support for ehrchain: fixtures (fixed keys, real encodings) and one property check per
//! fuzz target. Each target in `fuzz_targets/` is a one-line wrapper around a `check_*` function
//! here, so the same checks run under libFuzzer and, on the committed seeds, under `cargo test`.
//!
//! Every check asserts a property, not only "does not panic":
//!
//! - canonical decoders: decode succeeds ⇒ re-encoding gives exactly the input bytes;
//! - signed transactions: in addition, a decoded transaction whose signature verifies
//!   re-encodes identically, and the batch verifier agrees with the single one;
//! - stream decryption under a fixed key: decryption succeeds ⇒ the input is exactly what the
//!   encryptor produces for that plaintext and nonce prefix, and whatever plaintext is released
//!   before an error is exactly the input's leading authenticated segments;
//! - and so on; see each `check_*`.

pub mod checks;
pub mod fixtures;
pub mod seeds;

pub use checks::*;
