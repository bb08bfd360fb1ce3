//! One property check per fuzz target. Each takes the raw fuzz input, never panics on its own
//! account, and asserts (panics) only when a property of the code under test is violated.

use std::any::type_name;
use std::fmt::Debug;
use std::mem::discriminant;
use std::sync::OnceLock;

use ehrchain_api::auth::{authenticate, sign_request, AUTH_HEADER, MAX_SKEW_MS, NAMESPACE};
use ehrchain_crypto::envelope::{self, Envelope, ENVELOPE_LEN};
use ehrchain_crypto::stream::{self, ciphertext_len, HEADER_LEN, SEGMENT_LEN, TAG_LEN};
use ehrchain_crypto::{
    keyfile, sha256, verify, Cid, CryptoError, Decryptor, EncryptionKey, Hash, KdfParams,
    PublicKey, Signature, StreamError,
};
use ehrchain_ledger::{check_block as ledger_check_block, InclusionProof, ProofError, VotesOnly};
use ehrchain_types::{
    limits, verify_all, ActorRef, AgentId, AgentState, AuditEntry, Basis, Block, BlockHeader,
    BreakGlassState, Canonical, Category, CategoryPattern, Certificate, Decoder, Genesis, GrantId,
    GrantState, Grantee, Height, Mode, OrgId, OrgKind, OrganisationState, Outcome, PatientId,
    PatientState, Purpose, Receipt, RecordId, RecordState, Role, Scope, SignedTx, Timestamp, Tx,
    TxError,
};
use http::{HeaderMap, HeaderValue, Method, StatusCode};

use crate::fixtures;

// ---------------------------------------------------------------------------------------------
// The canonical codec.

/// Decodes `data` as a `T`; if that succeeds, re-encoding must give exactly `data`, and decoding
/// the re-encoding must give the same value. Also: `from_bytes` succeeds exactly when `decode`
/// succeeds and consumes every byte.
pub fn roundtrip<T: Canonical + PartialEq + Debug>(data: &[u8]) -> Option<T> {
    let mut dec = Decoder::new(data);
    let streamed = T::decode(&mut dec);
    let remaining = dec.remaining();
    let whole = T::from_bytes(data);
    match (&streamed, &whole) {
        (Ok(a), Ok(b)) => {
            assert_eq!(remaining, 0);
            assert_eq!(a, b);
        }
        (Ok(_), Err(e)) => assert_eq!(
            *e,
            ehrchain_types::DecodeError::Trailing(remaining),
            "{}: decode succeeded but from_bytes failed",
            type_name::<T>()
        ),
        (Err(a), Err(b)) => assert_eq!(a, b),
        (Err(e), Ok(_)) => panic!(
            "{}: from_bytes succeeded, decode failed: {e}",
            type_name::<T>()
        ),
    }
    let value = whole.ok()?;
    let again = value.to_bytes();
    assert_eq!(
        again,
        data,
        "{}: decode then re-encode does not give the input back (decoded {value:?})",
        type_name::<T>()
    );
    assert_eq!(T::from_bytes(&again).as_ref(), Ok(&value));
    Some(value)
}

fn rt<T: Canonical + PartialEq + Debug>(data: &[u8]) {
    roundtrip::<T>(data);
}

/// A round-trip check of one type.
pub type Check = fn(&[u8]);

