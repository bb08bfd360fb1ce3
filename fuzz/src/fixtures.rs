//! Fixed keys and real, deterministic encodings: what the checks compare against and what the
//! seed generator (`examples/gen_seeds.rs`) writes to `seeds/`.

use std::sync::OnceLock;

use ehrchain_crypto::envelope::{self, Envelope};
use ehrchain_crypto::keyfile;
use ehrchain_crypto::{
    sha256, Cid, DataKey, DecryptionKey, EncryptionKey, Encryptor, Hash, KdfParams, PublicKey,
    SecretBytes, SigningKey,
};
use ehrchain_ledger::{merkle, receipts_root, InclusionProof};
use ehrchain_types::{
    ActorRef, AgentId, AgentState, AggregateQuery, AnchorRecord, AuditEntry, AuditEvent, Basis,
    Block, BlockHeader, BreakGlass, BreakGlassState, Canonical, Category, CategoryPattern,
    Certificate, DenyReason, Genesis, GenesisValidator, Grant, GrantId, GrantState, Grantee,
    GroupBy, Height, Mode, OrgId, OrgKind, OrganisationState, Outcome, PatientId, PatientState,
    Purpose, Receipt, RecordId, RecordState, RegisterAgent, RegisterOrganisation, RejectReason,
    Role, Scope, SignedTx, Timestamp, Tx, TxBody,
};
use rand::rngs::StdRng;
use rand::SeedableRng;

/// A deterministic generator for fixtures (never for anything secret outside fuzzing).
pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// The Ed25519 key with seed `[n; 32]`.
pub fn signing_key(n: u8) -> SigningKey {
    SigningKey::from_seed(&SecretBytes::new([n; 32]))
}

/// The X25519 public key of secret `[n; 32]`.
pub fn encryption_key(n: u8) -> EncryptionKey {
    DecryptionKey::from_bytes(&SecretBytes::new([n; 32])).public()
}

/// Key seeds of the actors in the fixtures.
pub const VALIDATOR: u8 = 1;
pub const ORG: u8 = 2;
pub const AGENT: u8 = 3;
pub const PATIENT: u8 = 4;
pub const VALIDATOR_2: u8 = 5;

pub const GENESIS_TIME: Timestamp = Timestamp(1_700_000_000_000);
pub const BLOCK_TIME: Timestamp = Timestamp(1_700_000_060_000);

pub fn record_id() -> RecordId {
    RecordId::from_bytes([0x07; 16])
}

pub fn grant_id() -> GrantId {
    GrantId::from_bytes([0x08; 16])
}

fn org_id() -> OrgId {
    OrgId::of(&signing_key(ORG).public())
}

fn agent_id() -> AgentId {
    AgentId::of(&signing_key(AGENT).public())
}

fn patient_id() -> PatientId {
    PatientId::of(&signing_key(PATIENT).public())
}

fn signed(key: u8, nonce: u64, body: TxBody) -> SignedTx {
    let key = signing_key(key);
    Tx {
        signer: key.public(),
        nonce,
        body,
    }
    .sign(&key)
}

