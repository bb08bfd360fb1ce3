//! The canonical binary encoding: fixed-width big-endian integers, length-prefixed bytes and
//! strings, one tag byte per enum variant. Every value has exactly one encoding, and the decoder
//! refuses everything else (trailing bytes, unknown tags, non-0/1 booleans, over-long fields), so
//! "decode then re-encode gives the same bytes" holds by construction and is tested.

use thiserror::Error;

/// Upper bounds on everything read from outside (TigerBeetle's rule: put a limit on everything).
pub mod limits {
    /// A whole signed transaction.
    pub const MAX_TX_BYTES: usize = 16 * 1024;
    /// A whole block (header, certificate, transactions).
    pub const MAX_BLOCK_BYTES: usize = 64 * 1024 * 1024;
    /// Transactions in one block.
    pub const MAX_BLOCK_TXS: usize = 100_000;
    /// Short names: organisation and agent names, licence numbers, media types.
    pub const MAX_NAME: usize = 256;
    /// Free text such as a break-glass reason.
    pub const MAX_TEXT: usize = 1024;
    /// Entries in a grant's scope (categories plus record ids).
    pub const MAX_SCOPE: usize = 64;
    /// Validators in a genesis.
    pub const MAX_VALIDATORS: usize = 256;
    /// Record anchors in one batch (a device's vital signs): 64 anchors fit a transaction.
    pub const MAX_BATCH_ANCHORS: usize = 64;
}

/// Why bytes could not be decoded. Every variant names the field that failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("input ended early while reading {0}")]
    Truncated(&'static str),
    #[error("{0} is longer than its limit")]
    TooLong(&'static str),
    #[error("unknown tag {tag} for {field}")]
    UnknownTag { field: &'static str, tag: u8 },
    #[error("{0} is not valid")]
    Invalid(&'static str),
    #[error("{0} trailing bytes after the value")]
    Trailing(usize),
}

/// Appends the canonical encoding of values to a buffer.
#[derive(Default, Debug)]
pub struct Encoder {
    buf: Vec<u8>,
}

impl Encoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_capacity(n: usize) -> Self {
        Self {
            buf: Vec::with_capacity(n),
        }
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn bool(&mut self, v: bool) {
        self.buf.push(u8::from(v));
    }

    pub fn fixed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Length-prefixed (u32) bytes. Callers keep lengths within the decoder's limits.
    pub fn bytes(&mut self, bytes: &[u8]) {
        let len = u32::try_from(bytes.len()).expect("encoded field over 4 GiB is a bug");
        self.u32(len);
        self.buf.extend_from_slice(bytes);
    }

    pub fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }

    pub fn option<T>(&mut self, v: &Option<T>, f: impl FnOnce(&mut Self, &T)) {
        match v {
            None => self.u8(0),
            Some(x) => {
                self.u8(1);
                f(self, x);
            }
        }
    }

    /// A sequence with a u32 count.
    pub fn seq<T>(&mut self, items: &[T], mut f: impl FnMut(&mut Self, &T)) {
        let len = u32::try_from(items.len()).expect("sequence over 4G items is a bug");
        self.u32(len);
        for item in items {
            f(self, item);
        }
    }

    pub fn value<T: Canonical>(&mut self, v: &T) {
        v.encode(self);
    }
}

/// Reads canonical encodings, refusing anything that is not the one encoding of a value.
#[derive(Debug)]
pub struct Decoder<'a> {
    input: &'a [u8],
    trusted: bool,
}

impl<'a> Decoder<'a> {
    pub fn new(input: &'a [u8]) -> Self {
        Self {
            input,
            trusted: false,
        }
    }

    /// A decoder for bytes this node encoded and stored itself (ledger state), whose public keys
    /// were validated when they were first admitted. Everything else is checked as usual.
    pub fn trusted(input: &'a [u8]) -> Self {
        Self {
            input,
            trusted: true,
        }
    }

    pub fn is_trusted(&self) -> bool {
        self.trusted
    }

    pub fn remaining(&self) -> usize {
        self.input.len()
    }

    /// Succeeds only if every byte was consumed.
    pub fn finish(self) -> Result<(), DecodeError> {
        if self.input.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::Trailing(self.input.len()))
        }
    }

    pub fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.input.len() < n {
            return Err(DecodeError::Truncated(field));
        }
        let (head, tail) = self.input.split_at(n);
        self.input = tail;
        Ok(head)
    }

    pub fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    pub fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(field)?[0])
    }

    pub fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }

    pub fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }

    pub fn u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array(field)?))
    }

    pub fn bool(&mut self, field: &'static str) -> Result<bool, DecodeError> {
        match self.u8(field)? {
            0 => Ok(false),
            1 => Ok(true),
            tag => Err(DecodeError::UnknownTag { field, tag }),
        }
    }

    pub fn bytes(&mut self, max: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let len = self.u32(field)? as usize;
        if len > max {
            return Err(DecodeError::TooLong(field));
        }
        self.take(len, field)
    }

    pub fn str(&mut self, max: usize, field: &'static str) -> Result<&'a str, DecodeError> {
        std::str::from_utf8(self.bytes(max, field)?).map_err(|_| DecodeError::Invalid(field))
    }

    pub fn option<T>(
        &mut self,
        field: &'static str,
        f: impl FnOnce(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Option<T>, DecodeError> {
        match self.u8(field)? {
            0 => Ok(None),
            1 => f(self).map(Some),
            tag => Err(DecodeError::UnknownTag { field, tag }),
        }
    }

    pub fn seq<T>(
        &mut self,
        max: usize,
        field: &'static str,
        mut f: impl FnMut(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        let len = self.u32(field)? as usize;
        if len > max {
            return Err(DecodeError::TooLong(field));
        }
        // Each item takes at least one byte: a cheap bound before allocating.
        if len > self.input.len() {
            return Err(DecodeError::Truncated(field));
        }
        let mut out = Vec::with_capacity(len);
        for _ in 0..len {
            out.push(f(self)?);
        }
        Ok(out)
    }

    pub fn value<T: Canonical>(&mut self) -> Result<T, DecodeError> {
        T::decode(self)
    }
}

/// A value with one canonical byte form.
pub trait Canonical: Sized {
    fn encode(&self, enc: &mut Encoder);
    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError>;

    fn to_bytes(&self) -> Vec<u8> {
        let mut enc = Encoder::new();
        self.encode(&mut enc);
        enc.into_bytes()
    }

    /// Decodes a whole buffer; trailing bytes are an error.
    fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut dec = Decoder::new(bytes);
        let v = Self::decode(&mut dec)?;
        dec.finish()?;
        Ok(v)
    }

    /// Decodes a whole buffer of trusted stored bytes (see [`Decoder::trusted`]).
    fn from_trusted_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut dec = Decoder::trusted(bytes);
        let v = Self::decode(&mut dec)?;
        dec.finish()?;
        Ok(v)
    }
}

impl Canonical for u64 {
    fn encode(&self, enc: &mut Encoder) {
        enc.u64(*self);
    }
    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        dec.u64("u64")
    }
}

