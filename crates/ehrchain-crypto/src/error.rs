//! The crate's error types: one for keys, signatures, envelopes and files, one for streams.

use thiserror::Error;

/// Everything that can go wrong outside record streaming.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The bytes are not a valid Ed25519 or X25519 public key.
    #[error("invalid public key")]
    InvalidPublicKey,
    /// The bytes cannot be a signature (malformed encoding).
    #[error("invalid signature encoding")]
    InvalidSignature,
    /// A well-formed signature that does not verify for this key, namespace and message.
    #[error("signature verification failed")]
    BadSignature,
    /// An HPKE envelope could not be sealed.
    #[error("could not seal key envelope")]
    EnvelopeSeal,
    /// An HPKE envelope could not be opened: wrong recipient key, wrong context, or tampered.
    #[error("could not open key envelope: wrong key, wrong context or tampered")]
    EnvelopeOpen,
    /// A sealed value could not be opened: wrong key, wrong associated data or tampered.
    #[error("could not open sealed value: wrong key, wrong associated data or tampered")]
    ValueOpen,
    /// Input bytes do not follow the expected format.
    #[error("malformed input: {0}")]
    Malformed(&'static str),
    /// The key file did not decrypt under this passphrase (or was tampered with).
    #[error("wrong passphrase (or the key file was tampered with)")]
    WrongPassphrase,
    /// Key-derivation parameters are out of the accepted range.
    #[error("unacceptable key-derivation parameters: {0}")]
    KdfParams(&'static str),
    /// Text or bytes are not a CIDv1 raw sha2-256 identifier.
    #[error("invalid CID: {0}")]
    Cid(&'static str),
    /// Text is not the expected hexadecimal encoding.
    #[error("invalid hex: {0}")]
    Hex(&'static str),
}

/// Errors from encrypting or decrypting a record stream.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StreamError {
    /// Reading the input or writing the output failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The stream header is missing, has the wrong magic, or an unknown version.
    #[error("bad stream header")]
    BadHeader,
    /// The stream ended before its final segment.
    #[error("stream truncated: final segment missing")]
    Truncated,
    /// A segment failed authentication: wrong key, or the data was modified, reordered or extended.
    #[error("stream authentication failed: wrong key or tampered data")]
    Tampered,
    /// The stream has more segments than the 32-bit counter allows.
    #[error("stream too long: segment counter exhausted")]
    TooLong,
    /// Encryption failed internally.
    #[error("stream encryption failed")]
    Encrypt,
}
