//! Cryptography for ehrchain, a patient-controlled health-record exchange: every primitive the
//! other crates use, behind small types that are hard to misuse.
//!
//! | module | purpose | construction |
//! |---|---|---|
//! | [`hash`] | digests for links, roots and ids | SHA-256 |
//! | [`cid`] | content addresses of blobs | CIDv1, raw codec, sha2-256, base32 text (`bafkrei…`) |
//! | [`sign`] | transactions, votes, grants | Ed25519 (RFC 8032), strict verification, namespaced |
//! | [`envelope`] | handing a record key to one reader | HPKE (RFC 9180) base mode |
//! | [`stream`] | record contents of any size | AES-256-GCM in the STREAM construction |
//! | [`keyfile`] | secrets at rest under a passphrase | Argon2id + AES-256-GCM |
//! | [`identity`] | an actor's signing and decryption key pairs | Ed25519 + X25519 |
//! | [`small`] | node-local small values, blind indexes | AES-256-GCM, HMAC-SHA256 |
//! | [`secret`] | containers for secrets | zeroize on drop, `[REDACTED]` in `Debug` |
//!
//! Why these choices:
//!
//! - **Namespaced signatures.** Every signature covers
//!   `u16 BE len(namespace) ‖ namespace ‖ message`, with a namespace per message kind, so a
//!   signature over one kind of message can never be replayed as another kind. Verification
//!   is `verify_strict`, so all nodes agree on which signatures are valid.
//! - **HPKE with DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM** because a browser can
//!   run every part of that suite with WebCrypto, so patients' browsers can open envelopes
//!   themselves. The envelope is bound to its record through the AEAD associated data.
//! - **STREAM** (64 KiB segments, each its own AES-GCM message with a counter and last-segment
//!   flag in the nonce) so records of any size are encrypted and decrypted in constant memory,
//!   plaintext is released only after its segment authenticates, and truncation, reordering
//!   and appending are detected.
//! - **Argon2id** with OWASP's default cost for key files, and bounds on the parameters read
//!   back, so a hostile file cannot make the process allocate without limit.
//!
//! The crate does no I/O beyond the `Read`/`Write` helpers in [`stream`], reads no clock, and
//! takes every source of randomness as an argument (`rng: &mut impl CryptoRngCore`).
#![forbid(unsafe_code)]

pub mod cid;
pub mod envelope;
pub mod error;
pub mod hash;
pub mod identity;
pub mod keyfile;
pub mod otp;
pub mod secret;
pub mod sign;
pub mod small;
pub mod stream;

pub use cid::{Cid, CidHasher};
pub use envelope::{DecryptionKey, EncryptionKey, Envelope};
pub use error::{CryptoError, StreamError};
pub use hash::{sha256, Hash, Hasher};
pub use identity::{Identity, PublicIdentity};
pub use keyfile::KdfParams;
pub use rand_core::CryptoRngCore;
pub use secret::{SecretBytes, SecretVec};
pub use sign::{verify, verify_batch, PublicKey, Signature, SignedItem, SigningKey};
pub use small::LocalKey;
pub use stream::{DataKey, Decryptor, Encryptor};
