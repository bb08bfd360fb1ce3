//! SHA-256 digests: the content-address primitive behind CIDs, ledger links and blind indexes.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use crate::error::CryptoError;

/// A SHA-256 digest.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The all-zero digest, used as a "no predecessor" marker.
    pub const ZERO: Hash = Hash([0u8; 32]);

    /// The raw digest bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// SHA-256 of `data` in one call.
pub fn sha256(data: &[u8]) -> Hash {
    Hash(Sha256::digest(data).into())
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl FromStr for Hash {
    type Err = CryptoError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        decode_hex::<32>(s).map(Hash)
    }
}

impl AsRef<[u8]> for Hash {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Incremental SHA-256, for data that arrives in pieces.
#[derive(Clone, Default)]
pub struct Hasher(Sha256);

impl Hasher {
    /// A hasher that has seen no data yet.
    pub fn new() -> Self {
        Self(Sha256::new())
    }

    /// Feeds more data.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// The digest of everything fed so far.
    pub fn finish(self) -> Hash {
        Hash(self.0.finalize().into())
    }
}

impl fmt::Debug for Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Hasher")
    }
}

/// Lowercase hex of `bytes` without allocating.
pub(crate) fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut buf = [0u8; 128];
    for chunk in bytes.chunks(buf.len() / 2) {
        for (i, b) in chunk.iter().enumerate() {
            buf[2 * i] = DIGITS[usize::from(b >> 4)];
            buf[2 * i + 1] = DIGITS[usize::from(b & 0x0f)];
        }
        let text = std::str::from_utf8(&buf[..2 * chunk.len()]).map_err(|_| fmt::Error)?;
        f.write_str(text)?;
    }
    Ok(())
}

/// Decodes exactly `N` bytes of hex; accepts either case so pasted keys work.
pub(crate) fn decode_hex<const N: usize>(s: &str) -> Result<[u8; N], CryptoError> {
    let s = s.as_bytes();
    if s.len() != 2 * N {
        return Err(CryptoError::Hex("wrong length"));
    }
    let mut out = [0u8; N];
    for (o, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
        *o = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Ok(out)
}

fn nibble(c: u8) -> Result<u8, CryptoError> {
    match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => Err(CryptoError::Hex("not a hex digit")),
    }
}

#[cfg(test)]
pub(crate) mod tests_support {
    /// Decodes hex test vectors of any length.
    pub(crate) fn unhex(s: &str) -> Vec<u8> {
        data_encoding::HEXLOWER
            .decode(s.as_bytes())
            .expect("valid hex test vector")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        assert_eq!(
            sha256(b"").to_string(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256(b"abc").to_string(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn incremental_matches_one_shot() {
        let mut h = Hasher::default();
        h.update(b"hello ");
        h.update(b"");
        h.update(b"world");
        assert_eq!(h.finish(), sha256(b"hello world"));
    }

    #[test]
    fn hex_round_trip() {
        let h = sha256(b"x");
        let text = h.to_string();
        assert_eq!(format!("{h:?}"), text);
        assert_eq!(text.parse::<Hash>(), Ok(h));
        assert_eq!(text.to_uppercase().parse::<Hash>(), Ok(h));
        assert_eq!(Hash::ZERO.to_string(), "0".repeat(64));
    }

    #[test]
    fn hex_rejects_bad_input() {
        assert!("".parse::<Hash>().is_err());
        assert!("00".parse::<Hash>().is_err());
        assert!("0".repeat(65).parse::<Hash>().is_err());
        assert!(format!("{}g", "0".repeat(63)).parse::<Hash>().is_err());
        // A multi-byte character must not panic by splitting a char boundary.
        assert!(format!("{}é", "0".repeat(62)).parse::<Hash>().is_err());
    }
}