/// Correctly signed transactions, at least one of every kind and every grantee form.
pub fn sample_txs() -> Vec<SignedTx> {
    let lab = Category::new("Observation/laboratory").expect("category");
    vec![
        signed(
            VALIDATOR,
            1,
            TxBody::RegisterOrganisation(RegisterOrganisation {
                name: "St. Mary's Hospital".into(),
                kind: OrgKind::Hospital,
                sign_key: signing_key(ORG).public(),
                encrypt_key: encryption_key(ORG),
            }),
        ),
        signed(
            ORG,
            2,
            TxBody::RegisterAgent(RegisterAgent {
                org: org_id(),
                role: Role::Doctor,
                name: "Dr. Ada Example".into(),
                licence: "GMC-1234567".into(),
                sign_key: signing_key(AGENT).public(),
                encrypt_key: encryption_key(AGENT),
            }),
        ),
        signed(
            PATIENT,
            3,
            TxBody::RegisterPatient {
                encrypt_key: encryption_key(PATIENT),
            },
        ),
        signed(
            AGENT,
            4,
            TxBody::AnchorRecord(AnchorRecord {
                record: record_id(),
                patient: patient_id(),
                category: lab.clone(),
                media_type: "application/fhir+json".into(),
                size: 1234,
                cid: Cid::of(b"ciphertext"),
                supersedes: None,
            }),
        ),
        signed(
            AGENT,
            5,
            TxBody::AnchorRecord(AnchorRecord {
                record: RecordId::from_bytes([0x09; 16]),
                patient: patient_id(),
                category: Category::new("ImagingStudy").expect("category"),
                media_type: "application/dicom".into(),
                size: u64::MAX,
                cid: Cid::of(b"other ciphertext"),
                supersedes: Some(record_id()),
            }),
        ),
        signed(
            PATIENT,
            6,
            TxBody::Grant(Grant {
                grant: grant_id(),
                grantee: Grantee::Role {
                    org: org_id(),
                    role: Role::Nurse,
                },
                scope: Scope {
                    categories: vec![
                        CategoryPattern::new("laboratory").expect("pattern"),
                        CategoryPattern::new("*").expect("pattern"),
                    ],
                    records: vec![record_id()],
                },
                mode: Mode::Read,
                purpose: Purpose::Treatment,
                not_before: GENESIS_TIME,
                expires: Timestamp(1_800_000_000_000),
            }),
        ),
        signed(
            PATIENT,
            7,
            TxBody::Grant(Grant {
                grant: GrantId::from_bytes([0x0a; 16]),
                grantee: Grantee::Agent(agent_id()),
                scope: Scope {
                    categories: vec![],
                    records: vec![record_id(), RecordId::from_bytes([0x09; 16])],
                },
                mode: Mode::Append,
                purpose: Purpose::Research,
                not_before: Timestamp(0),
                expires: Timestamp(u64::MAX),
            }),
        ),
        signed(
            PATIENT,
            8,
            TxBody::Grant(Grant {
                grant: GrantId::from_bytes([0x0b; 16]),
                grantee: Grantee::Organisation(org_id()),
                scope: Scope {
                    categories: vec![CategoryPattern::new("Observation").expect("pattern")],
                    records: vec![],
                },
                mode: Mode::Read,
                purpose: Purpose::Payment,
                not_before: GENESIS_TIME,
                expires: BLOCK_TIME,
            }),
        ),
        signed(PATIENT, 9, TxBody::Revoke { grant: grant_id() }),
        signed(
            AGENT,
            10,
            TxBody::BreakGlass(BreakGlass {
                patient: patient_id(),
                reason: "unconscious in A&E\nno next of kin reachable".into(),
                duration_secs: 3600,
            }),
        ),
        signed(
            AGENT,
            11,
            TxBody::Access {
                record: record_id(),
                purpose: Purpose::Emergency,
            },
        ),
        signed(
            PATIENT,
            12,
            TxBody::EraseRequest {
                record: record_id(),
            },
        ),
        signed(
            VALIDATOR,
            13,
            TxBody::EraseReceipt {
                record: record_id(),
            },
        ),
        signed(ORG, 14, TxBody::RevokeAgent { agent: agent_id() }),
        signed(
            AGENT,
            15,
            TxBody::AnchorBatch {
                anchors: (0x20u8..0x23)
                    .map(|n| AnchorRecord {
                        record: RecordId::from_bytes([n; 16]),
                        patient: patient_id(),
                        category: Category::new("Observation/vital-signs").expect("category"),
                        media_type: "application/fhir+json".into(),
                        size: 300 + n as u64,
                        cid: Cid::of(&[n]),
                        supersedes: None,
                    })
                    .collect(),
            },
        ),
        signed(
            AGENT,
            16,
            TxBody::ReleaseAggregate(AggregateQuery {
                purpose: Purpose::PublicHealth,
                condition: Some("44054006".into()),
                group_by: GroupBy::Region(vec!["Massachusetts".into(), "Kerala".into()]),
                epsilon_milli: 500,
            }),
        ),
    ]
}

