//! Record encryption: AES-256-GCM in the STREAM construction, so records of any size are
//! encrypted and decrypted in constant memory, and truncation, reordering and appending are
//! all detected.
//!
//! Format:
//!
//! ```text
//! header  = "EHRS" ‖ version 0x01 ‖ 7-byte random nonce prefix            (HEADER_LEN = 12)
//! segment = AES-256-GCM(key, nonce, aad = header, 64 KiB of plaintext) ‖ 16-byte tag
//! nonce   = nonce prefix ‖ u32 BE segment counter ‖ last-segment flag (0x00 or 0x01)
//! ```
//!
//! (the STREAM-BE32 nonce layout of the `aead` crate). Every segment holds exactly
//! [`SEGMENT_LEN`] plaintext bytes except the last, which holds 0 to [`SEGMENT_LEN`] bytes and
//! is sealed with the flag set; an empty record is a header plus one empty last segment.
//! Authenticating the header in every segment ties the segments to this header's nonce prefix
//! and version.

use std::fmt;
use std::io::{self, Read, Write};

use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::stream::{NewStream, StreamBE32, StreamPrimitive};
use aes_gcm::aead::{Buffer, KeyInit};
use aes_gcm::Aes256Gcm;
use rand_core::CryptoRngCore;
use zeroize::{Zeroize, Zeroizing};

use crate::error::StreamError;
use crate::secret::SecretBytes;

/// Plaintext bytes per segment.
pub const SEGMENT_LEN: usize = 65536;
/// Bytes of stream header before the first segment.
pub const HEADER_LEN: usize = 12;
/// Authentication tag bytes added to every segment.
pub const TAG_LEN: usize = 16;

/// The key a record is encrypted under; shared with readers through [`crate::envelope`].
/// Zeroized on drop; `Debug` prints `[REDACTED]`.
#[derive(Clone)]
pub struct DataKey(SecretBytes<32>);

impl DataKey {
    /// A fresh random key; use a new one for every record.
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

    pub(crate) fn expose_mut(&mut self) -> &mut [u8; 32] {
        self.0.expose_mut()
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// The exact ciphertext length (header included) for a plaintext of `plaintext_len` bytes.
/// Saturates at `u64::MAX` for absurd inputs.
pub fn ciphertext_len(plaintext_len: u64) -> u64 {
    let segments = plaintext_len.div_ceil(SEGMENT_LEN as u64).max(1);
    (HEADER_LEN as u64)
        .saturating_add(plaintext_len)
        .saturating_add(segments.saturating_mul(TAG_LEN as u64))
}

/// Incremental record encryption, for callers that move bytes themselves (e.g. async I/O).
///
/// Write [`Encryptor::header`] first, then everything `update` and `finish` append.
pub struct Encryptor {
    stream: Stream,
    header: [u8; HEADER_LEN],
    position: u32,
    /// Plaintext of the segment being filled. It is sealed only once more input shows it is
    /// not the last, because the last segment is sealed differently.
    pending: Zeroizing<Vec<u8>>,
}

impl Encryptor {
    /// Starts a stream under `key` with a fresh random nonce prefix.
    pub fn new(key: &DataKey, rng: &mut impl CryptoRngCore) -> Encryptor {
        let mut prefix = [0u8; NONCE_PREFIX_LEN];
        rng.fill_bytes(&mut prefix);
        let mut header = [0u8; HEADER_LEN];
        header[..4].copy_from_slice(MAGIC);
        header[4] = VERSION;
        header[5..].copy_from_slice(&prefix);
        Encryptor {
            stream: new_stream(key, prefix),
            header,
            position: 0,
            pending: Zeroizing::new(Vec::with_capacity(SEGMENT_LEN)),
        }
    }

    /// The stream header, to be written before any segment.
    pub fn header(&self) -> [u8; HEADER_LEN] {
        self.header
    }

    /// Encrypts more plaintext, appending every segment that is complete to `out`.
    pub fn update(&mut self, mut plaintext: &[u8], out: &mut Vec<u8>) -> Result<(), StreamError> {
        while !plaintext.is_empty() {
            if self.pending.len() == SEGMENT_LEN {
                seal_next(
                    &self.stream,
                    &self.header,
                    &mut self.position,
                    &self.pending,
                    out,
                )?;
                self.pending.clear();
            }
            if self.pending.is_empty() {
                // Seal whole segments straight from the input, sparing a copy, but keep the
                // last one back: it may be the final segment.
                while plaintext.len() > SEGMENT_LEN {
                    let (segment, rest) = plaintext.split_at(SEGMENT_LEN);
                    seal_next(&self.stream, &self.header, &mut self.position, segment, out)?;
                    plaintext = rest;
                }
            }
            let take = (SEGMENT_LEN - self.pending.len()).min(plaintext.len());
            let (head, rest) = plaintext.split_at(take);
            self.pending.extend_from_slice(head);
            plaintext = rest;
        }
        Ok(())
    }

    /// Seals the final segment (possibly empty) and appends it to `out`.
    pub fn finish(self, out: &mut Vec<u8>) -> Result<(), StreamError> {
        seal_at(
            &self.stream,
            &self.header,
            self.position,
            true,
            &self.pending,
            out,
        )
    }
}

impl fmt::Debug for Encryptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Encryptor")
            .field("position", &self.position)
            .finish_non_exhaustive()
    }
}