/// Every `Canonical` type, selected by the first input byte (modulo the length of this list).
/// Append new types at the end so existing seeds keep their meaning.
pub const CANONICAL: &[(&str, Check)] = &[
    ("Tx", rt::<Tx>),
    ("SignedTx", rt::<SignedTx>),
    ("BlockHeader", rt::<BlockHeader>),
    ("Certificate", rt::<Certificate>),
    ("Block", rt::<Block>),
    ("Genesis", rt::<Genesis>),
    ("Receipt", rt::<Receipt>),
    ("Outcome", rt::<Outcome>),
    ("Basis", rt::<Basis>),
    ("ActorRef", rt::<ActorRef>),
    ("Grantee", rt::<Grantee>),
    ("Scope", rt::<Scope>),
    ("Category", rt::<Category>),
    ("CategoryPattern", rt::<CategoryPattern>),
    ("OrganisationState", rt::<OrganisationState>),
    ("AgentState", rt::<AgentState>),
    ("PatientState", rt::<PatientState>),
    ("RecordState", rt::<RecordState>),
    ("GrantState", rt::<GrantState>),
    ("BreakGlassState", rt::<BreakGlassState>),
    ("AuditEntry", rt::<AuditEntry>),
    ("PatientId", rt::<PatientId>),
    ("AgentId", rt::<AgentId>),
    ("OrgId", rt::<OrgId>),
    ("RecordId", rt::<RecordId>),
    ("GrantId", rt::<GrantId>),
    ("Height", rt::<Height>),
    ("Timestamp", rt::<Timestamp>),
    ("Role", rt::<Role>),
    ("OrgKind", rt::<OrgKind>),
    ("Purpose", rt::<Purpose>),
    ("Mode", rt::<Mode>),
    ("Hash", rt::<Hash>),
    ("PublicKey", rt::<PublicKey>),
    ("EncryptionKey", rt::<EncryptionKey>),
    ("Signature", rt::<Signature>),
    ("Cid", rt::<Cid>),
    ("u64", rt::<u64>),
    ("InclusionProof", rt::<InclusionProof>),
];

