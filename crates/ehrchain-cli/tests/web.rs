//! The web UI in a real headless Chromium (Debian's `chromium`, driven by playwright-core from
//! `crates/ehrchain-web/e2e`), against a real `ehrchain run` node:
//! - the browser's crypto and canonical encoding cross-checked against the Rust implementation,
//!   both ways;
//! - the patient / doctor scenario of issue 4, end to end, with an accessibility check (axe-core)
//!   of every page.
//!
//! Needs `chromium` and `npm ci` in `crates/ehrchain-web/e2e` (scripts/install-test-deps.sh).
//! Set `EHRCHAIN_SCREENSHOTS=<dir>` to keep the scenario's screenshots (docs/screenshots).

mod common;

use std::path::PathBuf;
use std::process::Command;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use common::{NodeProc, BIN, NODE_PASS};
use ehrchain_crypto::stream::HEADER_LEN;
use ehrchain_crypto::{
    envelope, sha256, Cid, DataKey, Decryptor, Encryptor, Envelope, Identity, SecretBytes,
};
use ehrchain_types::{
    AgentId, AggregateQuery, AnchorRecord, BreakGlass, Canonical, Category, CategoryPattern, Grant,
    GrantId, Grantee, GroupBy, Mode, OrgId, PatientId, Purpose, RecordId, Role, Scope, SignedTx,
    Timestamp, Tx, TxBody,
};
use rand::rngs::OsRng;
use serde_json::{json, Value};

fn e2e_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ehrchain-web/e2e")
}

/// Runs one of the e2e scripts with node.js; its stdout is one JSON object.
fn run_script(script: &str, args: &[&str]) -> Value {
    let dir = e2e_dir();
    assert!(
        dir.join("node_modules/playwright-core").exists(),
        "playwright-core is not installed: run scripts/install-test-deps.sh \
         (apt-get install chromium; npm ci in crates/ehrchain-web/e2e)"
    );
    let out = Command::new("node")
        .arg(script)
        .args(args)
        .current_dir(&dir)
        .env("EHRCHAIN_NODE_PASSPHRASE", NODE_PASS)
        .output()
        .expect("run node (is node.js installed?)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stdout.lines().last().unwrap_or_default();
    let v: Value = serde_json::from_str(last).unwrap_or_else(|e| {
        panic!("{script} printed no JSON result ({e}):\nstdout:\n{stdout}\nstderr:\n{stderr}")
    });
    assert!(
        out.status.success() || v["ok"] == false,
        "{script} failed:\n{stdout}\n{stderr}"
    );
    v
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| ((i * 7) % 251) as u8).collect()
}

fn rust_encrypt(key: &DataKey, plain: &[u8]) -> Vec<u8> {
    let mut enc = Encryptor::new(key, &mut OsRng);
    let mut out = enc.header().to_vec();
    enc.update(plain, &mut out).expect("encrypt");
    enc.finish(&mut out).expect("finish");
    out
}

fn rust_decrypt(key: &DataKey, ct: &[u8]) -> Vec<u8> {
    let mut header = [0u8; HEADER_LEN];
    header.copy_from_slice(&ct[..HEADER_LEN]);
    let mut dec = Decryptor::new(key, &header).expect("header");
    let mut out = Vec::new();
    dec.update(&ct[HEADER_LEN..], &mut out).expect("decrypt");
    dec.finish(&mut out).expect("complete");
    out
}

fn key_of(bytes: [u8; 32]) -> DataKey {
    DataKey::from_bytes(SecretBytes::new(bytes))
}