/// Incremental record decryption. Plaintext is appended to `out` only after its segment's tag
/// has verified, but the stream as a whole is only known to be complete when
/// [`Decryptor::finish`] succeeds: discard everything on any error.
pub struct Decryptor {
    stream: Stream,
    header: [u8; HEADER_LEN],
    position: u32,
    /// Ciphertext not yet decrypted. A full sealed segment is kept back until more input
    /// arrives, because only the end of the input tells which segment is the last.
    pending: Vec<u8>,
    failed: bool,
}

impl Decryptor {
    /// Starts decrypting a stream whose first [`HEADER_LEN`] bytes are `header`.
    pub fn new(key: &DataKey, header: &[u8; HEADER_LEN]) -> Result<Self, StreamError> {
        if &header[..4] != MAGIC || header[4] != VERSION {
            return Err(StreamError::BadHeader);
        }
        let mut prefix = [0u8; NONCE_PREFIX_LEN];
        prefix.copy_from_slice(&header[5..]);
        Ok(Decryptor {
            stream: new_stream(key, prefix),
            header: *header,
            position: 0,
            pending: Vec::with_capacity(SEALED_SEGMENT_LEN),
            failed: false,
        })
    }

    /// Decrypts more ciphertext (the bytes after the header), appending the plaintext of every
    /// segment that verified to `out`.
    pub fn update(&mut self, ciphertext: &[u8], out: &mut Vec<u8>) -> Result<(), StreamError> {
        if self.failed {
            return Err(StreamError::Tampered);
        }
        let result = self.feed(ciphertext, out);
        self.failed = result.is_err();
        result
    }

    /// Decrypts the final segment; fails if the stream was cut short or modified.
    pub fn finish(self, out: &mut Vec<u8>) -> Result<(), StreamError> {
        if self.failed {
            return Err(StreamError::Tampered);
        }
        if self.pending.len() < TAG_LEN {
            return Err(StreamError::Truncated);
        }
        let last = open_at(
            &self.stream,
            &self.header,
            self.position,
            true,
            &self.pending,
            out,
        );
        if last.is_err() && self.pending.len() == SEALED_SEGMENT_LEN {
            // A full segment that opens as a middle segment means the stream was cut at a
            // segment boundary; report that rather than generic tampering.
            let mut scratch = Zeroizing::new(Vec::with_capacity(SEALED_SEGMENT_LEN));
            let middle = open_at(
                &self.stream,
                &self.header,
                self.position,
                false,
                &self.pending,
                &mut scratch,
            );
            if middle.is_ok() {
                return Err(StreamError::Truncated);
            }
        }
        last
    }

    fn feed(&mut self, mut ciphertext: &[u8], out: &mut Vec<u8>) -> Result<(), StreamError> {
        while !ciphertext.is_empty() {
            if self.pending.len() == SEALED_SEGMENT_LEN {
                open_next(
                    &self.stream,
                    &self.header,
                    &mut self.position,
                    &self.pending,
                    out,
                )?;
                self.pending.clear();
            }
            if self.pending.is_empty() {
                while ciphertext.len() > SEALED_SEGMENT_LEN {
                    let (segment, rest) = ciphertext.split_at(SEALED_SEGMENT_LEN);
                    open_next(&self.stream, &self.header, &mut self.position, segment, out)?;
                    ciphertext = rest;
                }
            }
            let take = (SEALED_SEGMENT_LEN - self.pending.len()).min(ciphertext.len());
            let (head, rest) = ciphertext.split_at(take);
            self.pending.extend_from_slice(head);
            ciphertext = rest;
        }
        Ok(())
    }
}

