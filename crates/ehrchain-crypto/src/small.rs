//! Node-local protection of small values: AES-256-GCM sealing (e.g. persona records at rest)
//! and keyed blind indexes for looking values up without storing them in the clear.

use std::fmt;

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use hmac::{Hmac, Mac};
use rand_core::CryptoRngCore;
use sha2::Sha256;
use zeroize::Zeroize;

use crate::error::CryptoError;
use crate::hash::Hash;
use crate::secret::{SecretBytes, SecretVec};

/// A node's local secret key. Zeroized on drop; `Debug` prints `[REDACTED]`.
#[derive(Clone)]
pub struct LocalKey(SecretBytes<32>);

impl LocalKey {
    /// A fresh random key.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        Self(SecretBytes::random(rng))
    }

    /// Wraps existing key bytes.
    pub fn from_bytes(bytes: SecretBytes<32>) -> Self {
        Self(bytes)
    }

    /// The raw key bytes.
    pub fn expose(&self) -> &[u8; 32] {
        self.0.expose()
    }
}

impl fmt::Debug for LocalKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// Encrypts `plaintext` bound to `aad`: `12-byte random nonce ‖ ciphertext ‖ 16-byte tag`.
///
/// Random 96-bit nonces are safe for up to about 2^32 values under one key.
///
/// # Panics
///
/// If `plaintext` exceeds AES-GCM's limit of 64 GiB, far beyond any "small" value.
pub fn seal_value(
    key: &LocalKey,
    rng: &mut impl CryptoRngCore,
    aad: &[u8],
    plaintext: &[u8],
) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    // Exact capacity: no reallocation may leave a plaintext copy behind.
    let mut sealed = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
    sealed.extend_from_slice(&nonce);
    sealed.extend_from_slice(plaintext);
    let cipher = Aes256Gcm::new(key.expose().into());
    let tag = cipher
        .encrypt_in_place_detached(Nonce::from_slice(&nonce), aad, &mut sealed[NONCE_LEN..])
        .expect("AES-GCM encrypts any value under 64 GiB");
    sealed.extend_from_slice(&tag);
    sealed
}

/// Decrypts a value sealed by [`seal_value`] under the same key and `aad`.
pub fn open_value(key: &LocalKey, aad: &[u8], sealed: &[u8]) -> Result<SecretVec, CryptoError> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Err(CryptoError::Malformed("sealed value too short"));
    }
    let (nonce, rest) = sealed.split_at(NONCE_LEN);
    let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
    let mut plaintext = SecretVec::new(ciphertext.to_vec());
    Aes256Gcm::new(key.expose().into())
        .decrypt_in_place_detached(
            Nonce::from_slice(nonce),
            aad,
            plaintext.expose_mut(),
            Tag::from_slice(tag),
        )
        .map_err(|_| CryptoError::ValueOpen)?;
    Ok(plaintext)
}

/// HMAC-SHA256(key, u16 BE len(namespace) ‖ namespace ‖ value): equal values give equal
/// indexes under one key and namespace, and nothing is learned about a value without the key.
///
/// # Panics
///
/// If `namespace` is longer than 65535 bytes (namespaces are program constants).
pub fn blind_index(key: &LocalKey, namespace: &[u8], value: &[u8]) -> Hash {
    let len = u16::try_from(namespace.len()).expect("blind index namespace under 64 KiB");
    // HMAC pads short keys with zeros to the block size; doing that here uses the infallible
    // fixed-size constructor.
    let mut block_key = hmac::digest::Key::<Hmac<Sha256>>::default();
    block_key[..32].copy_from_slice(key.expose());
    let mut mac = <Hmac<Sha256> as KeyInit>::new(&block_key);
    block_key.as_mut_slice().zeroize();
    mac.update(&len.to_be_bytes());
    mac.update(namespace);
    mac.update(value);
    Hash(mac.finalize().into_bytes().into())
}

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::OsRng;

    #[test]
    fn value_round_trip() {
        let key = LocalKey::generate(&mut OsRng);
        let sealed = seal_value(&key, &mut OsRng, b"persona/1", b"Jane Doe, 1980-01-01");
        assert_eq!(sealed.len(), 12 + 20 + 16);
        let opened = open_value(&key, b"persona/1", &sealed).expect("opens");
        assert_eq!(opened.expose(), b"Jane Doe, 1980-01-01");
        let empty = seal_value(&key, &mut OsRng, b"", b"");
        assert!(open_value(&key, b"", &empty).expect("opens").is_empty());
        assert_ne!(
            seal_value(&key, &mut OsRng, b"a", b"same"),
            seal_value(&key, &mut OsRng, b"a", b"same")
        );
    }

    #[test]
    fn value_failures() {
        let key = LocalKey::generate(&mut OsRng);
        let sealed = seal_value(&key, &mut OsRng, b"aad", b"value");
        assert_eq!(
            open_value(&key, b"other", &sealed).err(),
            Some(CryptoError::ValueOpen)
        );
        let other = LocalKey::generate(&mut OsRng);
        assert_eq!(
            open_value(&other, b"aad", &sealed).err(),
            Some(CryptoError::ValueOpen)
        );
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x10;
            assert!(open_value(&key, b"aad", &bad).is_err(), "byte {i}");
        }
        assert!(matches!(
            open_value(&key, b"aad", &sealed[..27]),
            Err(CryptoError::Malformed(_))
        ));
    }

    #[test]
    fn blind_index_is_framed_hmac() {
        let key = LocalKey::from_bytes(SecretBytes::new([0x0b; 32]));
        let mut reference =
            <Hmac<Sha256> as Mac>::new_from_slice(&[0x0b; 32]).expect("any key length");
        reference.update(b"\x00\x05email");
        reference.update(b"jane@example.org");
        let expected: [u8; 32] = reference.finalize().into_bytes().into();
        assert_eq!(
            blind_index(&key, b"email", b"jane@example.org"),
            Hash(expected)
        );
        // Namespace and value are kept apart.
        assert_ne!(
            blind_index(&key, b"ab", b"c"),
            blind_index(&key, b"a", b"bc")
        );
        let other = LocalKey::from_bytes(SecretBytes::new([0x0c; 32]));
        assert_ne!(
            blind_index(&key, b"email", b"x"),
            blind_index(&other, b"email", b"x")
        );
    }

    #[test]
    fn hmac_known_answer() {
        // Computed independently with Python's hmac module:
        // hmac.new(bytes([0x0b]*32), b"\x00\x05email" + b"jane@example.org", sha256)
        let key = LocalKey::from_bytes(SecretBytes::new([0x0b; 32]));
        assert_eq!(
            blind_index(&key, b"email", b"jane@example.org").to_string(),
            "c0cf3c0e69385e8f17c63d1308a2fcc92fb8b8d64c8f7dc013f99e3b94f89ff5"
        );
        assert_eq!(format!("{key:?}"), "[REDACTED]");
    }
}
