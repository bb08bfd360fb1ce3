//! Key files: secrets at rest, encrypted under a passphrase with Argon2id and AES-256-GCM.
//!
//! Format:
//!
//! ```text
//! "EHRK" ‖ version 0x01 ‖ m_cost_kib u32 BE ‖ t_cost u32 BE ‖ p_cost u32 BE
//!        ‖ salt (16) ‖ nonce (12) ‖ AES-256-GCM(plaintext) ‖ tag (16)
//! ```
//!
//! The AES key is Argon2id(passphrase, salt) with the stored parameters; the associated data
//! is everything before the ciphertext, so the parameters cannot be swapped for cheaper ones.

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use rand_core::CryptoRngCore;

use crate::error::CryptoError;
use crate::secret::{SecretBytes, SecretVec};

/// Argon2id cost parameters.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_cost_kib: u32,
    /// Passes over memory.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
}

impl KdfParams {
    /// The cheapest parameters accepted (8 MiB, one pass). Meant for tests and small devices.
    pub const MIN: KdfParams = KdfParams {
        m_cost_kib: 8192,
        t_cost: 1,
        p_cost: 1,
    };

    /// The most expensive parameters accepted (4 GiB, 16 passes, 8 lanes). A bound on what a
    /// key file read from outside can make this process spend.
    pub const MAX: KdfParams = KdfParams {
        m_cost_kib: 4 * 1024 * 1024,
        t_cost: 16,
        p_cost: 8,
    };

    /// Whether every parameter lies within [`KdfParams::MIN`]..=[`KdfParams::MAX`].
    pub fn check(&self) -> Result<(), CryptoError> {
        if self.m_cost_kib < Self::MIN.m_cost_kib {
            return Err(CryptoError::KdfParams("memory cost below 8 MiB"));
        }
        if self.m_cost_kib > Self::MAX.m_cost_kib {
            return Err(CryptoError::KdfParams("memory cost above 4 GiB"));
        }
        if !(Self::MIN.t_cost..=Self::MAX.t_cost).contains(&self.t_cost) {
            return Err(CryptoError::KdfParams("time cost outside 1..=16"));
        }
        if !(Self::MIN.p_cost..=Self::MAX.p_cost).contains(&self.p_cost) {
            return Err(CryptoError::KdfParams("parallelism outside 1..=8"));
        }
        Ok(())
    }
}

impl Default for KdfParams {
    /// OWASP's recommendation for Argon2id: 19 MiB, two passes, one lane.
    fn default() -> Self {
        KdfParams {
            m_cost_kib: 19456,
            t_cost: 2,
            p_cost: 1,
        }
    }
}

/// Encrypts `plaintext` under `passphrase`.
pub fn seal(
    passphrase: &[u8],
    plaintext: &[u8],
    params: KdfParams,
    rng: &mut impl CryptoRngCore,
) -> Result<Vec<u8>, CryptoError> {
    params.check()?;
    let mut salt = [0u8; SALT_LEN];
    rng.fill_bytes(&mut salt);
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);

    // Exact capacity: the plaintext copied in must not be left behind by a reallocation.
    let mut file = Vec::with_capacity(HEADER_LEN + plaintext.len() + TAG_LEN);
    file.extend_from_slice(MAGIC);
    file.push(VERSION);
    file.extend_from_slice(&params.m_cost_kib.to_be_bytes());
    file.extend_from_slice(&params.t_cost.to_be_bytes());
    file.extend_from_slice(&params.p_cost.to_be_bytes());
    file.extend_from_slice(&salt);
    file.extend_from_slice(&nonce);
    file.extend_from_slice(plaintext);

    let key = derive_key(passphrase, &salt, params)?;
    let cipher = Aes256Gcm::new(key.expose().into());
    let (header, body) = file.split_at_mut(HEADER_LEN);
    let tag = cipher
        .encrypt_in_place_detached(Nonce::from_slice(&nonce), header, body)
        .map_err(|_| CryptoError::Malformed("plaintext too long"))?;
    file.extend_from_slice(&tag);
    Ok(file)
}