impl fmt::Debug for Decryptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decryptor")
            .field("position", &self.position)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

/// Encrypts everything `reader` yields into `writer` (header first) in constant memory.
/// Returns the number of ciphertext bytes written.
pub fn encrypt(
    key: &DataKey,
    rng: &mut impl CryptoRngCore,
    mut reader: impl Read,
    mut writer: impl Write,
) -> Result<u64, StreamError> {
    let mut encryptor = Encryptor::new(key, rng);
    writer.write_all(&encryptor.header())?;
    let mut written = HEADER_LEN as u64;
    let mut input = Zeroizing::new(vec![0u8; READ_LEN]);
    // Reserved up front so the vector never reallocates and leaves plaintext behind.
    let mut out = Zeroizing::new(Vec::with_capacity(OUT_CAPACITY));
    loop {
        let n = read_some(&mut reader, &mut input)?;
        if n == 0 {
            break;
        }
        encryptor.update(&input[..n], &mut out)?;
        written += drain(&mut writer, &mut out)?;
    }
    encryptor.finish(&mut out)?;
    written += drain(&mut writer, &mut out)?;
    writer.flush()?;
    Ok(written)
}

/// Decrypts a stream from `reader` into `writer` in constant memory. Returns the number of
/// plaintext bytes written.
///
/// Verified plaintext is written as it is decrypted, so on error `writer` may already hold a
/// prefix of the record: discard the output whenever this returns an error.
pub fn decrypt(
    key: &DataKey,
    mut reader: impl Read,
    mut writer: impl Write,
) -> Result<u64, StreamError> {
    let mut header = [0u8; HEADER_LEN];
    reader.read_exact(&mut header).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => StreamError::BadHeader,
        _ => StreamError::Io(e),
    })?;
    let mut decryptor = Decryptor::new(key, &header)?;
    let mut input = vec![0u8; READ_LEN];
    let mut out = Zeroizing::new(Vec::with_capacity(OUT_CAPACITY));
    let mut written = 0u64;
    loop {
        let n = read_some(&mut reader, &mut input)?;
        if n == 0 {
            break;
        }
        decryptor.update(&input[..n], &mut out)?;
        written += drain(&mut writer, &mut out)?;
    }
    decryptor.finish(&mut out)?;
    written += drain(&mut writer, &mut out)?;
    writer.flush()?;
    Ok(written)
}

const MAGIC: &[u8; 4] = b"EHRS";
const VERSION: u8 = 1;
const NONCE_PREFIX_LEN: usize = 7;
const SEALED_SEGMENT_LEN: usize = SEGMENT_LEN + TAG_LEN;
/// Large reads let most segments take the copy-free path in `update`.
const READ_LEN: usize = 4 * SEGMENT_LEN;
/// The most one `update` of `READ_LEN` bytes can append, plus room for in-place work.
const OUT_CAPACITY: usize = READ_LEN + 2 * SEALED_SEGMENT_LEN;

type Stream = StreamBE32<Aes256Gcm>;

fn new_stream(key: &DataKey, prefix: [u8; NONCE_PREFIX_LEN]) -> Stream {
    let aead = Aes256Gcm::new(key.expose().into());
    Stream::from_aead(aead, &GenericArray::from(prefix))
}

fn seal_next(
    stream: &Stream,
    header: &[u8; HEADER_LEN],
    position: &mut u32,
    plaintext: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), StreamError> {
    // u32::MAX stays reserved so that a last segment can always follow.
    if *position == u32::MAX {
        return Err(StreamError::TooLong);
    }
    seal_at(stream, header, *position, false, plaintext, out)?;
    *position += 1;
    Ok(())
}

