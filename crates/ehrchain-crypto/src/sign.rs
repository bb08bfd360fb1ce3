//! Ed25519 signatures bound to a namespace, so a signature over one kind of message can never be
//! accepted as a signature over another kind.
//!
//! The bytes actually signed are
//!
//! ```text
//! u16 big-endian length of namespace ‖ namespace ‖ message
//! ```
//!
//! signed with plain Ed25519 (RFC 8032, not Ed25519ph or Ed25519ctx), so a browser with
//! WebCrypto's Ed25519 can produce and check the same signatures by building the same bytes.
//! The length prefix keeps namespace and message apart: (`"ab"`, `"c"`) and (`"a"`, `"bc"`)
//! sign different bytes.
//!
//! Verification is strict (`verify_strict`): small-order keys and `R` values and non-canonical
//! encodings are rejected, so every node reaches the same verdict on the same bytes.

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{Signer, VerifyingKey};
use rand_core::CryptoRngCore;

use crate::error::CryptoError;
use crate::hash::{decode_hex, write_hex};
use crate::secret::SecretBytes;

mod keycache;

/// An Ed25519 public key, known to be a canonically encoded point of large order.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PublicKey([u8; 32]);

impl PublicKey {
    /// Parses a key, rejecting bytes that are not a canonically encoded curve point, and
    /// small-order ("weak") points, for which anyone can forge signatures.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, CryptoError> {
        verifying_key(bytes)?;
        Ok(Self(*bytes))
    }

    /// Wraps bytes that were checked by [`PublicKey::from_bytes`] when they first arrived, and are
    /// now read back from storage this process wrote (the ledger state). Skips the point
    /// decompression, which otherwise dominates reading state. A key that is not valid after all
    /// (damaged storage) only makes verification fail: `verify` checks the point again.
    pub fn from_trusted_bytes(bytes: &[u8; 32]) -> Self {
        Self(*bytes)
    }

    /// The 32-byte encoding.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl FromStr for PublicKey {
    type Err = CryptoError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_bytes(&decode_hex::<32>(s)?)
    }
}

/// The decompressed point of a canonically encoded key of large order: from the process's
/// cache of keys already checked, or checked now and cached.
fn verifying_key(bytes: &[u8; 32]) -> Result<VerifyingKey, CryptoError> {
    if let Some(key) = keycache::get(bytes) {
        return Ok(key);
    }
    if !is_canonical_point_encoding(bytes) {
        return Err(CryptoError::InvalidPublicKey);
    }
    let key = VerifyingKey::from_bytes(bytes).map_err(|_| CryptoError::InvalidPublicKey)?;
    if key.is_weak() {
        return Err(CryptoError::InvalidPublicKey);
    }
    keycache::put(bytes, key);
    Ok(key)
}

/// An Ed25519 signature (`R ‖ s`). Any 64 bytes are accepted here; validity is decided by
/// [`verify`].
#[derive(Copy, Clone, PartialEq, Eq, Hash)]
pub struct Signature([u8; 64]);

impl Signature {
    /// Wraps 64 signature bytes.
    pub fn from_bytes(bytes: &[u8; 64]) -> Self {
        Self(*bytes)
    }

    /// Wraps a slice that must be exactly 64 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, CryptoError> {
        let bytes: &[u8; 64] = bytes
            .try_into()
            .map_err(|_| CryptoError::InvalidSignature)?;
        Ok(Self(*bytes))
    }

    /// The 64 signature bytes, by value.
    pub fn to_bytes(&self) -> [u8; 64] {
        self.0
    }

    /// The 64 signature bytes.
    pub fn as_bytes(&self) -> &[u8; 64] {
        &self.0
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl FromStr for Signature {
    type Err = CryptoError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        decode_hex::<64>(s).map(Self)
    }
}

/// An Ed25519 signing key. Zeroized on drop; `Debug` prints `[REDACTED]`.
#[derive(Clone)]
pub struct SigningKey(ed25519_dalek::SigningKey);