/// The selector byte of a type in [`CANONICAL`].
pub fn canonical_selector(name: &str) -> u8 {
    let i = CANONICAL
        .iter()
        .position(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no canonical type {name}"));
    u8::try_from(i).expect("fewer than 256 types")
}

/// Target `canonical`: byte 0 picks a type, the rest is decoded as that type.
pub fn check_canonical(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let (_, check) = CANONICAL[usize::from(sel) % CANONICAL.len()];
    check(rest);
}

/// Target `signed_tx`: `SignedTx::decode_submitted`, the API's entry point for transactions.
pub fn check_signed_tx(data: &[u8]) {
    let stx = match SignedTx::decode_submitted(data) {
        Err(TxError::TooLarge) => {
            assert!(data.len() > limits::MAX_TX_BYTES);
            return;
        }
        Err(TxError::Malformed(e)) => {
            assert!(data.len() <= limits::MAX_TX_BYTES);
            assert_eq!(SignedTx::from_bytes(data), Err(e));
            return;
        }
        Err(TxError::BadSignature) => panic!("decoding must not judge signatures"),
        Ok(stx) => stx,
    };
    assert!(data.len() <= limits::MAX_TX_BYTES);
    assert_eq!(roundtrip::<SignedTx>(data).as_ref(), Some(&stx));

    // The transaction part is the input minus the 64-byte signature, and its id hashes exactly it.
    let tx_bytes = stx.tx.to_bytes();
    assert_eq!(&data[..data.len() - 64], &tx_bytes[..]);
    assert_eq!(stx.tx.id(), sha256(&tx_bytes));
    assert_eq!(roundtrip::<Tx>(&tx_bytes).as_ref(), Some(&stx.tx));

    // A decoded transaction whose signature verifies re-encodes identically.
    let single = stx.clone().verify();
    match &single {
        Ok(v) => {
            assert_eq!(
                v.bytes(),
                data,
                "verified transaction re-encodes differently"
            );
            assert_eq!(v.signed(), &stx);
            assert_eq!(v.tx(), &stx.tx);
            assert_eq!(v.id(), stx.tx.id());
        }
        Err(e) => assert_eq!(*e, TxError::BadSignature),
    }
    // The batch verifier (used for blocks) agrees with the single one: two copies force the real
    // batch equation rather than its one-item shortcut.
    for r in verify_all(vec![stx.clone(), stx.clone()]) {
        assert_eq!(
            r.is_ok(),
            single.is_ok(),
            "batch and single verification disagree"
        );
        if let (Ok(b), Ok(s)) = (&r, &single) {
            assert_eq!(b, s);
        }
    }

    // Whatever body the fuzzer found, signing it properly gives bytes that decode and verify.
    let key = fixtures::signing_key(fixtures::AUTH_KEY);
    let mut tx = stx.tx.clone();
    tx.signer = key.public();
    let resigned = tx.sign(&key);
    let bytes = resigned.to_bytes();
    assert_eq!(bytes.len(), data.len());
    let back = SignedTx::decode_submitted(&bytes).expect("re-signed transaction decodes");
    assert_eq!(back, resigned);
    let verified = back.verify().expect("fresh signature verifies");
    assert_eq!(verified.bytes(), &bytes[..]);
}

/// Target `block`: `Block::from_bytes`, plus the structural check and inclusion proofs of a
/// decoded block.
pub fn check_block(data: &[u8]) {
    let Some(block) = roundtrip::<Block>(data) else {
        return;
    };
    assert_eq!(block.txs.len(), block.header.tx_count as usize);
    assert_eq!(block.receipts.len(), block.txs.len());

    let mut validators: Vec<PublicKey> = Vec::new();
    for v in block.certificate.votes() {
        if !validators.contains(&v.validator) {
            validators.push(v.validator);
        }
    }
    let parent_height = block.header.height.0.saturating_sub(1);
    let checked = ledger_check_block(
        &block,
        &block.header.prev,
        parent_height,
        block.header.time.0,
        &validators,
        &VotesOnly,
    );
    // A block that passes the structural check yields verifying proofs for its transactions.
    for index in [0, block.txs.len() / 2, block.txs.len().saturating_sub(1)] {
        let Some(proof) = InclusionProof::build(&block, index) else {
            assert!(block.txs.is_empty());
            continue;
        };
        assert_eq!(
            roundtrip::<InclusionProof>(&proof.to_bytes()),
            Some(proof.clone())
        );
        if checked.is_ok() {
            let expected = if block.receipts[index].tx == block.txs[index].tx.id() {
                Ok(())
            } else {
                Err(ProofError::ReceiptMismatch)
            };
            assert_eq!(proof.verify(&validators), expected, "proof of tx {index}");
        }
    }
}

/// Target `genesis`: `Genesis::from_bytes`; the chain id is the hash of exactly the input.
pub fn check_genesis(data: &[u8]) {
    let Some(genesis) = roundtrip::<Genesis>(data) else {
        return;
    };
    assert_eq!(genesis.chain_id(), sha256(data));
    assert!(genesis.validators.len() <= limits::MAX_VALIDATORS);
    assert_eq!(genesis.validator_keys().len(), genesis.validators.len());
}

/// Target `audit_entry`: `AuditEntry::from_bytes`.
pub fn check_audit_entry(data: &[u8]) {
    roundtrip::<AuditEntry>(data);
}

fn sample_blocks() -> &'static [Block] {
    static CELL: OnceLock<Vec<Block>> = OnceLock::new();
    CELL.get_or_init(fixtures::sample_blocks)
}

fn fixture_validators() -> &'static [PublicKey] {
    static CELL: OnceLock<Vec<PublicKey>> = OnceLock::new();
    CELL.get_or_init(fixtures::validators)
}