/// The transactions a browser signs, each as Rust builds it and as the browser's codec takes it.
fn tx_cases(id: &Identity) -> Vec<(u64, TxBody, Value)> {
    let rec = RecordId::from_bytes([0x11; 16]);
    let rec2 = RecordId::from_bytes([0x22; 16]);
    let pid = PatientId::of(&id.public().sign);
    let agent = AgentId::from_bytes([0x33; 16]);
    let org = OrgId::from_bytes([0x44; 16]);
    let cid = Cid::of(b"some ciphertext");
    let cat = |s: &str| CategoryPattern::new(s).expect("pattern");
    vec![
        (
            1,
            TxBody::RegisterPatient {
                encrypt_key: id.public().encrypt,
            },
            json!({"kind": "register-patient", "encryptKey": id.public().encrypt.to_string()}),
        ),
        (
            u64::MAX,
            TxBody::AnchorRecord(AnchorRecord {
                record: rec,
                patient: pid,
                category: Category::new("Observation/laboratory").expect("category"),
                media_type: "application/fhir+json".into(),
                size: 4_294_967_301,
                cid,
                supersedes: Some(rec2),
            }),
            json!({"kind": "anchor-record", "record": rec.to_string(), "patient": pid.to_string(),
                   "category": "Observation/laboratory", "mediaType": "application/fhir+json",
                   "size": 4_294_967_301u64, "cidDigest": hex::encode(cid.digest().as_bytes()),
                   "supersedes": rec2.to_string()}),
        ),
        (
            7,
            TxBody::AnchorRecord(AnchorRecord {
                record: rec2,
                patient: pid,
                category: Category::new("ImagingStudy").expect("category"),
                media_type: "image/png".into(),
                size: 28,
                cid,
                supersedes: None,
            }),
            json!({"kind": "anchor-record", "record": rec2.to_string(), "patient": pid.to_string(),
                   "category": "ImagingStudy", "mediaType": "image/png", "size": 28,
                   "cidDigest": hex::encode(cid.digest().as_bytes()), "supersedes": null}),
        ),
        (
            0x0102_0304_0506_0708,
            TxBody::Grant(Grant {
                grant: GrantId::from_bytes([0x55; 16]),
                grantee: Grantee::Agent(agent),
                scope: Scope {
                    categories: vec![cat("laboratory"), cat("*"), cat("Observation/vital-signs")],
                    records: vec![rec, rec2],
                },
                mode: Mode::Read,
                purpose: Purpose::Treatment,
                not_before: Timestamp(1_700_000_000_000),
                expires: Timestamp(1_800_000_000_000),
            }),
            json!({"kind": "grant", "grant": GrantId::from_bytes([0x55; 16]).to_string(),
                   "grantee": {"kind": "agent", "id": agent.to_string()},
                   "categories": ["laboratory", "*", "Observation/vital-signs"],
                   "records": [rec.to_string(), rec2.to_string()], "mode": "read",
                   "purpose": "treatment", "notBefore": 1_700_000_000_000u64, "expires": 1_800_000_000_000u64}),
        ),
        (
            9,
            TxBody::Grant(Grant {
                grant: GrantId::from_bytes([0x66; 16]),
                grantee: Grantee::Role {
                    org,
                    role: Role::PublicHealthOfficer,
                },
                scope: Scope {
                    categories: vec![],
                    records: vec![],
                },
                mode: Mode::Append,
                purpose: Purpose::PublicHealth,
                not_before: Timestamp(0),
                expires: Timestamp(u64::MAX),
            }),
            json!({"kind": "grant", "grant": GrantId::from_bytes([0x66; 16]).to_string(),
                   "grantee": {"kind": "role", "organisation": org.to_string(), "role": "public-health-officer"},
                   "categories": [], "records": [], "mode": "append", "purpose": "public-health",
                   "notBefore": 0, "expires": u64::MAX.to_string()}),
        ),
        (
            10,
            TxBody::Grant(Grant {
                grant: GrantId::from_bytes([0x77; 16]),
                grantee: Grantee::Organisation(org),
                scope: Scope {
                    categories: vec![cat("*")],
                    records: vec![],
                },
                mode: Mode::Read,
                purpose: Purpose::Emergency,
                not_before: Timestamp(5),
                expires: Timestamp(6),
            }),
            json!({"kind": "grant", "grant": GrantId::from_bytes([0x77; 16]).to_string(),
                   "grantee": {"kind": "organisation", "id": org.to_string()},
                   "categories": ["*"], "records": [], "mode": "read", "purpose": "emergency",
                   "notBefore": 5, "expires": 6}),
        ),
        (
            11,
            TxBody::Revoke {
                grant: GrantId::from_bytes([0x55; 16]),
            },
            json!({"kind": "revoke", "grant": GrantId::from_bytes([0x55; 16]).to_string()}),
        ),
        (
            12,
            TxBody::BreakGlass(BreakGlass {
                patient: pid,
                reason: "unconscious in ED — Notaufnahme".into(),
                duration_secs: 7200,
            }),
            json!({"kind": "break-glass", "patient": pid.to_string(),
                   "reason": "unconscious in ED — Notaufnahme", "durationSecs": 7200}),
        ),
        (
            13,
            TxBody::Access {
                record: rec,
                purpose: Purpose::Payment,
            },
            json!({"kind": "access", "record": rec.to_string(), "purpose": "payment"}),
        ),
        (
            14,
            TxBody::EraseRequest { record: rec2 },
            json!({"kind": "erase-request", "record": rec2.to_string()}),
        ),
        (
            15,
            TxBody::RevokeAgent { agent },
            json!({"kind": "revoke-agent", "agent": agent.to_string()}),
        ),
        (
            16,
            TxBody::ReleaseAggregate(AggregateQuery {
                purpose: Purpose::PublicHealth,
                condition: Some("44054006".into()),
                group_by: GroupBy::Region(vec!["Massachusetts".into(), "Kerala".into()]),
                epsilon_milli: 500,
            }),
            json!({"kind": "release-aggregate", "purpose": "public-health", "condition": "44054006",
                   "groupBy": "region", "cells": ["Massachusetts", "Kerala"], "epsilonMilli": 500}),
        ),
        (
            17,
            TxBody::ReleaseAggregate(AggregateQuery {
                purpose: Purpose::Research,
                condition: None,
                group_by: GroupBy::AgeBand,
                epsilon_milli: 1000,
            }),
            json!({"kind": "release-aggregate", "purpose": "research", "condition": null,
                   "groupBy": "age-band", "cells": [], "epsilonMilli": 1000}),
        ),
    ]
}