/// Decrypts a key file. A wrong passphrase (or a modified file) gives
/// [`CryptoError::WrongPassphrase`]; files that are not key files, or whose parameters lie
/// outside the accepted bounds, are refused before any expensive work.
pub fn open(passphrase: &[u8], file: &[u8]) -> Result<SecretVec, CryptoError> {
    if file.len() < HEADER_LEN + TAG_LEN {
        return Err(CryptoError::Malformed("key file too short"));
    }
    let (header, rest) = file.split_at(HEADER_LEN);
    if &header[..4] != MAGIC {
        return Err(CryptoError::Malformed("not an ehrchain key file"));
    }
    if header[4] != VERSION {
        return Err(CryptoError::Malformed("unsupported key file version"));
    }
    let params = KdfParams {
        m_cost_kib: be_u32(&header[5..9]),
        t_cost: be_u32(&header[9..13]),
        p_cost: be_u32(&header[13..17]),
    };
    params.check()?;
    let salt = &header[17..17 + SALT_LEN];
    let nonce = &header[17 + SALT_LEN..];
    let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);

    let key = derive_key(passphrase, salt, params)?;
    let cipher = Aes256Gcm::new(key.expose().into());
    let mut plaintext = SecretVec::new(ciphertext.to_vec());
    cipher
        .decrypt_in_place_detached(
            Nonce::from_slice(nonce),
            header,
            plaintext.expose_mut(),
            Tag::from_slice(tag),
        )
        .map_err(|_| CryptoError::WrongPassphrase)?;
    Ok(plaintext)
}

const MAGIC: &[u8; 4] = b"EHRK";
const VERSION: u8 = 1;
const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 4 + 1 + 3 * 4 + SALT_LEN + NONCE_LEN;

fn derive_key(
    passphrase: &[u8],
    salt: &[u8],
    params: KdfParams,
) -> Result<SecretBytes<32>, CryptoError> {
    let argon_params =
        argon2::Params::new(params.m_cost_kib, params.t_cost, params.p_cost, Some(32))
            .map_err(|_| CryptoError::KdfParams("rejected by Argon2"))?;
    let argon = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon_params,
    );
    let mut key = SecretBytes::new([0u8; 32]);
    argon
        .hash_password_into(passphrase, salt, key.expose_mut())
        .map_err(|_| CryptoError::KdfParams("rejected by Argon2"))?;
    Ok(key)
}