impl SigningKey {
    /// A fresh random key.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        Self(ed25519_dalek::SigningKey::generate(rng))
    }

    /// The key with this 32-byte seed (the RFC 8032 private key).
    pub fn from_seed(seed: &SecretBytes<32>) -> Self {
        Self(ed25519_dalek::SigningKey::from_bytes(seed.expose()))
    }

    /// The 32-byte seed, for sealing into a key file.
    pub fn seed(&self) -> SecretBytes<32> {
        SecretBytes::new(self.0.to_bytes())
    }

    /// The matching public key.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key().to_bytes())
    }

    /// Signs `message` under `namespace` (see the module docs for the exact bytes).
    ///
    /// # Panics
    ///
    /// If `namespace` is longer than 65535 bytes. Namespaces are constants chosen by the
    /// program, never input, so this is a programming error.
    pub fn sign(&self, namespace: &[u8], message: &[u8]) -> Signature {
        let mut framed = Vec::with_capacity(2 + namespace.len() + message.len());
        let fits = frame_into(&mut framed, namespace, message);
        assert!(fits, "signature namespace longer than 65535 bytes");
        Signature(self.0.sign(&framed).to_bytes())
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// Checks `sig` over `message` under `namespace` with strict Ed25519 verification.
pub fn verify(
    key: &PublicKey,
    namespace: &[u8],
    message: &[u8],
    sig: &Signature,
) -> Result<(), CryptoError> {
    let key = verifying_key(&key.0)?;
    let mut framed = Vec::with_capacity(2 + namespace.len() + message.len());
    if !frame_into(&mut framed, namespace, message) {
        return Err(CryptoError::BadSignature);
    }
    key.verify_strict(&framed, &ed25519_dalek::Signature::from_bytes(&sig.0))
        .map_err(|_| CryptoError::BadSignature)
}

/// One signature to check in [`verify_batch`].
#[derive(Copy, Clone, Debug)]
pub struct SignedItem<'a> {
    pub key: &'a PublicKey,
    pub namespace: &'a [u8],
    pub message: &'a [u8],
    pub signature: &'a Signature,
}

/// Checks many signatures at once; `result[i]` says whether `items[i]` verified.
///
/// All items go through one Ed25519 batch equation (about twice as fast per signature as
/// single verification for large batches). Only if that fails is every item checked on its own
/// with [`verify`], to find the culprits. Items that strict verification would reject because
/// of their encoding (non-canonical or small-order `R`) never enter the batch.
///
/// For any signature made by an honest signer, and any forgery by someone without the secret
/// key, the answer equals [`verify`]'s. The one exception is inherent to Ed25519 batching: a key
/// holder who deliberately builds a signature whose `R` carries a small-torsion component can
/// get it accepted by the batch but rejected by [`verify`]. The batch coefficients are derived
/// deterministically from the whole slice, so the verdict is a pure function of `items`:
/// consensus code stays deterministic as long as every node verifies the same slice (for
/// example, a block's transactions in block order).
pub fn verify_batch(items: &[SignedItem<'_>]) -> Vec<bool> {
    let mut results = vec![false; items.len()];
    if let [item] = items {
        results[0] = verify(item.key, item.namespace, item.message, item.signature).is_ok();
        return results;
    }

    let total: usize = items
        .iter()
        .map(|i| 2 + i.namespace.len() + i.message.len())
        .sum();
    let mut framed = Vec::with_capacity(total);
    let mut entries: Vec<(usize, usize, usize)> = Vec::with_capacity(items.len());
    let mut keys = Vec::with_capacity(items.len());
    let mut sigs = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let mut r = [0u8; 32];
        r.copy_from_slice(&item.signature.0[..32]);
        if !is_canonical_point_encoding(&r) || SMALL_ORDER_POINTS.contains(&r) {
            continue;
        }
        let Ok(key) = verifying_key(&item.key.0) else {
            continue;
        };
        let start = framed.len();
        if !frame_into(&mut framed, item.namespace, item.message) {
            continue;
        }
        entries.push((index, start, framed.len()));
        keys.push(key);
        sigs.push(ed25519_dalek::Signature::from_bytes(&item.signature.0));
    }
    if entries.is_empty() {
        return results;
    }

    let messages: Vec<&[u8]> = entries.iter().map(|&(_, s, e)| &framed[s..e]).collect();
    if ed25519_dalek::verify_batch(&messages, &sigs, &keys).is_ok() {
        for &(index, _, _) in &entries {
            results[index] = true;
        }
    } else {
        for (j, &(index, _, _)) in entries.iter().enumerate() {
            results[index] = keys[j].verify_strict(messages[j], &sigs[j]).is_ok();
        }
    }
    results
}