/// Appends the sealed segment to `out`, encrypting in place there.
fn seal_at(
    stream: &Stream,
    header: &[u8; HEADER_LEN],
    position: u32,
    last: bool,
    plaintext: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), StreamError> {
    let start = out.len();
    out.reserve(plaintext.len() + TAG_LEN);
    out.extend_from_slice(plaintext);
    let mut tail = Tail { vec: out, start };
    if stream
        .encrypt_in_place(position, last, header, &mut tail)
        .is_err()
    {
        out[start..].zeroize();
        out.truncate(start);
        return Err(StreamError::Encrypt);
    }
    Ok(())
}

fn open_next(
    stream: &Stream,
    header: &[u8; HEADER_LEN],
    position: &mut u32,
    sealed: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), StreamError> {
    if *position == u32::MAX {
        return Err(StreamError::TooLong);
    }
    open_at(stream, header, *position, false, sealed, out)?;
    *position += 1;
    Ok(())
}

/// Appends the segment's plaintext to `out`, decrypting in place there. AES-GCM checks the tag
/// before decrypting, and on failure the appended bytes are removed again, so `out` never holds
/// unauthenticated plaintext.
fn open_at(
    stream: &Stream,
    header: &[u8; HEADER_LEN],
    position: u32,
    last: bool,
    sealed: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), StreamError> {
    let start = out.len();
    out.reserve(sealed.len());
    out.extend_from_slice(sealed);
    let mut tail = Tail { vec: out, start };
    if stream
        .decrypt_in_place(position, last, header, &mut tail)
        .is_err()
    {
        out.truncate(start);
        return Err(StreamError::Tampered);
    }
    Ok(())
}

/// The end of a vector, from `start`, seen as an AEAD buffer, so segments are encrypted and
/// decrypted where they will be delivered instead of in a scratch buffer.
struct Tail<'a> {
    vec: &'a mut Vec<u8>,
    start: usize,
}

impl AsRef<[u8]> for Tail<'_> {
    fn as_ref(&self) -> &[u8] {
        &self.vec[self.start..]
    }
}

impl AsMut<[u8]> for Tail<'_> {
    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.vec[self.start..]
    }
}

impl Buffer for Tail<'_> {
    fn extend_from_slice(&mut self, other: &[u8]) -> aes_gcm::aead::Result<()> {
        self.vec.extend_from_slice(other);
        Ok(())
    }

    fn truncate(&mut self, len: usize) {
        self.vec.truncate(self.start + len);
    }
}