/// Target `inclusion_proof`: `InclusionProof::from_bytes` (ledger), and `verify` on what decodes.
/// A proof that verifies under the fixture validators can only be about a real fixture block
/// (nobody else holds their keys), so it must name exactly that block's transaction and receipt
/// at that index: no forged or shifted inclusion.
pub fn check_inclusion_proof(data: &[u8]) {
    let Some(proof) = roundtrip::<InclusionProof>(data) else {
        return;
    };
    let own: Vec<PublicKey> = proof
        .certificate
        .votes()
        .iter()
        .map(|v| v.validator)
        .collect();
    let _ = proof.verify(&own);
    let _ = proof.verify(&[]);
    if proof.verify(fixture_validators()).is_ok() {
        let block = sample_blocks()
            .iter()
            .find(|b| b.header == proof.header)
            .expect("verified proof must carry a real, certified header");
        let i = proof.index as usize;
        assert!(
            i < block.txs.len(),
            "verified proof for a position outside the block"
        );
        assert_eq!(
            proof.tx, block.txs[i],
            "verified proof for a transaction not in the block"
        );
        assert_eq!(
            proof.receipt, block.receipts[i],
            "verified proof for a foreign receipt"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Cryptographic decoders.

/// Target `envelope`: `Envelope::from_bytes`, then `envelope::open` with a fixed reader key. Only
/// the fixture envelopes (sealed to that key) may open, and only to their own data key.
pub fn check_envelope(data: &[u8]) {
    let recipient = fixtures::envelope_recipient();
    match Envelope::from_bytes(data) {
        Ok(env) => {
            assert_eq!(data.len(), ENVELOPE_LEN);
            assert_eq!(env.to_bytes(), data);
            assert_eq!(Envelope::from_bytes(&env.to_bytes()), Ok(env.clone()));
            if let Ok(key) = envelope::open(&recipient, fixtures::ENVELOPE_CONTEXT, &env) {
                assert!(
                    fixtures::sample_envelopes()
                        .iter()
                        .any(|(bytes, raw)| bytes == data && raw == key.expose()),
                    "an envelope nobody sealed to this key opened"
                );
            }
            // The same envelope under another context never opens.
            assert!(envelope::open(&recipient, b"another record", &env).is_err());
        }
        Err(e) => {
            assert_ne!(data.len(), ENVELOPE_LEN);
            assert!(matches!(e, CryptoError::Malformed(_)));
            // Envelopes built in memory with a wrong ciphertext length are refused, not a panic.
            if data.len() >= 32 {
                let mut encapsulated = [0u8; 32];
                encapsulated.copy_from_slice(&data[..32]);
                let env = Envelope {
                    encapsulated,
                    ciphertext: data[32..].to_vec(),
                };
                assert!(matches!(
                    envelope::open(&recipient, fixtures::ENVELOPE_CONTEXT, &env),
                    Err(CryptoError::Malformed(_))
                ));
            }
        }
    }
}

const CID_PREFIX: [u8; 4] = [0x01, 0x55, 0x12, 0x20];

/// Target `cid`: `Cid::from_bytes` on the input, and `Cid` `FromStr` on the input as text. Each
/// content has exactly one binary and one text form, and they convert into each other.
pub fn check_cid(data: &[u8]) {
    match Cid::from_bytes(data) {
        Ok(cid) => {
            assert_eq!(&cid.to_bytes()[..], data);
            assert_eq!(&data[..4], &CID_PREFIX);
            assert_eq!(cid.digest().as_bytes(), &data[4..]);
            let text = cid.to_string();
            assert!(text.starts_with("bafkrei"), "{text}");
            assert_eq!(text.parse::<Cid>(), Ok(cid));
            assert_eq!(<Cid as Canonical>::from_bytes(&data[4..]), Ok(cid));
        }
        Err(_) => assert!(data.len() != 36 || data[..4] != CID_PREFIX),
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(cid) = text.parse::<Cid>() {
            assert_eq!(
                cid.to_string(),
                text,
                "a second spelling of a CID was accepted"
            );
            assert_eq!(Cid::from_bytes(&cid.to_bytes()), Ok(cid));
        }
    }
}

/// Target `public_key`: `PublicKey::from_bytes` on the first 32 input bytes, compared with an
/// independent oracle built from curve25519-dalek (accepted ⇔ decompresses, re-compresses to the
/// same bytes, and is not of small order); `PublicKey` `FromStr` on the input as text.
pub fn check_public_key(data: &[u8]) {
    if data.len() >= 32 {
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(&data[..32]);
        let oracle = curve25519_dalek::edwards::CompressedEdwardsY(bytes)
            .decompress()
            .is_some_and(|p| p.compress().to_bytes() == bytes && !p.is_small_order());
        let parsed = PublicKey::from_bytes(&bytes);
        assert_eq!(
            parsed.is_ok(),
            oracle,
            "PublicKey::from_bytes disagrees with the oracle on {bytes:02x?}"
        );
        assert_eq!(<PublicKey as Canonical>::from_bytes(&bytes).is_ok(), oracle);
        if let Ok(pk) = parsed {
            assert_eq!(pk.as_bytes(), &bytes);
            assert_eq!(pk.to_string().parse::<PublicKey>(), Ok(pk));
            // A signature made by nobody never verifies (and checking it does not panic).
            let mut sig = [0u8; 64];
            let n = (data.len() - 32).min(64);
            sig[..n].copy_from_slice(&data[32..32 + n]);
            assert!(verify(&pk, b"ehrchain/fuzz", data, &Signature::from_bytes(&sig)).is_err());
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(pk) = text.parse::<PublicKey>() {
            // Hex of either case is accepted (documented); nothing else.
            assert_eq!(pk.to_string(), text.to_ascii_lowercase());
            assert_eq!(PublicKey::from_bytes(pk.as_bytes()), Ok(pk));
        }
    }
}

/// What the key-file target did with one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyfileRun {
    /// Refused before key derivation, with the error the format predicts.
    RefusedEarly,
    /// Well-formed with parameters inside the accepted bounds: `open` would run Argon2id with the
    /// file's (attacker-chosen, up to 4 GiB × 16 passes) cost, so it was not called.
    SkippedKdf,
    /// `EHRCHAIN_FUZZ_KEYFILE_KDF=1` and the parameters are the cheapest accepted: opened.
    Opened,
}

const KEYFILE_HEADER_LEN: usize = 4 + 1 + 12 + 16 + 12;
const KEYFILE_TAG_LEN: usize = 16;

fn keyfile_kdf_enabled() -> bool {
    static CELL: OnceLock<bool> = OnceLock::new();
    *CELL.get_or_init(|| std::env::var_os("EHRCHAIN_FUZZ_KEYFILE_KDF").is_some_and(|v| v == "1"))
}

/// Target `keyfile`: `keyfile::open` with a fixed passphrase. An independent model of the
/// documented header predicts the outcome; every input the model says is refused (too short,
/// wrong magic or version, cost parameters outside 8 MiB..=4 GiB, 1..=16 passes, 1..=8 lanes)
/// must be refused by `open` with that error, which is decided before Argon2 runs.
pub fn check_keyfile(data: &[u8]) -> KeyfileRun {
    let be = |r: std::ops::Range<usize>| u32::from_be_bytes(data[r].try_into().expect("4 bytes"));
    let predicted: Result<KdfParams, CryptoError> =
        if data.len() < KEYFILE_HEADER_LEN + KEYFILE_TAG_LEN {
            Err(CryptoError::Malformed("key file too short"))
        } else if &data[..4] != b"EHRK" {
            Err(CryptoError::Malformed("not an ehrchain key file"))
        } else if data[4] != 1 {
            Err(CryptoError::Malformed("unsupported key file version"))
        } else {
            let params = KdfParams {
                m_cost_kib: be(5..9),
                t_cost: be(9..13),
                p_cost: be(13..17),
            };
            let in_bounds = (8192..=4 * 1024 * 1024).contains(&params.m_cost_kib)
                && (1..=16).contains(&params.t_cost)
                && (1..=8).contains(&params.p_cost);
            let checked = params.check();
            assert_eq!(
                checked.is_ok(),
                in_bounds,
                "KdfParams::check disagrees on {params:?}"
            );
            if let Err(CryptoError::KdfParams(msg)) = &checked {
                assert_ne!(*msg, "rejected by Argon2");
            }
            checked.map(|()| params)
        };
    match predicted {
        Err(expected) => {
            let got = keyfile::open(fixtures::KEYFILE_PASSPHRASE, data)
                .expect_err("a refused key file opened");
            match (&expected, &got) {
                (CryptoError::Malformed(_), CryptoError::Malformed(_)) => {}
                _ => assert_eq!(got, expected, "refused for another reason than predicted"),
            }
            RefusedEarly
        }
        Ok(params) if keyfile_kdf_enabled() && params == KdfParams::MIN => {
            match keyfile::open(fixtures::KEYFILE_PASSPHRASE, data) {
                Ok(plain) => {
                    // Only the fixture files decrypt (the tag binds header and ciphertext).
                    static FILES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
                    let files = FILES.get_or_init(fixtures::sample_keyfiles);
                    assert!(files.iter().any(|f| f == data));
                    assert_eq!(
                        plain.len(),
                        data.len() - KEYFILE_HEADER_LEN - KEYFILE_TAG_LEN
                    );
                }
                Err(e) => assert_eq!(e, CryptoError::WrongPassphrase),
            }
            Opened
        }
        Ok(_) => SkippedKdf,
    }
}
use KeyfileRun::*;

const SEALED_SEGMENT_LEN: usize = SEGMENT_LEN + TAG_LEN;

/// Decrypts `body` with a [`Decryptor`], feeding it in chunks of the given sizes (cycled).
fn decrypt_chunked(
    header: &[u8; HEADER_LEN],
    body: &[u8],
    chunks: &[usize],
) -> (Result<(), StreamError>, Vec<u8>) {
    let mut d = Decryptor::new(&fixtures::stream_key(), header).expect("header checked");
    let mut out = Vec::new();
    let mut rest = body;
    let mut i = 0;
    while !rest.is_empty() {
        let n = chunks[i % chunks.len()].min(rest.len());
        i += 1;
        if let Err(e) = d.update(&rest[..n], &mut out) {
            // Once failed, it stays failed.
            assert!(d.update(b"", &mut out).is_err());
            return (Err(e), out);
        }
        rest = &rest[n..];
    }
    let r = d.finish(&mut out);
    (r, out)
}

/// Target `stream_decrypt`: the record-stream decryptor over arbitrary bytes under a fixed key.
///
/// - Decryption succeeds only for a valid encryption: re-encrypting the plaintext under the
///   input's own nonce prefix reproduces the input exactly (so every mutation of a valid stream
///   the fuzzer makes fails, unless it is the identity).
/// - Plaintext released before an error is whole segments, and re-encrypting it reproduces the
///   input's leading segments: nothing unauthenticated is ever released.
/// - One-shot `stream::decrypt` and the incremental `Decryptor` fed in different chunk sizes
///   agree on the outcome and on the plaintext.
pub fn check_stream(data: &[u8]) {
    let key = fixtures::stream_key();
    let mut one_shot_out = Vec::new();
    let one_shot = stream::decrypt(&key, data, &mut one_shot_out);
    if let Ok(n) = &one_shot {
        assert_eq!(*n, one_shot_out.len() as u64);
    }
    let one_shot = one_shot.map(|_| ());

    if data.len() < HEADER_LEN {
        assert!(matches!(one_shot, Err(StreamError::BadHeader)));
        assert!(one_shot_out.is_empty());
        return;
    }
    let header: [u8; HEADER_LEN] = data[..HEADER_LEN].try_into().expect("header");
    let header_ok = &header[..4] == b"EHRS" && header[4] == 1;
    if let Err(e) = Decryptor::new(&key, &header) {
        assert!(!header_ok);
        assert!(matches!(e, StreamError::BadHeader));
        assert!(matches!(one_shot, Err(StreamError::BadHeader)));
        assert!(one_shot_out.is_empty());
        return;
    }
    assert!(
        header_ok,
        "a header with wrong magic or version was accepted"
    );
    let prefix: [u8; 7] = header[5..].try_into().expect("prefix");
    let body = &data[HEADER_LEN..];

    let runs = [
        decrypt_chunked(
            &header,
            body,
            &[SEALED_SEGMENT_LEN - 1, 1, SEALED_SEGMENT_LEN + 1],
        ),
        decrypt_chunked(&header, body, &[7, SEGMENT_LEN, 100_003]),
    ];
    for (r, out) in &runs {
        match (&one_shot, r) {
            (Ok(()), Ok(())) => assert_eq!(out, &one_shot_out),
            (Err(a), Err(b)) => {
                assert_eq!(discriminant(a), discriminant(b), "{a:?} vs {b:?}");
                // The one-shot reader may stop earlier, but never releases anything else.
                assert!(out.starts_with(&one_shot_out));
            }
            (a, b) => panic!("one-shot {a:?} but chunked {b:?}"),
        }
    }

    match one_shot {
        Ok(()) => {
            let plaintext = &one_shot_out;
            assert_eq!(ciphertext_len(plaintext.len() as u64), data.len() as u64);
            assert!(
                fixtures::encrypt_with_prefix(&prefix, plaintext) == data,
                "decryption succeeded on bytes the encryptor does not produce"
            );
        }
        Err(_) => {
            for released in std::iter::once(&one_shot_out).chain(runs.iter().map(|(_, o)| o)) {
                assert_eq!(released.len() % SEGMENT_LEN, 0, "partial segment released");
                let k = released.len() / SEGMENT_LEN;
                if k == 0 {
                    continue;
                }
                // Re-seal the released plaintext as k middle segments (one more byte makes the
                // encryptor seal the last full one as a middle segment).
                let mut e = fixtures::stream_encryptor(&prefix);
                let mut again = e.header().to_vec();
                e.update(released, &mut again).expect("encrypts");
                e.update(&[0], &mut again).expect("encrypts");
                let end = HEADER_LEN + k * SEALED_SEGMENT_LEN;
                assert!(end <= data.len());
                assert!(
                    again == data[..end],
                    "released plaintext does not match the input"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The API's request authentication.

/// The methods the auth target picks from (byte 0, low 7 bits, modulo 6).
pub const METHODS: [Method; 6] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::PATCH,
    Method::HEAD,
];

fn canonical_request(method: &Method, path: &str, ts: u64, body_hash: &str) -> String {
    // The documented signed message: method, path and query, timestamp, body hash.
    format!("{}\n{path}\n{ts}\n{body_hash}", method.as_str())
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn headers_with(value: &[u8]) -> Option<HeaderMap> {
    let value = HeaderValue::from_bytes(value).ok()?;
    let mut headers = HeaderMap::new();
    headers.insert(AUTH_HEADER, value);
    Some(headers)
}

/// Target `api_auth`: `ehrchain_api::auth::authenticate`, which parses the `x-ehr-auth` header.
///
/// Input: byte 0 picks the method and the mode, bytes 1..3 a clock skew (signed seconds); then
///
/// - raw mode: `header value ‖ 0x00 ‖ path`. Every rejection is a 401 `unauthorised` (never a
///   panic or a 500), and an accepted header is checked again independently: its signature
///   verifies over the documented message for its key and timestamp, within the allowed skew.
/// - edit mode: `path length ‖ path ‖ edits`. A header is signed properly with a fixed key
///   (`sign_request`), which must authenticate exactly when the skew is allowed; then the edits
///   (replace, insert or delete a byte) are applied, and if the edited header still
///   authenticates it must carry the same key, timestamp and signature (up to spelling).
pub fn check_auth(data: &[u8]) {
    if data.len() < 3 {
        return;
    }
    let method = &METHODS[usize::from(data[0] & 0x7f) % METHODS.len()];
    let raw_mode = data[0] & 0x80 != 0;
    let skew_s = i64::from(i16::from_be_bytes([data[1], data[2]]));
    let now = fixtures::AUTH_NOW_MS;
    let body_hash = ehrchain_api::auth::body_hash(fixtures::AUTH_BODY);
    let rest = &data[3..];

    if raw_mode {
        let (value, path) = match rest.iter().position(|&b| b == 0) {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &b""[..]),
        };
        let path = String::from_utf8_lossy(path);
        let headers = headers_with(value).unwrap_or_default();
        match authenticate(&headers, method, &path, &body_hash, now) {
            Err(e) => {
                assert_eq!(e.status, StatusCode::UNAUTHORIZED);
                assert_eq!(e.code, "unauthorised");
            }
            Ok(pk) => {
                let text = std::str::from_utf8(value).expect("accepted header is text");
                let parts: Vec<&str> = text.split('.').collect();
                assert_eq!(parts.len(), 3);
                let key = decode_hex(parts[0]).expect("key hex");
                assert_eq!(&key[..], pk.as_bytes());
                let ts: u64 = parts[1].parse().expect("timestamp");
                assert!(ts.abs_diff(now) <= MAX_SKEW_MS);
                let sig: [u8; 64] = decode_hex(parts[2])
                    .expect("signature hex")
                    .try_into()
                    .expect("64 bytes");
                let msg = canonical_request(method, &path, ts, &body_hash);
                assert!(
                    verify(&pk, NAMESPACE, msg.as_bytes(), &Signature::from_bytes(&sig)).is_ok()
                );
            }
        }
        return;
    }

    let Some((&path_len, rest)) = rest.split_first() else {
        return;
    };
    let path_len = usize::from(path_len).min(rest.len());
    let path = String::from_utf8_lossy(&rest[..path_len]).into_owned();
    let edits = &rest[path_len..];
    let ts = now.checked_add_signed(skew_s * 1000).expect("no overflow");
    let key = fixtures::signing_key(fixtures::AUTH_KEY);
    let header = sign_request(&key, method.as_str(), &path, ts, &body_hash);
    let original_sig = header.rsplit('.').next().expect("three parts").to_owned();

    let headers = headers_with(header.as_bytes()).expect("sign_request makes a valid header");
    let fresh = authenticate(&headers, method, &path, &body_hash, now);
    if ts.abs_diff(now) <= MAX_SKEW_MS {
        assert_eq!(
            fresh.expect("a properly signed request authenticates"),
            key.public()
        );
    } else {
        assert!(
            fresh.is_err(),
            "a request outside the clock skew was accepted"
        );
    }

    let mut edited = header.into_bytes();
    for edit in edits.chunks_exact(3) {
        let pos = usize::from(edit[1]);
        match edit[0] % 3 {
            0 if !edited.is_empty() => {
                let i = pos % edited.len();
                edited[i] = edit[2];
            }
            1 => {
                let i = pos % (edited.len() + 1);
                edited.insert(i, edit[2]);
            }
            2 if !edited.is_empty() => {
                let i = pos % edited.len();
                edited.remove(i);
            }
            _ => {}
        }
    }
    let Some(headers) = headers_with(&edited) else {
        return;
    };
    match authenticate(&headers, method, &path, &body_hash, now) {
        Err(e) => assert_eq!(e.status, StatusCode::UNAUTHORIZED),
        Ok(pk) => {
            assert_eq!(
                pk,
                key.public(),
                "an edited header authenticated another key"
            );
            let text = std::str::from_utf8(&edited).expect("accepted header is text");
            let parts: Vec<&str> = text.split('.').collect();
            assert_eq!(parts.len(), 3);
            assert_eq!(parts[1].parse::<u64>().ok(), Some(ts), "timestamp changed");
            assert_eq!(
                parts[2].to_ascii_lowercase(),
                original_sig,
                "an edited signature was accepted"
            );
        }
    }
}