fn be_u32(bytes: &[u8]) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(bytes);
    u32::from_be_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::OsRng;

    const FAST: KdfParams = KdfParams::MIN;

    #[test]
    fn round_trip() {
        let file = seal(b"correct horse", b"secret key bytes", FAST, &mut OsRng).expect("seals");
        assert_eq!(file.len(), HEADER_LEN + 16 + TAG_LEN);
        assert_eq!(&file[..5], b"EHRK\x01");
        let opened = open(b"correct horse", &file).expect("opens");
        assert_eq!(opened.expose(), b"secret key bytes");
        let empty = seal(b"", b"", FAST, &mut OsRng).expect("seals");
        assert!(open(b"", &empty).expect("opens").is_empty());
    }

    #[test]
    fn default_params_work() {
        assert_eq!(
            KdfParams::default(),
            KdfParams {
                m_cost_kib: 19456,
                t_cost: 2,
                p_cost: 1
            }
        );
        let file = seal(b"pw", b"x", KdfParams::default(), &mut OsRng).expect("seals");
        assert_eq!(open(b"pw", &file).expect("opens").expose(), b"x");
    }

    #[test]
    fn wrong_passphrase() {
        let file = seal(b"right", b"data", FAST, &mut OsRng).expect("seals");
        assert_eq!(
            open(b"wrong", &file).err(),
            Some(CryptoError::WrongPassphrase)
        );
        assert_eq!(open(b"", &file).err(), Some(CryptoError::WrongPassphrase));
    }

    #[test]
    fn tampering_detected() {
        let file = seal(b"pw", b"data", FAST, &mut OsRng).expect("seals");
        // Salt, nonce, ciphertext and tag: authenticated.
        for i in [17, 17 + SALT_LEN, HEADER_LEN, file.len() - 1] {
            let mut bad = file.clone();
            bad[i] ^= 1;
            assert_eq!(
                open(b"pw", &bad).err(),
                Some(CryptoError::WrongPassphrase),
                "byte {i}"
            );
        }
        // Raising t_cost to 2 keeps the file well-formed but changes key and associated data.
        let mut bad = file.clone();
        bad[12] = 2;
        assert_eq!(open(b"pw", &bad).err(), Some(CryptoError::WrongPassphrase));
    }

    #[test]
    fn malformed_refused() {
        let file = seal(b"pw", b"data", FAST, &mut OsRng).expect("seals");
        assert!(matches!(
            open(b"pw", &file[..HEADER_LEN + TAG_LEN - 1]),
            Err(CryptoError::Malformed(_))
        ));
        assert!(matches!(open(b"pw", b""), Err(CryptoError::Malformed(_))));
        let mut bad = file.clone();
        bad[0] = b'X';
        assert!(matches!(open(b"pw", &bad), Err(CryptoError::Malformed(_))));
        let mut bad = file.clone();
        bad[4] = 2;
        assert!(matches!(open(b"pw", &bad), Err(CryptoError::Malformed(_))));
    }

    #[test]
    fn params_bounded_on_open_and_seal() {
        let file = seal(b"pw", b"data", FAST, &mut OsRng).expect("seals");
        let with = |m: u32, t: u32, p: u32| {
            let mut f = file.clone();
            f[5..9].copy_from_slice(&m.to_be_bytes());
            f[9..13].copy_from_slice(&t.to_be_bytes());
            f[13..17].copy_from_slice(&p.to_be_bytes());
            open(b"pw", &f)
        };
        for (m, t, p) in [
            (8191, 1, 1),
            (4 * 1024 * 1024 + 1, 1, 1),
            (u32::MAX, 1, 1),
            (8192, 0, 1),
            (8192, 17, 1),
            (8192, u32::MAX, 1),
            (8192, 1, 0),
            (8192, 1, 9),
        ] {
            assert!(
                matches!(with(m, t, p), Err(CryptoError::KdfParams(_))),
                "{m} {t} {p}"
            );
            let params = KdfParams {
                m_cost_kib: m,
                t_cost: t,
                p_cost: p,
            };
            assert!(matches!(
                seal(b"pw", b"", params, &mut OsRng),
                Err(CryptoError::KdfParams(_))
            ));
        }
        assert!(KdfParams::MAX.check().is_ok());
        assert!(KdfParams::MIN.check().is_ok());
        assert!(KdfParams::default().check().is_ok());
    }

    #[test]
    fn opens_independently_built_file() {
        // Built with Python `cryptography` from the documented format alone.
        let file = crate::hash::tests_support::unhex(concat!(
            "4548524b01000020000000000100000001000102030405060708090a0b0c0d0e0f6465666768",
            "696a6b6c6d6e6fd1e1fde6b673b0e93e0e88508f1111dba6a91126759d655948a8091f5fd81b",
            "c14d437ae8fcbb9093a3eb8acd7a3bad8005dd672caa",
        ));
        let opened = open(b"interop passphrase", &file).expect("opens");
        assert_eq!(opened.expose(), b"sixty-four secret bytes would go here");
    }

    #[test]
    fn argon2id_known_answer() {
        // Computed independently with Python `cryptography` (OpenSSL's Argon2id).
        let key = derive_key(b"password", b"somesaltsomesalt", FAST).expect("derives");
        assert_eq!(
            key.expose(),
            &crate::hash::decode_hex::<32>(
                "84fb006bbc3cd69895722b64b5bf735251a9e8e9f3ecb93ff595b98aeb7accb7"
            )
            .expect("hex")
        );
    }
}