/// One `read`, retried on interruption.
fn read_some(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match reader.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Writes out all of `out` and empties it (keeping its capacity); returns the byte count.
fn drain(writer: &mut impl Write, out: &mut Vec<u8>) -> io::Result<u64> {
    if out.is_empty() {
        return Ok(0);
    }
    writer.write_all(out)?;
    let n = out.len() as u64;
    out.clear();
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::rngs::StdRng;
    use rand::{RngCore, SeedableRng};
    use rand_core::OsRng;

    fn data(len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len];
        StdRng::seed_from_u64(len as u64).fill_bytes(&mut v);
        v
    }

    fn enc(key: &DataKey, plaintext: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let n = encrypt(key, &mut OsRng, plaintext, &mut out).expect("encrypts");
        assert_eq!(n, out.len() as u64);
        out
    }

    fn dec(key: &DataKey, ciphertext: &[u8]) -> Result<Vec<u8>, StreamError> {
        let mut out = Vec::new();
        let n = decrypt(key, ciphertext, &mut out)?;
        assert_eq!(n, out.len() as u64);
        Ok(out)
    }

    /// Byte offset of segment `i` (header included).
    fn seg(i: usize) -> usize {
        HEADER_LEN + i * SEALED_SEGMENT_LEN
    }

    #[test]
    fn round_trip_sizes() {
        let key = DataKey::generate(&mut OsRng);
        for len in [0, 1, 65535, 65536, 65537, 3 * 65536, 1_000_003] {
            let plaintext = data(len);
            let ciphertext = enc(&key, &plaintext);
            assert_eq!(
                ciphertext.len() as u64,
                ciphertext_len(len as u64),
                "len {len}"
            );
            assert_eq!(
                dec(&key, &ciphertext).expect("decrypts"),
                plaintext,
                "len {len}"
            );
        }
    }

    #[test]
    fn layout() {
        let key = DataKey::generate(&mut OsRng);
        let empty = enc(&key, b"");
        assert_eq!(empty.len(), HEADER_LEN + TAG_LEN);
        assert_eq!(&empty[..5], b"EHRS\x01");
        assert_eq!(ciphertext_len(0), 28);
        assert_eq!(ciphertext_len(65536), 12 + 65536 + 16);
        assert_eq!(ciphertext_len(65537), 12 + 65537 + 32);
        assert_eq!(ciphertext_len(u64::MAX), u64::MAX);
        // Two encryptions of the same data differ (fresh nonce prefix).
        assert_ne!(enc(&key, b"same"), enc(&key, b"same"));
    }

    #[test]
    fn matches_aead_stream_encryptor() {
        // The format is exactly aead's EncryptorBE32 with the header as associated data.
        use aes_gcm::aead::stream::EncryptorBE32;
        let key = DataKey::generate(&mut OsRng);
        let plaintext = data(2 * SEGMENT_LEN + 100);
        let ours = enc(&key, &plaintext);
        let header: [u8; HEADER_LEN] = ours[..HEADER_LEN].try_into().expect("header");
        let mut theirs = header.to_vec();
        let prefix = GenericArray::from_slice(&header[5..]);
        let mut e = EncryptorBE32::<Aes256Gcm>::new(key.expose().into(), prefix);
        let chunks: Vec<&[u8]> = plaintext.chunks(SEGMENT_LEN).collect();
        for chunk in &chunks[..chunks.len() - 1] {
            let payload = aes_gcm::aead::Payload {
                msg: chunk,
                aad: &header,
            };
            theirs.extend(e.encrypt_next(payload).expect("encrypts"));
        }
        let payload = aes_gcm::aead::Payload {
            msg: chunks[chunks.len() - 1],
            aad: &header,
        };
        theirs.extend(e.encrypt_last(payload).expect("encrypts"));
        assert_eq!(ours, theirs);
    }

    /// Fills with 1, 2, 3, … so the nonce prefix is predictable.
    struct CountingRng(u8);

    impl rand_core::RngCore for CountingRng {
        fn next_u32(&mut self) -> u32 {
            rand_core::impls::next_u32_via_fill(self)
        }
        fn next_u64(&mut self) -> u64 {
            rand_core::impls::next_u64_via_fill(self)
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            for b in dest {
                self.0 = self.0.wrapping_add(1);
                *b = self.0;
            }
        }
        fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
            self.fill_bytes(dest);
            Ok(())
        }
    }

    impl rand_core::CryptoRng for CountingRng {}

    #[test]
    fn known_answers() {
        // Computed independently with Python `cryptography` from the documented format:
        // key 0x42 × 32, nonce prefix 01..07, plaintext byte i = i mod 251.
        let key = DataKey::from_bytes(SecretBytes::new([0x42; 32]));
        let cases = [
            (
                0,
                "84a017f6196cfe7d3785341c0215b729750a953ad84012e14a24c9ce79e7314e",
            ),
            (
                2 * 65536,
                "fca84de3af5e17bbc5928c83a00ee8aad0a382e9853df8d6d4c0877509b7ee9e",
            ),
            (
                2 * 65536 + 1000,
                "8e21fa05567a953e2e7e88e8cce03189f083f1da366b19eb1637ebc52ab51064",
            ),
        ];
        for (len, digest) in cases {
            let plaintext: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let mut ciphertext = Vec::new();
            encrypt(&key, &mut CountingRng(0), &plaintext[..], &mut ciphertext).expect("encrypts");
            assert_eq!(
                crate::hash::sha256(&ciphertext).to_string(),
                digest,
                "len {len}"
            );
            assert_eq!(dec(&key, &ciphertext).expect("decrypts"), plaintext);
        }
        let mut empty = Vec::new();
        encrypt(&key, &mut CountingRng(0), &b""[..], &mut empty).expect("encrypts");
        assert_eq!(
            empty,
            crate::hash::tests_support::unhex(
                "454852530101020304050607f8b64af077306becdb8596cbc6dc690b"
            )
        );
    }

    #[test]
    fn truncation_at_segment_boundary_detected() {
        let key = DataKey::generate(&mut OsRng);
        let ciphertext = enc(&key, &data(3 * SEGMENT_LEN + 10));
        for segments in 0..=3 {
            assert!(matches!(
                dec(&key, &ciphertext[..seg(segments)]),
                Err(StreamError::Truncated)
            ));
        }
        // Cut inside a segment.
        assert!(dec(&key, &ciphertext[..seg(1) + 100]).is_err());
        assert!(dec(&key, &ciphertext[..ciphertext.len() - 1]).is_err());
        assert!(matches!(
            dec(&key, &ciphertext[..5]),
            Err(StreamError::BadHeader)
        ));
    }

    #[test]
    fn dropping_last_segment_detected() {
        let key = DataKey::generate(&mut OsRng);
        // Last segment full: the remaining full segment was sealed as a middle one.
        let ciphertext = enc(&key, &data(3 * SEGMENT_LEN));
        assert_eq!(ciphertext.len(), seg(3));
        assert!(matches!(
            dec(&key, &ciphertext[..seg(2)]),
            Err(StreamError::Truncated)
        ));
    }

    #[test]
    fn swapping_segments_detected() {
        let key = DataKey::generate(&mut OsRng);
        let mut ciphertext = enc(&key, &data(3 * SEGMENT_LEN + 10));
        let first = ciphertext[seg(0)..seg(1)].to_vec();
        let second = ciphertext[seg(1)..seg(2)].to_vec();
        ciphertext[seg(0)..seg(1)].copy_from_slice(&second);
        ciphertext[seg(1)..seg(2)].copy_from_slice(&first);
        assert!(matches!(dec(&key, &ciphertext), Err(StreamError::Tampered)));
    }

    #[test]
    fn flipping_any_byte_detected() {
        let key = DataKey::generate(&mut OsRng);
        let ciphertext = enc(&key, &data(SEGMENT_LEN + 20));
        let mut tampered = ciphertext.clone();
        // Every byte of a small stream, and a stride through the large one.
        let small = enc(&key, b"short record");
        let mut small_tampered = small.clone();
        for i in 0..small.len() {
            small_tampered[i] ^= 0x01;
            assert!(dec(&key, &small_tampered).is_err(), "byte {i}");
            small_tampered[i] = small[i];
        }
        for i in (0..ciphertext.len())
            .step_by(997)
            .chain([ciphertext.len() - 1])
        {
            tampered[i] ^= 0x80;
            assert!(dec(&key, &tampered).is_err(), "byte {i}");
            tampered[i] = ciphertext[i];
        }
        assert!(dec(&key, &tampered).is_ok());
    }

    #[test]
    fn appending_detected() {
        let key = DataKey::generate(&mut OsRng);
        for len in [0, 10, SEGMENT_LEN, 2 * SEGMENT_LEN + 3] {
            let ciphertext = enc(&key, &data(len));
            for extra in [1, TAG_LEN, SEALED_SEGMENT_LEN, SEALED_SEGMENT_LEN + 1] {
                let mut longer = ciphertext.clone();
                longer.extend(std::iter::repeat_n(0u8, extra));
                assert!(dec(&key, &longer).is_err(), "len {len} extra {extra}");
            }
            // Appending a validly sealed segment from another stream under the same key.
            let other = enc(&key, &data(len));
            let mut spliced = ciphertext.clone();
            spliced.extend_from_slice(&other[HEADER_LEN..]);
            assert!(dec(&key, &spliced).is_err());
        }
    }

    #[test]
    fn wrong_key_and_bad_header_detected() {
        let key = DataKey::generate(&mut OsRng);
        let ciphertext = enc(&key, &data(1000));
        let other = DataKey::generate(&mut OsRng);
        assert!(matches!(
            dec(&other, &ciphertext),
            Err(StreamError::Tampered)
        ));
        let mut bad_magic = ciphertext.clone();
        bad_magic[0] = b'X';
        assert!(matches!(dec(&key, &bad_magic), Err(StreamError::BadHeader)));
        let mut bad_version = ciphertext.clone();
        bad_version[4] = 2;
        assert!(matches!(
            dec(&key, &bad_version),
            Err(StreamError::BadHeader)
        ));
        let mut bad_prefix = ciphertext;
        bad_prefix[8] ^= 1;
        assert!(matches!(dec(&key, &bad_prefix), Err(StreamError::Tampered)));
        assert!(matches!(dec(&key, b""), Err(StreamError::BadHeader)));
    }

    #[test]
    fn decryptor_refuses_after_failure() {
        let key = DataKey::generate(&mut OsRng);
        let mut ciphertext = enc(&key, &data(3 * SEGMENT_LEN));
        ciphertext[seg(0) + 3] ^= 1;
        let header: [u8; HEADER_LEN] = ciphertext[..HEADER_LEN].try_into().expect("header");
        let mut d = Decryptor::new(&key, &header).expect("header ok");
        let mut out = Vec::new();
        assert!(d.update(&ciphertext[HEADER_LEN..], &mut out).is_err());
        assert!(out.is_empty(), "no unauthenticated plaintext released");
        assert!(d.update(&[], &mut out).is_err());
        assert!(matches!(d.finish(&mut out), Err(StreamError::Tampered)));
    }

    #[test]
    fn io_errors_surface() {
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("disk on fire"))
            }
        }
        let key = DataKey::generate(&mut OsRng);
        let mut sink = Vec::new();
        assert!(matches!(
            encrypt(&key, &mut OsRng, Failing, &mut sink),
            Err(StreamError::Io(_))
        ));
        assert_eq!(format!("{key:?}"), "[REDACTED]");
    }

    /// Encrypts with `update` calls of the given sizes, then decrypts with other sizes.
    fn chunked_round_trip(plaintext: &[u8], enc_chunks: &[usize], dec_chunks: &[usize]) {
        let key = DataKey::generate(&mut OsRng);
        let mut e = Encryptor::new(&key, &mut OsRng);
        let mut ciphertext = e.header().to_vec();
        let mut rest = plaintext;
        for &c in enc_chunks.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (head, tail) = rest.split_at(c.min(rest.len()));
            e.update(head, &mut ciphertext).expect("encrypts");
            rest = tail;
        }
        e.finish(&mut ciphertext).expect("finishes");
        assert_eq!(
            ciphertext.len() as u64,
            ciphertext_len(plaintext.len() as u64)
        );

        let header: [u8; HEADER_LEN] = ciphertext[..HEADER_LEN].try_into().expect("header");
        let mut d = Decryptor::new(&key, &header).expect("header ok");
        let mut out = Vec::new();
        let mut rest = &ciphertext[HEADER_LEN..];
        for &c in dec_chunks.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (head, tail) = rest.split_at(c.min(rest.len()));
            d.update(head, &mut out).expect("decrypts");
            rest = tail;
        }
        d.finish(&mut out).expect("complete");
        assert_eq!(out, plaintext);
    }

    #[test]
    fn chunk_boundaries() {
        let plaintext = data(3 * SEGMENT_LEN + 7);
        let s = SEGMENT_LEN;
        let t = SEALED_SEGMENT_LEN;
        chunked_round_trip(
            &plaintext,
            &[1, s - 1, s, s + 1, 3 * s],
            &[t, 1, t - 1, 2 * t + 1],
        );
        chunked_round_trip(&plaintext, &[s], &[t]);
        chunked_round_trip(&plaintext[..2 * s], &[s], &[t]);
        chunked_round_trip(&[], &[1], &[1]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn prop_round_trip(
            len in prop_oneof![0usize..300, 0usize..(4 * SEGMENT_LEN)],
            enc_chunks in proptest::collection::vec(1usize..(2 * SEGMENT_LEN + 100), 1..6),
            dec_chunks in proptest::collection::vec(1usize..(2 * SEGMENT_LEN + 100), 1..6),
        ) {
            chunked_round_trip(&data(len), &enc_chunks, &dec_chunks);
        }
    }

    /// `cargo test -p ehrchain-crypto --release -- --ignored --nocapture throughput`
    #[test]
    #[ignore = "timing, run by hand in release mode"]
    fn throughput() {
        let key = DataKey::generate(&mut OsRng);
        let plaintext = data(128 << 20);
        let ciphertext = enc(&key, &plaintext);
        let mb = plaintext.len() as f64 / 1e6;
        let t = std::time::Instant::now();
        encrypt(&key, &mut OsRng, &plaintext[..], io::sink()).expect("encrypts");
        let e = t.elapsed().as_secs_f64();
        let t = std::time::Instant::now();
        decrypt(&key, &ciphertext[..], io::sink()).expect("decrypts");
        let d = t.elapsed().as_secs_f64();
        println!("encrypt {:.0} MB/s, decrypt {:.0} MB/s", mb / e, mb / d);
    }
}
