//! Key envelopes: a record's [`DataKey`] sealed to one reader's X25519 key with HPKE.
//!
//! Suite: RFC 9180 base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM, chosen
//! because a browser can do every step with WebCrypto alone. `info` is
//! `b"ehrchain/envelope/v1"`; the associated data is the caller's context (the record id), so
//! an envelope cannot be moved to another record.
//!
//! Wire form: `encapsulated key (32) ‖ AES-GCM ciphertext of the data key (32) ‖ tag (16)`.

use std::fmt;
use std::str::FromStr;

use hpke::aead::{AeadTag, AesGcm256};
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem, OpModeR, OpModeS, Serializable};
use rand_core::CryptoRngCore;

use crate::error::CryptoError;
use crate::hash::{decode_hex, write_hex};
use crate::secret::SecretBytes;
use crate::stream::DataKey;

/// HPKE `info`: binds envelopes to this protocol and version.
pub const INFO: &[u8] = b"ehrchain/envelope/v1";
/// Length of a serialized [`Envelope`].
pub const ENVELOPE_LEN: usize = 32 + 32 + TAG_LEN;

/// A reader's public X25519 key, to which envelopes are sealed.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EncryptionKey([u8; 32]);

impl EncryptionKey {
    /// Wraps 32 bytes. Every value is accepted, as X25519 does; a low-order key is refused
    /// when sealing.
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        Self(*bytes)
    }

    /// The 32-byte encoding.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl fmt::Display for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl FromStr for EncryptionKey {
    type Err = CryptoError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        decode_hex::<32>(s).map(Self)
    }
}

/// A reader's secret X25519 key. Zeroized on drop; `Debug` prints `[REDACTED]`.
#[derive(Clone)]
pub struct DecryptionKey {
    secret: SecretBytes<32>,
    /// Cached: deriving it costs a scalar multiplication.
    public: EncryptionKey,
}

impl DecryptionKey {
    /// A fresh random key.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        Self::from_bytes(&SecretBytes::random(rng))
    }

    /// The key with these 32 secret bytes (clamped when used, as X25519 specifies).
    pub fn from_bytes(bytes: &SecretBytes<32>) -> Self {
        let secret = x25519_dalek::StaticSecret::from(*bytes.expose());
        let public = EncryptionKey(x25519_dalek::PublicKey::from(&secret).to_bytes());
        Self {
            secret: bytes.clone(),
            public,
        }
    }

    /// The 32 secret bytes, for sealing into a key file.
    pub fn to_bytes(&self) -> SecretBytes<32> {
        self.secret.clone()
    }

    /// The matching public key.
    pub fn public(&self) -> EncryptionKey {
        self.public
    }
}

impl fmt::Debug for DecryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// A sealed [`DataKey`].
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Envelope {
    /// The sender's ephemeral X25519 public key (HPKE `enc`).
    pub encapsulated: [u8; 32],
    /// AES-256-GCM ciphertext of the data key, tag included.
    pub ciphertext: Vec<u8>,
}

impl Envelope {
    /// `encapsulated ‖ ciphertext`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32 + self.ciphertext.len());
        out.extend_from_slice(&self.encapsulated);
        out.extend_from_slice(&self.ciphertext);
        out
    }

    /// Parses exactly [`ENVELOPE_LEN`] bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Envelope, CryptoError> {
        if bytes.len() != ENVELOPE_LEN {
            return Err(CryptoError::Malformed("envelope must be 80 bytes"));
        }
        let (encapsulated, ciphertext) = bytes.split_at(32);
        let mut enc = [0u8; 32];
        enc.copy_from_slice(encapsulated);
        Ok(Envelope {
            encapsulated: enc,
            ciphertext: ciphertext.to_vec(),
        })
    }
}

impl fmt::Debug for Envelope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Hex<'a>(&'a [u8]);
        impl fmt::Debug for Hex<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write_hex(f, self.0)
            }
        }
        f.debug_struct("Envelope")
            .field("encapsulated", &Hex(&self.encapsulated))
            .field("ciphertext", &Hex(&self.ciphertext))
            .finish()
    }
}

