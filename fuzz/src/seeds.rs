//! The seed corpus: real encodings for every target, built deterministically from the fixtures.
//! `cargo run --example gen_seeds` writes them to `seeds/<target>/<name>`; `cargo test` checks
//! the files are current and that every check holds on them.

use ehrchain_api::auth::sign_request;
use ehrchain_crypto::{sha256, Cid, Hash, KdfParams, Signature};
use ehrchain_types::{
    ActorRef, AgentId, Basis, Canonical, Category, CategoryPattern, Genesis, GrantId, Grantee,
    Height, Mode, OrgId, OrgKind, Outcome, PatientId, Purpose, Receipt, RecordId, RejectReason,
    Role, Scope, Timestamp,
};

use crate::checks::{canonical_selector, METHODS};
use crate::fixtures::{self, *};

/// One seed: the target it is for, a file name, and its bytes.
pub struct Seed {
    pub target: &'static str,
    pub name: String,
    pub bytes: Vec<u8>,
}

/// Every fuzz target, in the order the README lists them.
pub const TARGETS: &[&str] = &[
    "signed_tx",
    "block",
    "genesis",
    "audit_entry",
    "canonical",
    "inclusion_proof",
    "envelope",
    "cid",
    "public_key",
    "keyfile",
    "stream_decrypt",
    "api_auth",
];

struct Out(Vec<Seed>);

impl Out {
    fn add(&mut self, target: &'static str, name: impl Into<String>, bytes: impl Into<Vec<u8>>) {
        debug_assert!(TARGETS.contains(&target));
        self.0.push(Seed {
            target,
            name: name.into(),
            bytes: bytes.into(),
        });
    }

    fn canonical<T: Canonical>(&mut self, type_name: &str, n: usize, value: &T) {
        let mut bytes = vec![canonical_selector(type_name)];
        bytes.extend(value.to_bytes());
        self.add("canonical", format!("{type_name}-{n}"), bytes);
    }
}