impl Canonical for ehrchain_crypto::Hash {
    fn encode(&self, enc: &mut Encoder) {
        enc.fixed(self.as_bytes());
    }
    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Ok(ehrchain_crypto::Hash(dec.array("hash")?))
    }
}

impl Canonical for ehrchain_crypto::PublicKey {
    fn encode(&self, enc: &mut Encoder) {
        enc.fixed(self.as_bytes());
    }
    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let bytes = dec.array("public key")?;
        if dec.is_trusted() {
            return Ok(ehrchain_crypto::PublicKey::from_trusted_bytes(&bytes));
        }
        ehrchain_crypto::PublicKey::from_bytes(&bytes)
            .map_err(|_| DecodeError::Invalid("public key"))
    }
}

impl Canonical for ehrchain_crypto::EncryptionKey {
    fn encode(&self, enc: &mut Encoder) {
        enc.fixed(self.as_bytes());
    }
    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Ok(ehrchain_crypto::EncryptionKey::from_bytes(
            &dec.array("encryption key")?,
        ))
    }
}

impl Canonical for ehrchain_crypto::Signature {
    fn encode(&self, enc: &mut Encoder) {
        enc.fixed(self.as_bytes());
    }
    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Ok(ehrchain_crypto::Signature::from_bytes(
            &dec.array("signature")?,
        ))
    }
}

impl Canonical for ehrchain_crypto::Cid {
    fn encode(&self, enc: &mut Encoder) {
        enc.fixed(self.digest().as_bytes());
    }
    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Ok(ehrchain_crypto::Cid::from_digest(ehrchain_crypto::Hash(
            dec.array("cid")?,
        )))
    }
}
