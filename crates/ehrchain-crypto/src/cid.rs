//! Content identifiers: CIDv1, raw codec, sha2-256 multihash — the form IPFS tools print.

use std::fmt;
use std::str::FromStr;

use data_encoding::BASE32_NOPAD;

use crate::error::CryptoError;
use crate::hash::{Hash, Hasher};

/// Binary prefix: CID version 1, raw codec 0x55, multihash sha2-256 (0x12) of length 0x20.
const PREFIX: [u8; 4] = [0x01, 0x55, 0x12, 0x20];
/// Length of the binary CID.
const BYTES_LEN: usize = 36;
/// Base32 characters for 36 bytes (288 bits, rounded up to 5-bit groups).
const BASE32_LEN: usize = 58;
/// Multibase prefix for lowercase base32 without padding.
const MULTIBASE_BASE32: char = 'b';

/// A CIDv1 (raw codec, sha2-256) naming a blob by its content.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cid(Hash);

impl Cid {
    /// The CID of content whose SHA-256 digest is `digest`.
    pub const fn from_digest(digest: Hash) -> Cid {
        Cid(digest)
    }

    /// The SHA-256 digest of the content.
    pub fn digest(&self) -> &Hash {
        &self.0
    }

    /// The CID of `data`.
    pub fn of(data: &[u8]) -> Cid {
        Cid(crate::hash::sha256(data))
    }

    /// Binary CID: `0x01 0x55 0x12 0x20 ‖ digest`.
    pub fn to_bytes(&self) -> [u8; BYTES_LEN] {
        let mut out = [0u8; BYTES_LEN];
        out[..PREFIX.len()].copy_from_slice(&PREFIX);
        out[PREFIX.len()..].copy_from_slice(self.0.as_bytes());
        out
    }

    /// Parses a binary CID; anything other than exactly the form [`Cid::to_bytes`] writes is
    /// rejected, so each content has one identifier.
    pub fn from_bytes(bytes: &[u8]) -> Result<Cid, CryptoError> {
        if bytes.len() != BYTES_LEN {
            return Err(CryptoError::Cid("binary CID must be 36 bytes"));
        }
        let (prefix, digest) = bytes.split_at(PREFIX.len());
        if prefix != PREFIX {
            return Err(CryptoError::Cid(
                "only CIDv1 with raw codec and sha2-256 multihash is supported",
            ));
        }
        let mut d = [0u8; 32];
        d.copy_from_slice(digest);
        Ok(Cid(Hash(d)))
    }
}

impl fmt::Display for Cid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; BASE32_LEN];
        BASE32_NOPAD.encode_mut(&self.to_bytes(), &mut buf);
        buf.make_ascii_lowercase();
        let text = std::str::from_utf8(&buf).map_err(|_| fmt::Error)?;
        write!(f, "{MULTIBASE_BASE32}{text}")
    }
}

impl fmt::Debug for Cid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cid({self})")
    }
}

impl FromStr for Cid {
    type Err = CryptoError;

    /// Accepts only the canonical text that `Display` produces: `b` + lowercase base32.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let body = s.strip_prefix(MULTIBASE_BASE32).ok_or(CryptoError::Cid(
            "expected multibase prefix 'b' (base32 lower)",
        ))?;
        if body.len() != BASE32_LEN {
            return Err(CryptoError::Cid("wrong length for a CIDv1 sha2-256"));
        }
        let mut upper = [0u8; BASE32_LEN];
        for (u, c) in upper.iter_mut().zip(body.bytes()) {
            if !(c.is_ascii_lowercase() || (b'2'..=b'7').contains(&c)) {
                return Err(CryptoError::Cid("not lowercase base32"));
            }
            *u = c.to_ascii_uppercase();
        }
        let mut bytes = [0u8; BYTES_LEN];
        // BASE32_NOPAD checks that unused trailing bits are zero, keeping the text canonical.
        BASE32_NOPAD
            .decode_mut(&upper, &mut bytes)
            .map_err(|_| CryptoError::Cid("invalid base32"))?;
        Cid::from_bytes(&bytes)
    }
}