/// All seeds (the stream seeds are up to 128 KiB; everything else is small).
pub fn all() -> Vec<Seed> {
    let mut out = Out(Vec::new());
    let txs = sample_txs();
    let blocks = sample_blocks();
    let genesis = sample_genesis();
    let entries = sample_audit_entries();
    let proofs = sample_proofs();

    for (i, t) in txs.iter().enumerate() {
        out.add(
            "signed_tx",
            format!("{:02}-{}", i, t.tx.body.kind().as_str()),
            t.to_bytes(),
        );
    }
    for (i, b) in blocks.iter().enumerate() {
        out.add(
            "block",
            format!("block-{}-{}txs", i + 1, b.txs.len()),
            b.to_bytes(),
        );
    }
    out.add("genesis", "two-validators", genesis.to_bytes());
    let empty = Genesis {
        chain: String::new(),
        time: Timestamp(0),
        validators: vec![],
    };
    out.add("genesis", "no-validators", empty.to_bytes());
    for (i, e) in entries.iter().enumerate() {
        out.add("audit_entry", format!("event-{}", i + 1), e.to_bytes());
    }
    for (i, p) in proofs.iter().enumerate() {
        out.add(
            "inclusion_proof",
            format!("proof-{i}-height{}-index{}", p.header.height.0, p.index),
            p.to_bytes(),
        );
    }

    // canonical: at least one value of every type.
    for (i, t) in txs.iter().enumerate() {
        out.canonical("Tx", i, &t.tx);
        out.canonical("SignedTx", i, t);
    }
    for (i, b) in blocks.iter().enumerate() {
        out.canonical("BlockHeader", i, &b.header);
        out.canonical("Certificate", i, &b.certificate);
        out.canonical("Block", i, b);
    }
    out.canonical("Genesis", 0, &genesis);
    out.canonical("Genesis", 1, &empty);
    let outcomes = [
        Outcome::Applied,
        Outcome::Permitted(Basis::Owner),
        Outcome::Permitted(Basis::Author),
        Outcome::Permitted(Basis::Grant(GrantId::from_bytes([1; 16]))),
        Outcome::Permitted(Basis::BreakGlass {
            until: Timestamp(5),
        }),
        Outcome::Denied(ehrchain_types::DenyReason::UnknownReader),
        Outcome::Rejected(RejectReason::Replay),
        Outcome::Rejected(RejectReason::SupersedeMismatch),
    ];
    for (i, o) in outcomes.iter().enumerate() {
        out.canonical("Outcome", i, o);
        out.canonical(
            "Receipt",
            i,
            &Receipt {
                tx: sha256(&[i as u8]),
                outcome: *o,
            },
        );
    }
    out.canonical("Basis", 0, &Basis::Grant(GrantId::from_bytes([2; 16])));
    out.canonical(
        "Basis",
        1,
        &Basis::BreakGlass {
            until: Timestamp(9),
        },
    );
    let pk = signing_key(VALIDATOR).public();
    let actors = [
        ActorRef::Patient(PatientId::from_bytes([3; 16])),
        ActorRef::Agent(AgentId::from_bytes([4; 16])),
        ActorRef::Organisation(OrgId::from_bytes([5; 16])),
        ActorRef::Key(pk),
    ];
    for (i, a) in actors.iter().enumerate() {
        out.canonical("ActorRef", i, a);
    }
    let grantees = [
        Grantee::Agent(AgentId::from_bytes([4; 16])),
        Grantee::Organisation(OrgId::from_bytes([5; 16])),
        Grantee::Role {
            org: OrgId::from_bytes([5; 16]),
            role: Role::PublicHealthOfficer,
        },
    ];
    for (i, g) in grantees.iter().enumerate() {
        out.canonical("Grantee", i, g);
    }
    out.canonical(
        "Scope",
        0,
        &Scope {
            categories: vec![
                CategoryPattern::new("DocumentReference/clinical-note").expect("pattern"),
                CategoryPattern::new("*").expect("pattern"),
            ],
            records: vec![RecordId::from_bytes([6; 16])],
        },
    );
    out.canonical("Scope", 1, &Scope::default());
    out.canonical(
        "Category",
        0,
        &Category::new("Observation/vital-signs").expect("category"),
    );
    out.canonical(
        "Category",
        1,
        &Category::new(&"A".repeat(64)).expect("category"),
    );
    out.canonical(
        "CategoryPattern",
        0,
        &CategoryPattern::new("*").expect("pattern"),
    );
    out.canonical(
        "CategoryPattern",
        1,
        &CategoryPattern::new("laboratory").expect("pattern"),
    );
    let (org, agent, patient, record, grant, glass) = sample_states();
    out.canonical("OrganisationState", 0, &org);
    out.canonical("AgentState", 0, &agent);
    out.canonical("PatientState", 0, &patient);
    out.canonical("RecordState", 0, &record);
    out.canonical("GrantState", 0, &grant);
    out.canonical("BreakGlassState", 0, &glass);
    for (i, e) in entries.iter().enumerate() {
        out.canonical("AuditEntry", i, e);
    }
    out.canonical("PatientId", 0, &PatientId::from_bytes([0xaa; 16]));
    out.canonical("AgentId", 0, &AgentId::from_bytes([0xab; 16]));
    out.canonical("OrgId", 0, &OrgId::from_bytes([0xac; 16]));
    out.canonical("RecordId", 0, &RecordId::from_bytes([0xad; 16]));
    out.canonical("GrantId", 0, &GrantId::from_bytes([0xae; 16]));
    out.canonical("Height", 0, &Height(u64::MAX));
    out.canonical("Timestamp", 0, &Timestamp(1_700_000_000_000));
    for (i, r) in Role::ALL.iter().enumerate() {
        out.canonical("Role", i, r);
    }
    for (i, k) in OrgKind::ALL.iter().enumerate() {
        out.canonical("OrgKind", i, k);
    }
    for (i, p) in Purpose::ALL.iter().enumerate() {
        out.canonical("Purpose", i, p);
    }
    for (i, m) in Mode::ALL.iter().enumerate() {
        out.canonical("Mode", i, m);
    }
    out.canonical("Hash", 0, &sha256(b"hash"));
    out.canonical("Hash", 1, &Hash::ZERO);
    out.canonical("PublicKey", 0, &pk);
    out.canonical("EncryptionKey", 0, &encryption_key(9));
    out.canonical("Signature", 0, &txs[0].signature);
    out.canonical("Signature", 1, &Signature::from_bytes(&[0xff; 64]));
    out.canonical("Cid", 0, &Cid::of(b"blob"));
    out.canonical("u64", 0, &0x0102_0304_0506_0708u64);
    for (i, p) in proofs.iter().enumerate() {
        out.canonical("InclusionProof", i, p);
    }

    // Envelopes sealed to the fixed reader, and one sealed to somebody else.
    for (i, (bytes, _)) in fixtures::sample_envelopes().iter().enumerate() {
        out.add("envelope", format!("sealed-{i}"), bytes.clone());
    }
    let stranger = ehrchain_crypto::envelope::seal(
        &mut rng(99),
        &encryption_key(0x22),
        ENVELOPE_CONTEXT,
        &ehrchain_crypto::DataKey::from_bytes(ehrchain_crypto::SecretBytes::new([1; 32])),
    )
    .expect("seals");
    out.add("envelope", "sealed-to-another-reader", stranger.to_bytes());

    // CIDs, binary and text.
    for (i, content) in [&b""[..], b"hello world\n", &[0xff; 100]]
        .iter()
        .enumerate()
    {
        let cid = Cid::of(content);
        out.add("cid", format!("binary-{i}"), cid.to_bytes());
        out.add("cid", format!("text-{i}"), cid.to_string());
    }

    // Public keys: real ones (raw, and hex of either case), and encodings that must be refused.
    for n in [VALIDATOR, ORG, AGENT] {
        let k = signing_key(n).public();
        out.add("public_key", format!("raw-{n}"), k.as_bytes().to_vec());
        out.add("public_key", format!("hex-{n}"), k.to_string());
        out.add(
            "public_key",
            format!("HEX-{n}"),
            k.to_string().to_ascii_uppercase(),
        );
    }
    let mut identity = [0u8; 32];
    identity[0] = 1;
    out.add("public_key", "identity-point", identity.to_vec());
    let mut y_is_p = [0xffu8; 32];
    y_is_p[0] = 0xed;
    y_is_p[31] = 0x7f;
    out.add("public_key", "y-equals-p", y_is_p.to_vec());

    // Key files: real ones (cheapest parameters) and one with absurd parameters.
    let files = sample_keyfiles();
    for (i, f) in files.iter().enumerate() {
        out.add("keyfile", format!("sealed-min-params-{i}"), f.clone());
    }
    let mut absurd = files[0].clone();
    absurd[5..9].copy_from_slice(&u32::MAX.to_be_bytes());
    absurd[9..13].copy_from_slice(&u32::MAX.to_be_bytes());
    out.add("keyfile", "absurd-params", absurd);
    let mut too_many_passes = files[0].clone();
    too_many_passes[9..13].copy_from_slice(&(KdfParams::MAX.t_cost + 1).to_be_bytes());
    out.add("keyfile", "seventeen-passes", too_many_passes);

    // Record streams under the fixed key: empty, short, exactly one full segment, and two full
    // segments plus a short last one.
    for (prefix, len) in [
        ([1, 2, 3, 4, 5, 6, 7], 0usize),
        ([1, 2, 3, 4, 5, 6, 7], 1),
        ([9, 9, 9, 9, 9, 9, 9], 1000),
        ([0, 0, 0, 0, 0, 0, 0], 65536),
        ([7, 6, 5, 4, 3, 2, 1], 2 * 65536 + 10),
    ] {
        let ct = encrypt_with_prefix(&prefix, &stream_plaintext(len));
        out.add("stream_decrypt", format!("plaintext-{len}"), ct);
    }

    // Signed requests: raw mode (a valid header, 0x00, the path) and edit mode (no edits, and
    // a few edits of the valid header).
    let key = signing_key(AUTH_KEY);
    let body_hash = ehrchain_api::auth::body_hash(AUTH_BODY);
    let paths = [
        "/v1/records/rec_07070707070707070707070707070707/envelope?purpose=treatment",
        "/v1/tx",
        "",
    ];
    for (i, path) in paths.iter().enumerate() {
        let m = i % METHODS.len();
        let header = sign_request(&key, METHODS[m].as_str(), path, AUTH_NOW_MS, &body_hash);
        let mut raw = vec![0x80 | m as u8, 0, 0];
        raw.extend_from_slice(header.as_bytes());
        raw.push(0);
        raw.extend_from_slice(path.as_bytes());
        out.add("api_auth", format!("raw-{i}"), raw);

        let mut edit = vec![m as u8, 0, 30];
        edit.push(path.len() as u8);
        edit.extend_from_slice(path.as_bytes());
        out.add("api_auth", format!("edit-none-{i}"), edit.clone());
        // Replace byte 3 by 'A', insert '0' at 66, delete byte 200.
        edit.extend_from_slice(&[0, 3, b'A', 1, 66, b'0', 2, 200, 0]);
        out.add("api_auth", format!("edit-some-{i}"), edit);
    }
    let mut late = vec![1u8, 0x01, 0x2d]; // 301 s of skew: refused
    late.push(0);
    out.add("api_auth", "edit-none-late", late);

    out.0
}