/// Browser ↔ Rust: identities, canonical transaction bytes and signatures, HPKE envelopes and
/// STREAM records, each made on one side and checked on the other.
#[test]
fn browser_crypto_matches_rust() {
    let tmp = tempfile::tempdir().expect("tmp");
    let node = NodeProc::start(&tmp.path().join("node"));
    let id = Identity::generate(&mut OsRng);
    let secrets = id.to_secret_bytes();
    let record = RecordId::from_bytes(rand::random());
    let rust_key = DataKey::generate(&mut OsRng);
    let rust_plain = pattern(150_000); // three segments, the last one partial
    let rust_ct = rust_encrypt(&rust_key, &rust_plain);
    let rust_env = envelope::seal(
        &mut OsRng,
        &id.public().encrypt,
        record.as_bytes(),
        &rust_key,
    )
    .expect("seal");
    let browser_key: [u8; 32] = rand::random();
    let cases = tx_cases(&id);
    let auth_path = "/v1/chain?x=1&y=%20";
    let fixtures = json!({
        "sign_seed": hex::encode(&secrets.expose()[..32]),
        "encrypt_secret": hex::encode(&secrets.expose()[32..]),
        "encrypt_public": id.public().encrypt.to_string(),
        "txs": cases.iter().map(|(n, _, js)| json!({"nonce": n.to_string(), "body": js})).collect::<Vec<_>>(),
        "record_id": hex::encode(record.as_bytes()),
        "rust_envelope": B64.encode(rust_env.to_bytes()),
        "rust_data_key": hex::encode(rust_key.expose()),
        "rust_ciphertext": B64.encode(&rust_ct),
        "browser_plain_len": 200_000,
        "browser_data_key": hex::encode(browser_key),
        "auth_path": auth_path,
    });
    let path = tmp.path().join("fixtures.json");
    std::fs::write(&path, fixtures.to_string()).expect("write fixtures");
    let r = run_script(
        "crypto.mjs",
        &[&node.url, path.to_str().expect("utf-8 path")],
    );

    // Keys and ids.
    assert_eq!(r["sign_public"], id.public().sign.to_string());
    assert_eq!(r["encrypt_public"], id.public().encrypt.to_string());
    assert_eq!(
        r["patient_id"],
        PatientId::of(&id.public().sign).to_string()
    );
    assert_eq!(r["agent_id"], AgentId::of(&id.public().sign).to_string());

    // Every transaction: identical canonical bytes and (deterministic Ed25519) signatures.
    let txs = r["txs"].as_array().expect("txs");
    assert_eq!(txs.len(), cases.len());
    for ((nonce, body, _), got) in cases.into_iter().zip(txs) {
        let kind = body.kind().as_str();
        let tx = Tx {
            signer: id.public().sign,
            nonce,
            body,
        };
        assert_eq!(got["bytes"], hex::encode(tx.to_bytes()), "{kind} bytes");
        let signed = tx.sign(id.signing());
        assert_eq!(
            got["signed"],
            hex::encode(signed.to_bytes()),
            "{kind} signed"
        );
        let from_browser = hex::decode(got["signed"].as_str().expect("hex")).expect("hex");
        SignedTx::decode_submitted(&from_browser)
            .expect("decodes")
            .verify()
            .unwrap_or_else(|e| panic!("{kind}: browser signature does not verify: {e}"));
    }

    // Rust → browser.
    assert_eq!(r["opened_key"], hex::encode(rust_key.expose()));
    assert_eq!(r["rust_ciphertext_cid"], Cid::of(&rust_ct).to_string());
    assert_eq!(
        r["rust_plaintext_sha256"],
        sha256(&rust_plain).to_string(),
        "browser decrypted the Rust record"
    );
    for case in [
        "tampered_envelope",
        "wrong_context",
        "tampered_ciphertext",
        "truncated_ciphertext",
    ] {
        assert!(
            r[case]["error"].is_string(),
            "{case} must fail in the browser, got {}",
            r[case]
        );
    }

    // The streaming paths: incremental SHA-256, and decryption as the ciphertext arrives.
    assert_eq!(r["sha256_mismatches"], json!([]));
    assert_eq!(
        r["stream_plaintext_sha256"],
        sha256(&rust_plain).to_string()
    );
    assert_eq!(r["stream_cid"], Cid::of(&rust_ct).to_string());
    for case in [
        "stream_truncated",
        "stream_tampered",
        "stream_segment_dropped",
    ] {
        assert!(
            r[case]["error"].is_string(),
            "{case} must fail, got {}",
            r[case]
        );
    }

    // Browser → Rust.
    let ct = B64
        .decode(r["browser_ciphertext"].as_str().expect("ct"))
        .expect("b64");
    assert_eq!(
        ct.len() as u64,
        ehrchain_crypto::stream::ciphertext_len(200_000)
    );
    assert_eq!(rust_decrypt(&key_of(browser_key), &ct), pattern(200_000));
    let from_file = B64
        .decode(r["browser_file_ciphertext"].as_str().expect("ct"))
        .expect("b64");
    assert_eq!(
        rust_decrypt(&key_of(browser_key), &from_file),
        pattern(200_000)
    );
    assert_eq!(r["browser_file_cid"], Cid::of(&from_file).to_string());
    let empty = B64
        .decode(r["browser_empty_ciphertext"].as_str().expect("ct"))
        .expect("b64");
    assert_eq!(
        empty.len() as u64,
        ehrchain_crypto::stream::ciphertext_len(0)
    );
    assert!(rust_decrypt(&key_of(browser_key), &empty).is_empty());
    let env = Envelope::from_bytes(
        &B64.decode(r["browser_envelope"].as_str().expect("env"))
            .expect("b64"),
    )
    .expect("80 bytes");
    let opened = envelope::open(id.decryption(), record.as_bytes(), &env).expect("Rust opens");
    assert_eq!(opened.expose(), &browser_key);
    let other = RecordId::from_bytes([9; 16]);
    assert!(envelope::open(id.decryption(), other.as_bytes(), &env).is_err());

    // A signed request made in the browser authenticates at the API.
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        "x-ehr-auth",
        r["auth_header"]
            .as_str()
            .expect("auth")
            .parse()
            .expect("hv"),
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    let who = ehrchain_api::auth::authenticate(
        &headers,
        &reqwest::Method::GET,
        auth_path,
        &ehrchain_api::auth::body_hash(b""),
        now,
    )
    .expect("browser auth header verifies");
    assert_eq!(who, id.public().sign);
    assert!(ehrchain_api::auth::authenticate(
        &headers,
        &reqwest::Method::GET,
        "/v1/chain?x=2",
        &ehrchain_api::auth::body_hash(b""),
        now
    )
    .is_err());

    // A browser-generated identity is a valid Rust identity with the same public keys.
    let g = &r["generated"];
    let raw: [u8; 64] = hex::decode(g["secrets"].as_str().expect("hex"))
        .expect("hex")
        .try_into()
        .expect("64 bytes");
    let rebuilt = Identity::from_secret_bytes(&SecretBytes::new(raw)).expect("identity");
    assert_eq!(g["sign_public"], rebuilt.public().sign.to_string());
    assert_eq!(g["encrypt_public"], rebuilt.public().encrypt.to_string());

    assert_eq!(r["backup_roundtrip"], true);
    assert!(r["backup_wrong_password"]["error"].is_string());
    assert_eq!(r["verifier_is_sha256_of_auth"], true);
}