/// The canonical encodings of the eight points of small order. Strict verification rejects
/// them as `R`; the batch equation would not, so they are filtered out before batching.
const SMALL_ORDER_POINTS: [[u8; 32]; 8] = [
    // identity (order 1)
    hex32("0100000000000000000000000000000000000000000000000000000000000000"),
    // order 2
    hex32("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
    // order 4
    hex32("0000000000000000000000000000000000000000000000000000000000000000"),
    hex32("0000000000000000000000000000000000000000000000000000000000000080"),
    // order 8
    hex32("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),
    hex32("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85"),
    hex32("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
    hex32("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa"),
];

/// Appends `len(namespace) as u16 BE ‖ namespace ‖ message`; false if the namespace is too long.
pub(crate) fn frame_into(out: &mut Vec<u8>, namespace: &[u8], message: &[u8]) -> bool {
    let Ok(len) = u16::try_from(namespace.len()) else {
        return false;
    };
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(namespace);
    out.extend_from_slice(message);
    true
}

/// Whether `bytes` is the unique encoding of a point: `y < p`, and no sign bit when `x = 0`.
/// Strict verification compares encodings byte for byte, so anything else can never verify.
fn is_canonical_point_encoding(bytes: &[u8; 32]) -> bool {
    let mut y = *bytes;
    y[31] &= 0x7f;
    let sign = bytes[31] >> 7 == 1;
    // y >= p = 2^255 - 19 exactly when all bits are set except possibly the low 5 of byte 0,
    // and byte 0 is at least 0xed.
    let y_at_least_p = y[0] >= 0xed && y[1..31].iter().all(|&b| b == 0xff) && y[31] == 0x7f;
    // x = 0 exactly when y = ±1; its "negative" encoding is a second spelling of the same point.
    let x_is_zero = y == SMALL_ORDER_POINTS[0] || y == SMALL_ORDER_POINTS[1];
    !(y_at_least_p || (sign && x_is_zero))
}

const fn hex32(s: &str) -> [u8; 32] {
    const fn nibble(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => panic!("bad hex constant"),
        }
    }
    let s = s.as_bytes();
    assert!(s.len() == 64, "bad hex constant length");
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = (nibble(s[2 * i]) << 4) | nibble(s[2 * i + 1]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::OsRng;

    const NS: &[u8] = b"ehrchain/test/v1";

    fn key(n: u8) -> SigningKey {
        SigningKey::from_seed(&SecretBytes::new([n; 32]))
    }

    #[test]
    fn sign_and_verify() {
        let sk = SigningKey::generate(&mut OsRng);
        let sig = sk.sign(NS, b"hello");
        assert_eq!(verify(&sk.public(), NS, b"hello", &sig), Ok(()));
        assert_eq!(
            verify(&sk.public(), NS, b"hellO", &sig),
            Err(CryptoError::BadSignature)
        );
        assert_eq!(
            verify(&key(1).public(), NS, b"hello", &sig),
            Err(CryptoError::BadSignature)
        );
    }

    #[test]
    fn cached_keys_answer_as_uncached_and_the_cache_stays_bounded() {
        // Rejected keys are never cached, so they are rejected every time.
        for _ in 0..2 {
            for p in &SMALL_ORDER_POINTS {
                assert_eq!(PublicKey::from_bytes(p), Err(CryptoError::InvalidPublicKey));
            }
        }
        // A key wrapped as trusted that is in fact weak still fails verification: it is
        // checked (and refused) again, never served from the cache.
        let weak = PublicKey::from_trusted_bytes(&SMALL_ORDER_POINTS[0]);
        let sk = key(9);
        let sig = sk.sign(NS, b"m");
        assert_eq!(
            verify(&weak, NS, b"m", &sig),
            Err(CryptoError::InvalidPublicKey)
        );
        // A valid key verifies on the miss and again on the hit; a wrong message fails on both.
        for _ in 0..2 {
            assert_eq!(
                PublicKey::from_bytes(sk.public().as_bytes()),
                Ok(sk.public())
            );
            assert_eq!(verify(&sk.public(), NS, b"m", &sig), Ok(()));
            assert_eq!(
                verify(&sk.public(), NS, b"n", &sig),
                Err(CryptoError::BadSignature)
            );
        }
        // A flood of fresh keys is held to the bound, and keys used recently stay usable.
        for i in 0..(keycache::CAPACITY + 1000) as u32 {
            let mut seed = [0u8; 32];
            seed[..4].copy_from_slice(&i.to_le_bytes());
            let fresh = SigningKey::from_seed(&SecretBytes::new(seed)).public();
            assert!(PublicKey::from_bytes(fresh.as_bytes()).is_ok());
        }
        assert!(keycache::len() <= keycache::CAPACITY);
        assert_eq!(verify(&sk.public(), NS, b"m", &sig), Ok(()));
    }

    #[test]
    fn namespaces_separate() {
        let sk = key(2);
        let sig = sk.sign(b"ab", b"c");
        assert!(verify(&sk.public(), b"ab", b"c", &sig).is_ok());
        assert!(verify(&sk.public(), b"a", b"bc", &sig).is_err());
        assert!(verify(&sk.public(), b"", b"abc", &sig).is_err());
        assert!(verify(&sk.public(), b"abc", b"", &sig).is_err());
    }

    #[test]
    fn signed_bytes_are_documented_framing() {
        // Plain Ed25519 over len ‖ namespace ‖ message, reproducible by any Ed25519 library.
        let seed = [3u8; 32];
        let sk = SigningKey::from_seed(&SecretBytes::new(seed));
        let raw = ed25519_dalek::SigningKey::from_bytes(&seed);
        let mut framed = vec![0, 2];
        framed.extend_from_slice(b"nsmsg");
        assert_eq!(
            sk.sign(b"ns", b"msg").to_bytes(),
            raw.sign(&framed).to_bytes()
        );
    }

    #[test]
    fn rfc8032_test_vector_1() {
        // RFC 8032 §7.1 TEST 1 checks the seed and public-key handling.
        let seed = hex32("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
        let sk = SigningKey::from_seed(&SecretBytes::new(seed));
        assert_eq!(
            sk.public().to_string(),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
        assert_eq!(sk.seed().expose(), &seed);
    }

    #[test]
    fn seed_round_trip_and_redaction() {
        let sk = SigningKey::generate(&mut OsRng);
        let again = SigningKey::from_seed(&sk.seed());
        assert_eq!(again.public(), sk.public());
        assert_eq!(format!("{sk:?}"), "[REDACTED]");
    }

    #[test]
    fn public_key_parsing() {
        let pk = key(4).public();
        assert_eq!(PublicKey::from_bytes(pk.as_bytes()), Ok(pk));
        assert_eq!(pk.to_string().parse::<PublicKey>(), Ok(pk));
        assert_eq!(format!("{pk:?}"), pk.to_string());
        assert!("zz".parse::<PublicKey>().is_err());
        for weak in &SMALL_ORDER_POINTS {
            assert_eq!(
                PublicKey::from_bytes(weak),
                Err(CryptoError::InvalidPublicKey)
            );
        }
        // y = 2 is not on the curve (no square root for x).
        let mut not_a_point = [0u8; 32];
        not_a_point[0] = 2;
        assert!(VerifyingKey::from_bytes(&not_a_point).is_err());
        assert_eq!(
            PublicKey::from_bytes(&not_a_point),
            Err(CryptoError::InvalidPublicKey)
        );
        // Non-canonical spelling of the order-4 point y = 0: y = p.
        let mut y_is_p = hex32("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");
        assert!(PublicKey::from_bytes(&y_is_p).is_err());
        y_is_p[31] |= 0x80;
        assert!(PublicKey::from_bytes(&y_is_p).is_err());
    }

    #[test]
    fn small_order_table_is_complete_and_correct() {
        // Eight distinct, canonical, small-order encodings are all of them: the torsion
        // subgroup of edwards25519 has exactly eight elements.
        let mut seen = std::collections::BTreeSet::new();
        for p in &SMALL_ORDER_POINTS {
            assert!(is_canonical_point_encoding(p));
            let key = VerifyingKey::from_bytes(p).expect("small-order point decodes");
            assert!(key.is_weak());
            assert_eq!(key.to_edwards().compress().to_bytes(), *p);
            seen.insert(*p);
        }
        assert_eq!(seen.len(), 8);
        // Multiples of an order-8 point stay inside the table.
        let g = VerifyingKey::from_bytes(&SMALL_ORDER_POINTS[4])
            .expect("decodes")
            .to_edwards();
        let mut acc = g;
        for _ in 0..8 {
            assert!(SMALL_ORDER_POINTS.contains(&acc.compress().to_bytes()));
            acc += g;
        }
    }

    #[test]
    fn canonical_encoding_check() {
        let pk = key(5).public();
        assert!(is_canonical_point_encoding(pk.as_bytes()));
        let mut neg_identity = SMALL_ORDER_POINTS[0];
        neg_identity[31] |= 0x80;
        assert!(!is_canonical_point_encoding(&neg_identity));
        let mut p_minus_1 = SMALL_ORDER_POINTS[1];
        p_minus_1[31] |= 0x80;
        assert!(!is_canonical_point_encoding(&p_minus_1));
        let mut below_p = [0xffu8; 32];
        below_p[31] = 0x7f;
        below_p[0] = 0xec;
        assert!(is_canonical_point_encoding(&below_p));
        below_p[0] = 0xed;
        assert!(!is_canonical_point_encoding(&below_p));
    }

    #[test]
    fn signature_encoding() {
        let sig = key(6).sign(NS, b"m");
        assert_eq!(Signature::from_bytes(sig.as_bytes()), sig);
        assert_eq!(Signature::from_slice(&sig.to_bytes()), Ok(sig));
        assert_eq!(
            Signature::from_slice(&[0u8; 63]),
            Err(CryptoError::InvalidSignature)
        );
        assert_eq!(sig.to_string().parse::<Signature>(), Ok(sig));
        assert_eq!(format!("{sig:?}").len(), 128);
    }

    #[test]
    fn identity_r_rejected_by_verify_and_batch() {
        // A key holder can make R = identity with s = k·a; strict verification must refuse it,
        // and so must the batch (which alone would accept it).
        let seed = [7u8; 32];
        let sk = SigningKey::from_seed(&SecretBytes::new(seed));
        let raw = ed25519_dalek::SigningKey::from_bytes(&seed);
        let a = raw.to_scalar();
        let pk = sk.public();
        let mut framed = Vec::new();
        assert!(frame_into(&mut framed, NS, b"evil"));
        let r = SMALL_ORDER_POINTS[0];
        let k = {
            use sha2::Digest;
            let mut h = sha2::Sha512::new();
            h.update(r);
            h.update(pk.as_bytes());
            h.update(&framed);
            let wide: [u8; 64] = h.finalize().into();
            wide
        };
        let k = scalar_from_le_bytes(&k, a);
        let s = k * a;
        let mut bytes = [0u8; 64];
        bytes[..32].copy_from_slice(&r);
        bytes[32..].copy_from_slice(s.as_bytes());
        let evil = Signature::from_bytes(&bytes);
        assert!(verify(&pk, NS, b"evil", &evil).is_err());
        // The raw batch equation does accept it, which is why the filter exists.
        let vk = VerifyingKey::from_bytes(pk.as_bytes()).expect("valid key");
        let raw_sig = ed25519_dalek::Signature::from_bytes(&bytes);
        assert!(ed25519_dalek::verify_batch(&[&framed[..]], &[raw_sig], &[vk]).is_ok());
        let good = sk.sign(NS, b"good");
        let items = [
            SignedItem {
                key: &pk,
                namespace: NS,
                message: b"evil",
                signature: &evil,
            },
            SignedItem {
                key: &pk,
                namespace: NS,
                message: b"good",
                signature: &good,
            },
        ];
        assert_eq!(verify_batch(&items), vec![false, true]);
    }

    /// Reduces little-endian `bytes` mod ℓ in the scalar type of `witness` (curve25519-dalek's
    /// `Scalar`, which this crate does not name as a dependency).
    fn scalar_from_le_bytes<S>(bytes: &[u8], witness: S) -> S
    where
        S: Copy + From<u64> + std::ops::Mul<Output = S> + std::ops::Add<Output = S>,
    {
        let _ = witness;
        let radix = S::from(256);
        bytes
            .iter()
            .rev()
            .fold(S::from(0), |acc, &b| acc * radix + S::from(u64::from(b)))
    }

    #[test]
    fn batch_finds_the_forgery() {
        let keys: Vec<SigningKey> = (0..64).map(|_| SigningKey::generate(&mut OsRng)).collect();
        let publics: Vec<PublicKey> = keys.iter().map(SigningKey::public).collect();
        let messages: Vec<Vec<u8>> = (0..64u32)
            .map(|i| i.to_be_bytes().repeat(i as usize))
            .collect();
        let mut sigs: Vec<Signature> = keys
            .iter()
            .zip(&messages)
            .map(|(k, m)| k.sign(NS, m))
            .collect();
        let items = |sigs: &[Signature]| -> Vec<bool> {
            let items: Vec<SignedItem<'_>> = (0..64)
                .map(|i| SignedItem {
                    key: &publics[i],
                    namespace: NS,
                    message: &messages[i],
                    signature: &sigs[i],
                })
                .collect();
            verify_batch(&items)
        };
        assert_eq!(items(&sigs), vec![true; 64]);

        // A forger without key 17 signs with a different key.
        sigs[17] = SigningKey::generate(&mut OsRng).sign(NS, &messages[17]);
        let mut expected = vec![true; 64];
        expected[17] = false;
        assert_eq!(items(&sigs), expected);

        // A bit flip, and a signature with a non-canonical s.
        sigs[40].0[5] ^= 1;
        sigs[3].0[63] |= 0xf0;
        expected[40] = false;
        expected[3] = false;
        assert_eq!(items(&sigs), expected);
        for i in 0..64 {
            assert_eq!(
                verify(&publics[i], NS, &messages[i], &sigs[i]).is_ok(),
                expected[i]
            );
        }
    }

    #[test]
    fn batch_edge_cases() {
        assert!(verify_batch(&[]).is_empty());
        let sk = key(8);
        let pk = sk.public();
        let sig = sk.sign(NS, b"x");
        let one = [SignedItem {
            key: &pk,
            namespace: NS,
            message: b"x",
            signature: &sig,
        }];
        assert_eq!(verify_batch(&one), vec![true]);
        let wrong_ns = [
            SignedItem {
                key: &pk,
                namespace: b"other",
                message: b"x",
                signature: &sig,
            },
            SignedItem {
                key: &pk,
                namespace: NS,
                message: b"x",
                signature: &sig,
            },
        ];
        assert_eq!(verify_batch(&wrong_ns), vec![false, true]);
    }
}
