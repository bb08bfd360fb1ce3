//! Runs every property check on every seed without libFuzzer, checks the committed seeds are
//! what the generator makes, and checks that the seeds reach the interesting paths (valid
//! signatures, streams that decrypt, proofs that verify, headers that authenticate).

use std::path::Path;

use ehrchain_fuzz::checks::{self, KeyfileRun};
use ehrchain_fuzz::fixtures;
use ehrchain_fuzz::seeds::{self, TARGETS};

fn check(target: &str, data: &[u8]) {
    match target {
        "signed_tx" => checks::check_signed_tx(data),
        "block" => checks::check_block(data),
        "genesis" => checks::check_genesis(data),
        "audit_entry" => checks::check_audit_entry(data),
        "canonical" => checks::check_canonical(data),
        "inclusion_proof" => checks::check_inclusion_proof(data),
        "envelope" => checks::check_envelope(data),
        "cid" => checks::check_cid(data),
        "public_key" => checks::check_public_key(data),
        "keyfile" => {
            let _ = checks::check_keyfile(data);
        }
        "stream_decrypt" => checks::check_stream(data),
        "api_auth" => checks::check_auth(data),
        other => panic!("unknown target {other}"),
    }
}

#[test]
fn checks_hold_on_every_seed_and_on_simple_mutations() {
    for seed in seeds::all() {
        check(seed.target, &seed.bytes);
        // A few mutations of the kind libFuzzer makes: truncation, a flipped bit, an extra byte.
        let mut m = seed.bytes.clone();
        m.pop();
        check(seed.target, &m);
        let mut m = seed.bytes.clone();
        if let Some(b) = m.get_mut(seed.bytes.len() / 2) {
            *b ^= 0x01;
        }
        check(seed.target, &m);
        let mut m = seed.bytes.clone();
        m.push(0);
        check(seed.target, &m);
    }
}

#[test]
fn every_target_has_seeds_and_the_committed_ones_are_current() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let all = seeds::all();
    for target in TARGETS {
        let mine: Vec<_> = all.iter().filter(|s| s.target == *target).collect();
        assert!(!mine.is_empty(), "{target} has no seeds");
        for s in mine {
            let path = root.join(target).join(&s.name);
            let on_disk = std::fs::read(&path).unwrap_or_else(|e| {
                panic!(
                    "{}: {e}; run `cargo run --example gen_seeds`",
                    path.display()
                )
            });
            assert!(
                on_disk == s.bytes,
                "{} is stale; rerun gen_seeds",
                path.display()
            );
        }
    }
}

#[test]
fn seeds_reach_the_success_paths() {
    use ehrchain_crypto::stream;
    use ehrchain_types::SignedTx;
    for t in fixtures::sample_txs() {
        SignedTx::decode_submitted(&ehrchain_types::Canonical::to_bytes(&t))
            .expect("decodes")
            .verify()
            .expect("sample transactions are properly signed");
    }
    let validators = fixtures::validators();
    for p in fixtures::sample_proofs() {
        p.verify(&validators).expect("sample proofs verify");
    }
    for s in seeds::all() {
        match s.target {
            "stream_decrypt" => {
                let mut out = Vec::new();
                stream::decrypt(&fixtures::stream_key(), &s.bytes[..], &mut out)
                    .expect("stream seeds decrypt");
            }
            "keyfile" if s.name.starts_with("sealed") => {
                assert_eq!(checks::check_keyfile(&s.bytes), KeyfileRun::SkippedKdf);
                ehrchain_crypto::keyfile::open(fixtures::KEYFILE_PASSPHRASE, &s.bytes)
                    .expect("keyfile seeds open");
            }
            "keyfile" => assert_eq!(checks::check_keyfile(&s.bytes), KeyfileRun::RefusedEarly),
            "envelope" if s.name.starts_with("sealed-") && s.name != "sealed-to-another-reader" => {
                let env = ehrchain_crypto::Envelope::from_bytes(&s.bytes).expect("parses");
                ehrchain_crypto::envelope::open(
                    &fixtures::envelope_recipient(),
                    fixtures::ENVELOPE_CONTEXT,
                    &env,
                )
                .expect("envelope seeds open");
            }
            "api_auth" if s.name.starts_with("raw-") => {
                // Byte 0 is 0x80 | method; the header runs up to the 0x00 before the path.
                let method = &checks::METHODS[usize::from(s.bytes[0] & 0x7f)];
                let rest = &s.bytes[3..];
                let nul = rest.iter().position(|&b| b == 0).expect("separator");
                let mut h = http::HeaderMap::new();
                h.insert(
                    ehrchain_api::auth::AUTH_HEADER,
                    http::HeaderValue::from_bytes(&rest[..nul]).expect("header value"),
                );
                let path = std::str::from_utf8(&rest[nul + 1..]).expect("path");
                let bh = ehrchain_api::auth::body_hash(fixtures::AUTH_BODY);
                ehrchain_api::auth::authenticate(&h, method, path, &bh, fixtures::AUTH_NOW_MS)
                    .expect("raw auth seeds authenticate");
            }
            _ => {}
        }
    }
    let genesis = fixtures::sample_genesis();
    let mut parent = (genesis.chain_id(), 0u64, genesis.time.0);
    for b in fixtures::sample_blocks() {
        ehrchain_ledger::check_block(
            &b,
            &parent.0,
            parent.1,
            parent.2,
            &validators,
            &ehrchain_ledger::VotesOnly,
        )
        .expect("sample blocks pass the structural check");
        parent = (b.header.hash(), b.header.height.0, b.header.time.0);
    }
}

#[test]
fn non_canonical_header_spellings_are_accepted_as_the_same_request() {
    // Documents behaviour the api_auth target allows: uppercase hex and a `+`-prefixed or
    // zero-padded timestamp authenticate as the same signed request (the signature covers the
    // parsed values, so nothing else can be smuggled in).
    use ehrchain_api::auth::{authenticate, sign_request, AUTH_HEADER};
    let key = fixtures::signing_key(fixtures::AUTH_KEY);
    let bh = ehrchain_api::auth::body_hash(fixtures::AUTH_BODY);
    let now = fixtures::AUTH_NOW_MS;
    let header = sign_request(&key, "GET", "/v1/x", now, &bh);
    let parts: Vec<&str> = header.split('.').collect();
    for variant in [
        header.to_ascii_uppercase(),
        format!("{}.+{}.{}", parts[0], parts[1], parts[2]),
        format!("{}.000{}.{}", parts[0], parts[1], parts[2]),
    ] {
        let mut h = http::HeaderMap::new();
        h.insert(AUTH_HEADER, variant.parse().expect("header value"));
        assert_eq!(
            authenticate(&h, &http::Method::GET, "/v1/x", &bh, now).expect("accepted"),
            key.public(),
            "{variant}"
        );
    }
}