/// Seals `key` to `recipient`, bound to `context` (the record id bytes).
///
/// Fails only if `recipient` is a low-order point, which no honest key is.
pub fn seal(
    rng: &mut impl CryptoRngCore,
    recipient: &EncryptionKey,
    context: &[u8],
    key: &DataKey,
) -> Result<Envelope, CryptoError> {
    let recipient = <X25519HkdfSha256 as Kem>::PublicKey::from_bytes(&recipient.0)
        .map_err(|_| CryptoError::EnvelopeSeal)?;
    let (encapsulated, mut ctx) = hpke::setup_sender::<AesGcm256, HkdfSha256, X25519HkdfSha256, _>(
        &OpModeS::Base,
        &recipient,
        INFO,
        &mut HpkeRng(rng),
    )
    .map_err(|_| CryptoError::EnvelopeSeal)?;
    let mut ciphertext = Vec::with_capacity(32 + TAG_LEN);
    ciphertext.extend_from_slice(key.expose());
    let tag = ctx
        .seal_in_place_detached(&mut ciphertext, context)
        .map_err(|_| CryptoError::EnvelopeSeal)?;
    ciphertext.extend_from_slice(&tag.to_bytes());
    let mut enc = [0u8; 32];
    enc.copy_from_slice(&encapsulated.to_bytes());
    Ok(Envelope {
        encapsulated: enc,
        ciphertext,
    })
}

/// Opens an envelope sealed to `recipient` under `context`.
///
/// Wrong key, wrong context and tampering are indistinguishable by design: all give
/// [`CryptoError::EnvelopeOpen`].
pub fn open(
    recipient: &DecryptionKey,
    context: &[u8],
    envelope: &Envelope,
) -> Result<DataKey, CryptoError> {
    if envelope.ciphertext.len() != 32 + TAG_LEN {
        return Err(CryptoError::Malformed(
            "envelope ciphertext must be 48 bytes",
        ));
    }
    let (sealed_key, tag) = envelope.ciphertext.split_at(32);
    let tag = AeadTag::<AesGcm256>::from_bytes(tag)
        .map_err(|_| CryptoError::Malformed("envelope tag"))?;
    let encapsulated = <X25519HkdfSha256 as Kem>::EncappedKey::from_bytes(&envelope.encapsulated)
        .map_err(|_| CryptoError::EnvelopeOpen)?;
    let secret = <X25519HkdfSha256 as Kem>::PrivateKey::from_bytes(recipient.secret.expose())
        .map_err(|_| CryptoError::EnvelopeOpen)?;
    let mut ctx = hpke::setup_receiver::<AesGcm256, HkdfSha256, X25519HkdfSha256>(
        &OpModeR::Base,
        &secret,
        &encapsulated,
        INFO,
    )
    .map_err(|_| CryptoError::EnvelopeOpen)?;
    let mut key = DataKey::from_bytes(SecretBytes::new([0u8; 32]));
    let buf = key.expose_mut();
    buf.copy_from_slice(sealed_key);
    ctx.open_in_place_detached(buf, context, &tag)
        .map_err(|_| CryptoError::EnvelopeOpen)?;
    Ok(key)
}

const TAG_LEN: usize = 16;

/// Lends a rand_core 0.6 generator (this crate's) to hpke, which speaks rand_core 0.9.
struct HpkeRng<'a, R: CryptoRngCore + ?Sized>(&'a mut R);

impl<R: CryptoRngCore + ?Sized> hpke::rand_core::RngCore for HpkeRng<'_, R> {
    fn next_u32(&mut self) -> u32 {
        rand_core::RngCore::next_u32(self.0)
    }

    fn next_u64(&mut self) -> u64 {
        rand_core::RngCore::next_u64(self.0)
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        rand_core::RngCore::fill_bytes(self.0, dst);
    }
}