/// Issue 4's scenario in the browser. The script asserts each step and reports them; this test
/// starts the node, creates the hospital, and checks the script's report.
#[test]
fn browser_patient_grants_doctor_reads_revokes_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("node");
    let node = NodeProc::start(&data);
    for (name, kind) in [
        ("St Mary's Hospital", "hospital"),
        ("Acme Insurance", "insurer"),
        ("City Health Agency", "public-health-agency"),
    ] {
        let out = Command::new(BIN)
            .args(["--node", &node.url, "org", "create", "--data-dir"])
            .arg(&data)
            .args(["--name", name, "--kind", kind])
            .env("EHRCHAIN_NODE_PASSPHRASE", NODE_PASS)
            .output()
            .expect("org create");
        assert!(out.status.success(), "{out:?}");
    }
    let shots = std::env::var("EHRCHAIN_SCREENSHOTS").unwrap_or_default();
    let r = run_script(
        "scenario.mjs",
        &[
            &node.url,
            data.to_str().expect("utf-8"),
            BIN,
            shots.as_str(),
        ],
    );
    assert_eq!(r["ok"], true, "scenario failed: {r:#}");
    let steps: Vec<&str> = r["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for must in [
        "patient opened the record: the node sent ciphertext only",
        "doctor opened the record",
        "insurer sees and opens only the record its payment grant covers",
        "public-health officer sees and opens only what the organisation grant covers",
        "released a population count",
        "doctor refused after revocation",
        "read under it",
        "break-glass alert first",
        "access history shows the doctor",
        "sees the erasure receipt",
        "node responses contained the plaintext",
        "verified the record anchor",
        "org admin revoked the doctor",
        "logged in on another device",
        "upload progress shown",
        "no serious or critical WCAG 2 A/AA issues",
    ] {
        assert!(
            steps.iter().any(|s| s.contains(must)),
            "missing step {must:?} in {steps:?}"
        );
    }
}
