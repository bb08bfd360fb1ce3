//! An actor's identity: one Ed25519 key pair for signing and one X25519 key pair for receiving
//! key envelopes, kept and sealed together.

use std::fmt;

use rand_core::CryptoRngCore;

use crate::envelope::{DecryptionKey, EncryptionKey};
use crate::error::CryptoError;
use crate::keyfile::{self, KdfParams};
use crate::secret::SecretBytes;
use crate::sign::{PublicKey, SigningKey};

/// Both secret keys of an actor. `Debug` prints `[REDACTED]`; both keys zeroize on drop.
#[derive(Clone)]
pub struct Identity {
    signing: SigningKey,
    decryption: DecryptionKey,
}

/// The public halves of an [`Identity`], as published on the ledger.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct PublicIdentity {
    pub sign: PublicKey,
    pub encrypt: EncryptionKey,
}

impl Identity {
    /// Fresh random keys.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        Self {
            signing: SigningKey::generate(rng),
            decryption: DecryptionKey::generate(rng),
        }
    }

    /// The signing key.
    pub fn signing(&self) -> &SigningKey {
        &self.signing
    }

    /// The envelope decryption key.
    pub fn decryption(&self) -> &DecryptionKey {
        &self.decryption
    }

    /// Both public keys.
    pub fn public(&self) -> PublicIdentity {
        PublicIdentity {
            sign: self.signing.public(),
            encrypt: self.decryption.public(),
        }
    }

    /// `Ed25519 seed ‖ X25519 secret`, the form sealed into key files.
    pub fn to_secret_bytes(&self) -> SecretBytes<64> {
        let mut out = SecretBytes::new([0u8; 64]);
        let bytes = out.expose_mut();
        bytes[..32].copy_from_slice(self.signing.seed().expose());
        bytes[32..].copy_from_slice(self.decryption.to_bytes().expose());
        out
    }

    /// The inverse of [`Identity::to_secret_bytes`]. Every 64-byte value is a valid identity
    /// today; the `Result` leaves room for future checks.
    pub fn from_secret_bytes(bytes: &SecretBytes<64>) -> Result<Self, CryptoError> {
        let mut seed = SecretBytes::new([0u8; 32]);
        seed.expose_mut().copy_from_slice(&bytes.expose()[..32]);
        let mut x25519 = SecretBytes::new([0u8; 32]);
        x25519.expose_mut().copy_from_slice(&bytes.expose()[32..]);
        Ok(Self {
            signing: SigningKey::from_seed(&seed),
            decryption: DecryptionKey::from_bytes(&x25519),
        })
    }

    /// Seals both keys into a key file under `passphrase` (see [`crate::keyfile`]).
    pub fn seal(
        &self,
        passphrase: &[u8],
        params: KdfParams,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Vec<u8>, CryptoError> {
        keyfile::seal(passphrase, self.to_secret_bytes().expose(), params, rng)
    }

    /// Opens a key file written by [`Identity::seal`].
    pub fn open(passphrase: &[u8], bytes: &[u8]) -> Result<Identity, CryptoError> {
        let plaintext = keyfile::open(passphrase, bytes)?;
        let mut secret = SecretBytes::new([0u8; 64]);
        if plaintext.len() != secret.expose().len() {
            return Err(CryptoError::Malformed(
                "identity key file must hold 64 bytes",
            ));
        }
        secret.expose_mut().copy_from_slice(plaintext.expose());
        Self::from_secret_bytes(&secret)
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::verify;
    use crate::stream::DataKey;
    use rand_core::OsRng;

    #[test]
    fn secret_bytes_round_trip() {
        let id = Identity::generate(&mut OsRng);
        let again = Identity::from_secret_bytes(&id.to_secret_bytes()).expect("valid");
        assert_eq!(again.public(), id.public());
        assert_eq!(
            &id.to_secret_bytes().expose()[..32],
            id.signing().seed().expose()
        );
        assert_eq!(
            &id.to_secret_bytes().expose()[32..],
            id.decryption().to_bytes().expose()
        );
    }

    #[test]
    fn sealed_round_trip_keeps_both_keys_working() {
        let id = Identity::generate(&mut OsRng);
        let file = id.seal(b"pw", KdfParams::MIN, &mut OsRng).expect("seals");
        let opened = Identity::open(b"pw", &file).expect("opens");
        assert_eq!(opened.public(), id.public());

        let sig = opened.signing().sign(b"ns", b"m");
        assert!(verify(&id.public().sign, b"ns", b"m", &sig).is_ok());
        let key = DataKey::generate(&mut OsRng);
        let env =
            crate::envelope::seal(&mut OsRng, &id.public().encrypt, b"r", &key).expect("seals");
        let got = crate::envelope::open(opened.decryption(), b"r", &env).expect("opens");
        assert_eq!(got.expose(), key.expose());

        assert_eq!(
            Identity::open(b"wrong", &file).err(),
            Some(CryptoError::WrongPassphrase)
        );
    }

    #[test]
    fn key_file_of_wrong_size_refused() {
        let file = keyfile::seal(b"pw", &[1u8; 32], KdfParams::MIN, &mut OsRng).expect("seals");
        assert!(matches!(
            Identity::open(b"pw", &file),
            Err(CryptoError::Malformed(_))
        ));
    }

    #[test]
    fn debug_is_redacted() {
        let id = Identity::generate(&mut OsRng);
        assert_eq!(format!("{id:?}"), "[REDACTED]");
        let shown = format!("{:?}", id.public());
        assert!(shown.contains(&id.public().sign.to_string()));
    }
}