/// One receipt of every outcome form, cycled over `txs`.
pub fn sample_receipts(txs: &[SignedTx]) -> Vec<Receipt> {
    let outcomes = [
        Outcome::Applied,
        Outcome::Permitted(Basis::Owner),
        Outcome::Permitted(Basis::Author),
        Outcome::Permitted(Basis::Grant(grant_id())),
        Outcome::Permitted(Basis::BreakGlass { until: BLOCK_TIME }),
        Outcome::Denied(DenyReason::NoGrant),
        Outcome::Denied(DenyReason::NotFound),
        Outcome::Denied(DenyReason::UnknownReader),
        Outcome::Rejected(RejectReason::Replay),
        Outcome::Rejected(RejectReason::SupersedeMismatch),
        Outcome::Rejected(RejectReason::BadDuration),
        Outcome::Rejected(RejectReason::PrivacyBudgetExhausted),
    ];
    txs.iter()
        .zip(outcomes.iter().cycle())
        .map(|(t, o)| Receipt {
            tx: t.tx.id(),
            outcome: *o,
        })
        .collect()
}

pub fn sample_genesis() -> Genesis {
    Genesis {
        chain: "ehrchain-fuzz".into(),
        time: GENESIS_TIME,
        validators: vec![
            GenesisValidator {
                name: "validator-1".into(),
                key: signing_key(VALIDATOR).public(),
            },
            GenesisValidator {
                name: "validator 2\nbackup".into(),
                key: signing_key(VALIDATOR_2).public(),
            },
        ],
    }
}

/// The validator set of [`sample_genesis`].
pub fn validators() -> Vec<PublicKey> {
    sample_genesis().validator_keys()
}

/// A certified block over `txs` (signed by both genesis validators).
pub fn make_block(height: u64, prev: Hash, txs: Vec<SignedTx>) -> Block {
    let receipts = sample_receipts(&txs);
    let tx_bytes: Vec<Vec<u8>> = txs.iter().map(Canonical::to_bytes).collect();
    let header = BlockHeader {
        height: Height(height),
        prev,
        time: BLOCK_TIME,
        tx_count: u32::try_from(txs.len()).expect("few txs"),
        tx_root: merkle::root(&tx_bytes),
        receipts_root: receipts_root(&receipts),
        state_root: sha256(b"state root"),
        proposer: signing_key(VALIDATOR).public(),
    };
    let certificate = Certificate::Votes(vec![
        header.sign(&signing_key(VALIDATOR)),
        header.sign(&signing_key(VALIDATOR_2)),
    ]);
    Block {
        header,
        certificate,
        txs,
        receipts,
    }
}

/// Blocks: empty, one transaction, and every sample transaction.
pub fn sample_blocks() -> Vec<Block> {
    let chain_id = sample_genesis().chain_id();
    let txs = sample_txs();
    let b1 = make_block(1, chain_id, txs.clone());
    let b2 = make_block(2, b1.header.hash(), txs[..1].to_vec());
    let b3 = make_block(3, b2.header.hash(), vec![]);
    vec![b1, b2, b3]
}

/// Inclusion proofs of several positions in the sample blocks; each verifies.
pub fn sample_proofs() -> Vec<InclusionProof> {
    let blocks = sample_blocks();
    let mut proofs = Vec::new();
    for block in &blocks {
        let n = block.txs.len();
        for index in [0, n / 2, n.saturating_sub(1)] {
            if let Some(p) = InclusionProof::build(block, index) {
                if !proofs.contains(&p) {
                    proofs.push(p);
                }
            }
        }
    }
    proofs
}