/// Incremental CID computation for streamed content.
#[derive(Clone, Debug, Default)]
pub struct CidHasher(Hasher);

impl CidHasher {
    /// A hasher that has seen no data yet.
    pub fn new() -> Self {
        Self(Hasher::new())
    }

    /// Feeds more content.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// The CID of everything fed so far.
    pub fn finish(self) -> Cid {
        Cid(self.0.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku";

    #[test]
    fn empty_input_vector() {
        let cid = Cid::of(b"");
        assert_eq!(cid.to_string(), EMPTY);
        assert_eq!(EMPTY.parse::<Cid>(), Ok(cid));
        assert_eq!(
            cid.digest().to_string(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn binary_round_trip() {
        let cid = Cid::of(b"hello world\n");
        let bytes = cid.to_bytes();
        assert_eq!(&bytes[..4], &[0x01, 0x55, 0x12, 0x20]);
        assert_eq!(
            &bytes[4..],
            crate::hash::sha256(b"hello world\n").as_bytes()
        );
        assert_eq!(Cid::from_bytes(&bytes), Ok(cid));
        assert_eq!(Cid::from_digest(*cid.digest()), cid);
    }

    #[test]
    fn text_round_trip() {
        for data in [&b""[..], b"a", b"hello world\n", &[0xffu8; 1000]] {
            let cid = Cid::of(data);
            let text = cid.to_string();
            assert!(text.starts_with("bafkrei"), "{text}");
            assert_eq!(text.parse::<Cid>(), Ok(cid));
        }
    }

    #[test]
    fn from_bytes_is_strict() {
        let good = Cid::of(b"x").to_bytes();
        assert!(Cid::from_bytes(&good[..35]).is_err());
        let mut long = good.to_vec();
        long.push(0);
        assert!(Cid::from_bytes(&long).is_err());
        for i in 0..4 {
            let mut bad = good;
            bad[i] ^= 1;
            assert!(Cid::from_bytes(&bad).is_err());
        }
    }

    #[test]
    fn from_str_is_strict() {
        assert!("".parse::<Cid>().is_err());
        assert!(EMPTY.to_uppercase().parse::<Cid>().is_err());
        assert!(EMPTY[1..].parse::<Cid>().is_err());
        assert!(format!("B{}", &EMPTY[1..]).parse::<Cid>().is_err());
        assert!(format!("{EMPTY}a").parse::<Cid>().is_err());
        assert!(EMPTY[..58].parse::<Cid>().is_err());
        // Padding, non-alphabet characters and multi-byte characters.
        assert!(format!("{}=", &EMPTY[..58]).parse::<Cid>().is_err());
        assert!(format!("{}1", &EMPTY[..58]).parse::<Cid>().is_err());
        assert!(format!("{}é", &EMPTY[..57]).parse::<Cid>().is_err());
        // A CIDv0 string.
        assert!("QmbWqxBEKC3P8tqsKc98xmWNzrzDtRLMiMPL8wBuTGsMnR"
            .parse::<Cid>()
            .is_err());
        // Non-zero trailing bits would give a second spelling of the same CID.
        // 'u' = 0b10100 ends in the 2 unused bits; 'v' = 0b10101 sets one of them.
        assert!(EMPTY.ends_with('u'));
        let alt = format!("{}v", &EMPTY[..58]);
        assert_eq!(alt.parse::<Cid>(), Err(CryptoError::Cid("invalid base32")));
    }

    #[test]
    fn incremental_matches_one_shot() {
        let mut h = CidHasher::new();
        h.update(b"hello ");
        h.update(b"world\n");
        assert_eq!(h.finish(), Cid::of(b"hello world\n"));
    }
}