impl<R: CryptoRngCore + ?Sized> hpke::rand_core::CryptoRng for HpkeRng<'_, R> {}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::OsRng;

    fn setup() -> (DecryptionKey, DataKey) {
        (
            DecryptionKey::generate(&mut OsRng),
            DataKey::generate(&mut OsRng),
        )
    }

    #[test]
    fn round_trip() {
        let (reader, key) = setup();
        let envelope = seal(&mut OsRng, &reader.public(), b"record-1", &key).expect("seals");
        let bytes = envelope.to_bytes();
        assert_eq!(bytes.len(), ENVELOPE_LEN);
        let parsed = Envelope::from_bytes(&bytes).expect("parses");
        assert_eq!(parsed, envelope);
        let opened = open(&reader, b"record-1", &parsed).expect("opens");
        assert_eq!(opened.expose(), key.expose());
    }

    #[test]
    fn wrong_recipient_fails() {
        let (reader, key) = setup();
        let envelope = seal(&mut OsRng, &reader.public(), b"r", &key).expect("seals");
        let other = DecryptionKey::generate(&mut OsRng);
        assert_eq!(
            open(&other, b"r", &envelope).err(),
            Some(CryptoError::EnvelopeOpen)
        );
    }

    #[test]
    fn wrong_context_fails() {
        let (reader, key) = setup();
        let envelope = seal(&mut OsRng, &reader.public(), b"record-1", &key).expect("seals");
        assert!(open(&reader, b"record-2", &envelope).is_err());
        assert!(open(&reader, b"", &envelope).is_err());
    }

    #[test]
    fn flipped_byte_fails() {
        let (reader, key) = setup();
        let bytes = seal(&mut OsRng, &reader.public(), b"r", &key)
            .expect("seals")
            .to_bytes();
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x04;
            let envelope = Envelope::from_bytes(&bad).expect("parses");
            assert!(open(&reader, b"r", &envelope).is_err(), "byte {i}");
        }
    }

    #[test]
    fn malformed_rejected() {
        assert!(Envelope::from_bytes(&[0u8; 79]).is_err());
        assert!(Envelope::from_bytes(&[0u8; 81]).is_err());
        let (reader, _) = setup();
        let short = Envelope {
            encapsulated: [9u8; 32],
            ciphertext: vec![0u8; 47],
        };
        assert!(matches!(
            open(&reader, b"", &short),
            Err(CryptoError::Malformed(_))
        ));
    }

    #[test]
    fn low_order_recipient_refused() {
        let key = DataKey::generate(&mut OsRng);
        let zero = EncryptionKey::from_bytes(&[0u8; 32]);
        assert_eq!(
            seal(&mut OsRng, &zero, b"r", &key).err(),
            Some(CryptoError::EnvelopeSeal)
        );
    }

    #[test]
    fn keys_and_encodings() {
        let reader = DecryptionKey::generate(&mut OsRng);
        let again = DecryptionKey::from_bytes(&reader.to_bytes());
        assert_eq!(again.public(), reader.public());
        assert_eq!(format!("{reader:?}"), "[REDACTED]");
        let pk = reader.public();
        assert_eq!(pk.to_string().parse::<EncryptionKey>(), Ok(pk));
        assert_eq!(EncryptionKey::from_bytes(pk.as_bytes()), pk);
        assert_eq!(format!("{pk:?}"), pk.to_string());
        // RFC 7748 §6.1: Alice's key pair.
        let alice = DecryptionKey::from_bytes(&SecretBytes::new(
            crate::hash::decode_hex::<32>(
                "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
            )
            .expect("hex"),
        ));
        assert_eq!(
            alice.public().to_string(),
            "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
        );
    }

    #[test]
    fn opens_envelope_from_independent_hpke() {
        // Sealed with Python `cryptography` (OpenSSL HPKE): suite X25519 / HKDF-SHA256 /
        // AES-256-GCM, info "ehrchain/envelope/v1", empty aad, recipient secret 01..20,
        // data key 0xab × 32.
        let mut secret = [0u8; 32];
        for (i, b) in secret.iter_mut().enumerate() {
            *b = i as u8 + 1;
        }
        let reader = DecryptionKey::from_bytes(&SecretBytes::new(secret));
        let bytes = crate::hash::tests_support::unhex(concat!(
            "588d187e7cb04b9b3364cbc6107eea7bf21a740f28d5cc8d722f92c8748b915a925fffcc81bc",
            "b74438d6bb4a3600b5e6fb52278da4d1dff5bd6c0276127663411f0fd3100a42ccd1cd5eb5d7",
            "9d2d4049",
        ));
        let envelope = Envelope::from_bytes(&bytes).expect("parses");
        let key = open(&reader, b"", &envelope).expect("opens");
        assert_eq!(key.expose(), &[0xab; 32]);
        assert!(open(&reader, b"x", &envelope).is_err());
    }

    #[test]
    fn hpke_parameters_are_the_documented_ones() {
        // An independent receiver built straight from hpke with the documented suite, info and
        // aad opens our envelope.
        let (reader, key) = setup();
        let envelope = seal(&mut OsRng, &reader.public(), b"ctx", &key).expect("seals");
        let sk = <X25519HkdfSha256 as Kem>::PrivateKey::from_bytes(reader.to_bytes().expose())
            .expect("key");
        let enc = <X25519HkdfSha256 as Kem>::EncappedKey::from_bytes(&envelope.encapsulated)
            .expect("enc");
        let mut ctx = hpke::setup_receiver::<AesGcm256, HkdfSha256, X25519HkdfSha256>(
            &OpModeR::Base,
            &sk,
            &enc,
            b"ehrchain/envelope/v1",
        )
        .expect("setup");
        let plain = ctx.open(&envelope.ciphertext, b"ctx").expect("opens");
        assert_eq!(&plain[..], key.expose());
    }
}