/// One audit entry of every event form.
pub fn sample_audit_entries() -> Vec<AuditEntry> {
    let events = vec![
        AuditEvent::Access {
            reader: ActorRef::Agent(agent_id()),
            record: record_id(),
            purpose: Purpose::Treatment,
            outcome: Outcome::Permitted(Basis::Grant(grant_id())),
        },
        AuditEvent::Access {
            reader: ActorRef::Organisation(org_id()),
            record: record_id(),
            purpose: Purpose::PublicHealth,
            outcome: Outcome::Denied(DenyReason::NoGrant),
        },
        AuditEvent::BreakGlass {
            agent: agent_id(),
            reason: "cardiac arrest".into(),
            until: BLOCK_TIME.plus_secs(3600),
        },
        AuditEvent::Anchor {
            record: record_id(),
            author: ActorRef::Patient(patient_id()),
        },
        AuditEvent::Grant { grant: grant_id() },
        AuditEvent::Revoke { grant: grant_id() },
        AuditEvent::EraseRequest {
            record: record_id(),
        },
        AuditEvent::EraseReceipt {
            record: record_id(),
            validator: signing_key(VALIDATOR).public(),
        },
        AuditEvent::Counted {
            requester: agent_id(),
            purpose: Purpose::PublicHealth,
        },
    ];
    events
        .into_iter()
        .enumerate()
        .map(|(i, event)| AuditEntry {
            at: BLOCK_TIME,
            height: Height(i as u64 + 1),
            tx: sha256(&[i as u8]),
            event,
        })
        .collect()
}

pub fn sample_states() -> (
    OrganisationState,
    AgentState,
    PatientState,
    RecordState,
    GrantState,
    BreakGlassState,
) {
    let txs = sample_txs();
    let anchor = txs
        .iter()
        .find_map(|t| match &t.tx.body {
            TxBody::AnchorRecord(a) if a.supersedes.is_some() => Some(a.clone()),
            _ => None,
        })
        .expect("an anchor");
    let grant = txs
        .iter()
        .find_map(|t| match &t.tx.body {
            TxBody::Grant(g) => Some(g.clone()),
            _ => None,
        })
        .expect("a grant");
    (
        OrganisationState {
            id: org_id(),
            name: "St. Mary's Hospital".into(),
            kind: OrgKind::ResearchInstitute,
            sign_key: signing_key(ORG).public(),
            encrypt_key: encryption_key(ORG),
            registered: GENESIS_TIME,
        },
        AgentState {
            id: agent_id(),
            org: org_id(),
            role: Role::OrgAdmin,
            name: "Admin".into(),
            licence: String::new(),
            sign_key: signing_key(AGENT).public(),
            encrypt_key: encryption_key(AGENT),
            registered: GENESIS_TIME,
            revoked: Some(BLOCK_TIME),
        },
        PatientState {
            id: patient_id(),
            sign_key: signing_key(PATIENT).public(),
            encrypt_key: encryption_key(PATIENT),
            registered: GENESIS_TIME,
        },
        RecordState {
            anchor,
            author: ActorRef::Key(signing_key(VALIDATOR).public()),
            anchored: BLOCK_TIME,
            height: Height(7),
            superseded_by: Some(RecordId::from_bytes([0x0c; 16])),
            erased: None,
        },
        GrantState {
            patient: patient_id(),
            grant,
            granted: BLOCK_TIME,
            revoked: None,
        },
        BreakGlassState {
            agent: agent_id(),
            patient: patient_id(),
            reason: "stroke".into(),
            from: BLOCK_TIME,
            until: BLOCK_TIME.plus_secs(60),
        },
    )
}

// ---------------------------------------------------------------------------------------------
// Record streams.

/// The fixed key the stream target decrypts under.
pub const STREAM_KEY: [u8; 32] = [0x42; 32];

pub fn stream_key() -> DataKey {
    DataKey::from_bytes(SecretBytes::new(STREAM_KEY))
}

/// A generator that yields fixed bytes (cycled): makes [`Encryptor::new`] pick a chosen nonce
/// prefix, so the encryption of a plaintext under a header is reproducible.
pub struct FixedRng {
    bytes: Vec<u8>,
    pos: usize,
}

impl FixedRng {
    pub fn new(bytes: &[u8]) -> Self {
        assert!(!bytes.is_empty());
        FixedRng {
            bytes: bytes.to_vec(),
            pos: 0,
        }
    }
}

impl rand::RngCore for FixedRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for d in dest {
            *d = self.bytes[self.pos % self.bytes.len()];
            self.pos += 1;
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rand::CryptoRng for FixedRng {}

/// Starts an encryptor under [`STREAM_KEY`] whose header carries `prefix`.
pub fn stream_encryptor(prefix: &[u8; 7]) -> Encryptor {
    Encryptor::new(&stream_key(), &mut FixedRng::new(prefix))
}

/// The whole stream (header and segments) for `plaintext` under [`STREAM_KEY`] and `prefix`.
pub fn encrypt_with_prefix(prefix: &[u8; 7], plaintext: &[u8]) -> Vec<u8> {
    let mut e = stream_encryptor(prefix);
    let mut out = e.header().to_vec();
    e.update(plaintext, &mut out).expect("encrypts");
    e.finish(&mut out).expect("encrypts");
    out
}

/// Plaintext byte `i` is `i mod 251`.
pub fn stream_plaintext(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

// ---------------------------------------------------------------------------------------------
// Envelopes.

/// The associated data every fixture envelope is bound to (a record id).
pub const ENVELOPE_CONTEXT: &[u8] = &[0x07; 16];

/// The fixed reader the envelope target opens with.
pub fn envelope_recipient() -> DecryptionKey {
    DecryptionKey::from_bytes(&SecretBytes::new([0x21; 32]))
}

/// Envelopes sealed to [`envelope_recipient`] under [`ENVELOPE_CONTEXT`], with their data keys:
/// the only 80-byte strings that may open.
pub fn sample_envelopes() -> &'static [(Vec<u8>, [u8; 32])] {
    static CELL: OnceLock<Vec<(Vec<u8>, [u8; 32])>> = OnceLock::new();
    CELL.get_or_init(|| {
        let recipient = envelope_recipient().public();
        (0..4u8)
            .map(|i| {
                let raw = [0x30 + i; 32];
                let key = DataKey::from_bytes(SecretBytes::new(raw));
                let env: Envelope =
                    envelope::seal(&mut rng(u64::from(i)), &recipient, ENVELOPE_CONTEXT, &key)
                        .expect("seals");
                (env.to_bytes(), raw)
            })
            .collect()
    })
}

// ---------------------------------------------------------------------------------------------
// Key files.

/// The fixed passphrase the key-file target opens with.
pub const KEYFILE_PASSPHRASE: &[u8] = b"fuzz passphrase";

/// Key files sealed under [`KEYFILE_PASSPHRASE`] with the cheapest accepted parameters.
pub fn sample_keyfiles() -> Vec<Vec<u8>> {
    [
        &[0x5a; 32][..],
        b"",
        b"a 64-byte secret would normally go here......................",
    ]
    .iter()
    .enumerate()
    .map(|(i, plain)| {
        keyfile::seal(
            KEYFILE_PASSPHRASE,
            plain,
            KdfParams::MIN,
            &mut rng(100 + i as u64),
        )
        .expect("seals")
    })
    .collect()
}

// ---------------------------------------------------------------------------------------------
// Signed HTTP requests.

/// Seed of the key the auth target's valid headers are signed with.
pub const AUTH_KEY: u8 = 0x51;
/// The node's clock as the auth target sees it.
pub const AUTH_NOW_MS: u64 = 1_750_000_000_000;
/// The request body whose hash the auth target's requests sign.
pub const AUTH_BODY: &[u8] = b"{\"purpose\":\"treatment\"}";
