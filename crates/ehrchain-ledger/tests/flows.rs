//! The ledger's flows end to end on an in-memory state: registration, records, grants, access
//! decisions by block time, break-glass, erasure, replay, and inclusion proofs.

use ehrchain_crypto::{Cid, Identity, SecretBytes, SigningKey};
use ehrchain_ledger::{
    execute, genesis_state, BlockContext, InclusionProof, MemoryState, ProofError, StateView,
};
use ehrchain_types::*;

struct Chain {
    state: MemoryState,
    validator: SigningKey,
    height: Height,
    time: Timestamp,
    root: ehrchain_crypto::Hash,
    prev_hash: ehrchain_crypto::Hash,
    blocks: Vec<Block>,
    nonce: u64,
}

impl Chain {
    fn new() -> Chain {
        let validator = SigningKey::from_seed(&SecretBytes::new([42; 32]));
        let genesis = Genesis {
            chain: "test".into(),
            time: Timestamp(1_000_000),
            validators: vec![GenesisValidator {
                name: "v0".into(),
                key: validator.public(),
            }],
        };
        let (changes, root) = genesis_state(&genesis);
        let mut state = MemoryState::default();
        state.apply(&changes);
        Chain {
            state,
            validator,
            height: Height(0),
            time: genesis.time,
            root,
            prev_hash: genesis.chain_id(),
            blocks: vec![],
            nonce: 0,
        }
    }

    fn tx(&mut self, key: &SigningKey, body: TxBody) -> SignedTx {
        self.nonce += 1;
        Tx {
            signer: key.public(),
            nonce: self.nonce,
            body,
        }
        .sign(key)
    }

    /// Commits one block at `advance_ms` after the previous one.
    fn block(&mut self, advance_ms: u64, txs: Vec<SignedTx>) -> Vec<Outcome> {
        let verified: Vec<VerifiedTx> = txs.into_iter().map(|t| t.verify().unwrap()).collect();
        self.height = self.height.next();
        self.time = Timestamp(self.time.0 + advance_ms);
        let ctx = BlockContext {
            height: self.height,
            time: self.time,
            prev_state_root: self.root,
        };
        let ex = execute(&self.state, &ctx, &verified).unwrap();
        self.state.apply(&ex.changes);
        self.root = ex.state_root;
        let header = BlockHeader {
            height: self.height,
            prev: self.prev_hash,
            time: self.time,
            tx_count: verified.len() as u32,
            tx_root: ex.tx_root,
            receipts_root: ex.receipts_root,
            state_root: ex.state_root,
            proposer: self.validator.public(),
        };
        self.prev_hash = header.hash();
        let certificate = Certificate::Votes(vec![header.sign(&self.validator)]);
        let outcomes = ex.receipts.iter().map(|r| r.outcome).collect();
        self.blocks.push(Block {
            header,
            certificate,
            txs: verified.iter().map(|v| v.signed().clone()).collect(),
            receipts: ex.receipts,
        });
        outcomes
    }

    fn one(&mut self, key: &SigningKey, body: TxBody) -> Outcome {
        let tx = self.tx(key, body);
        self.block(1000, vec![tx])[0]
    }
}

fn identity(n: u8) -> Identity {
    let mut seed = [0u8; 64];
    seed[..32].fill(n);
    seed[32..].fill(n.wrapping_add(100));
    Identity::from_secret_bytes(&SecretBytes::new(seed)).unwrap()
}

fn anchor(patient: PatientId, n: u8, category: &str) -> AnchorRecord {
    AnchorRecord {
        record: RecordId::from_bytes([n; 16]),
        patient,
        category: Category::new(category).unwrap(),
        media_type: "application/octet-stream".into(),
        size: 100,
        cid: Cid::of(&[n]),
        supersedes: None,
    }
}

struct World {
    chain: Chain,
    org: Identity,
    doctor: Identity,
    insurer: Identity,
    patient: Identity,
    pid: PatientId,
}

fn world() -> World {
    let mut chain = Chain::new();
    let (org, doctor, insurer, patient) = (identity(1), identity(2), identity(3), identity(4));
    let org_id = OrgId::of(&org.public().sign);
    let v = chain.validator.clone();
    assert_eq!(
        chain.one(
            &v,
            TxBody::RegisterOrganisation(RegisterOrganisation {
                name: "St Mary".into(),
                kind: OrgKind::Hospital,
                sign_key: org.public().sign,
                encrypt_key: org.public().encrypt,
            })
        ),
        Outcome::Applied
    );
    for (who, role) in [(&doctor, Role::Doctor), (&insurer, Role::InsurerOfficer)] {
        let body = TxBody::RegisterAgent(RegisterAgent {
            org: org_id,
            role,
            name: "x".into(),
            licence: "L".into(),
            sign_key: who.public().sign,
            encrypt_key: who.public().encrypt,
        });
        assert_eq!(chain.one(org.signing(), body), Outcome::Applied);
    }
    let body = TxBody::RegisterPatient {
        encrypt_key: patient.public().encrypt,
    };
    assert_eq!(chain.one(patient.signing(), body), Outcome::Applied);
    let pid = PatientId::of(&patient.public().sign);
    World {
        chain,
        org,
        doctor,
        insurer,
        patient,
        pid,
    }
}

fn read(w: &mut World, who: &Identity, n: u8, purpose: Purpose) -> Outcome {
    let body = TxBody::Access {
        record: RecordId::from_bytes([n; 16]),
        purpose,
    };
    w.chain.one(who.signing(), body)
}

#[test]
fn consent_lifecycle_by_block_time() {
    let mut w = world();
    let (p, pid) = (w.patient.clone(), w.pid);
    assert_eq!(
        w.chain.one(
            p.signing(),
            TxBody::AnchorRecord(anchor(pid, 1, "Observation/laboratory"))
        ),
        Outcome::Applied
    );
    assert_eq!(
        w.chain.one(
            p.signing(),
            TxBody::AnchorRecord(anchor(pid, 2, "ImagingStudy"))
        ),
        Outcome::Applied
    );
    let doctor = w.doctor.clone();
    let insurer = w.insurer.clone();

    assert_eq!(
        read(&mut w, &doctor, 1, Purpose::Treatment),
        Outcome::Denied(DenyReason::NoGrant)
    );
    assert_eq!(
        read(&mut w, &p, 1, Purpose::Treatment),
        Outcome::Permitted(Basis::Owner)
    );

    let gid = GrantId::from_bytes([5; 16]);
    let now = w.chain.time;
    let g = Grant {
        grant: gid,
        grantee: Grantee::Agent(AgentId::of(&doctor.public().sign)),
        scope: Scope {
            categories: vec![CategoryPattern::new("laboratory").unwrap()],
            records: vec![],
        },
        mode: Mode::Read,
        purpose: Purpose::Treatment,
        not_before: now,
        expires: now.plus_secs(10),
    };
    assert_eq!(
        w.chain.one(p.signing(), TxBody::Grant(g.clone())),
        Outcome::Applied
    );
    assert_eq!(
        read(&mut w, &doctor, 1, Purpose::Treatment),
        Outcome::Permitted(Basis::Grant(gid))
    );
    assert_eq!(
        read(&mut w, &doctor, 2, Purpose::Treatment),
        Outcome::Denied(DenyReason::NoGrant)
    );
    assert_eq!(
        read(&mut w, &insurer, 1, Purpose::Payment),
        Outcome::Denied(DenyReason::NoGrant)
    );
    // 8 seconds later (block time) the grant has expired.
    let tx = w.chain.tx(
        doctor.signing(),
        TxBody::Access {
            record: RecordId::from_bytes([1; 16]),
            purpose: Purpose::Treatment,
        },
    );
    assert_eq!(
        w.chain.block(8_000, vec![tx])[0],
        Outcome::Denied(DenyReason::NoGrant)
    );

    // A fresh grant, then revoked: denied again; revoking twice is refused; only the owner may revoke.
    let g2 = Grant {
        grant: GrantId::from_bytes([6; 16]),
        not_before: w.chain.time,
        expires: w.chain.time.plus_secs(86_400),
        ..g
    };
    assert_eq!(
        w.chain.one(p.signing(), TxBody::Grant(g2)),
        Outcome::Applied
    );
    assert!(matches!(
        read(&mut w, &doctor, 1, Purpose::Treatment),
        Outcome::Permitted(_)
    ));
    let revoke = TxBody::Revoke {
        grant: GrantId::from_bytes([6; 16]),
    };
    assert_eq!(
        w.chain.one(doctor.signing(), revoke.clone()),
        Outcome::Rejected(RejectReason::UnknownGrant)
    );
    assert_eq!(w.chain.one(p.signing(), revoke.clone()), Outcome::Applied);
    assert_eq!(
        w.chain.one(p.signing(), revoke),
        Outcome::Rejected(RejectReason::AlreadyRevoked)
    );
    assert_eq!(
        read(&mut w, &doctor, 1, Purpose::Treatment),
        Outcome::Denied(DenyReason::NoGrant)
    );

    // The audit shows the denial, the permitted read, and the grant.
    let audit = w.chain.state.audit_of(&pid).unwrap();
    let doctor_ref = ActorRef::Agent(AgentId::of(&doctor.public().sign));
    let reads: Vec<Outcome> = audit
        .iter()
        .filter_map(|e| match &e.event {
            AuditEvent::Access {
                reader, outcome, ..
            } if *reader == doctor_ref => Some(*outcome),
            _ => None,
        })
        .collect();
    assert_eq!(reads.len(), 6);
    assert_eq!(reads[0], Outcome::Denied(DenyReason::NoGrant));
    assert_eq!(reads[1], Outcome::Permitted(Basis::Grant(gid)));
}

#[test]
fn grant_with_past_expiry_is_refused() {
    let mut w = world();
    let p = w.patient.clone();
    let now = w.chain.time;
    let g = Grant {
        grant: GrantId::from_bytes([5; 16]),
        grantee: Grantee::Agent(AgentId::of(&w.doctor.public().sign)),
        scope: Scope {
            categories: vec![CategoryPattern::new("*").unwrap()],
            records: vec![],
        },
        mode: Mode::Read,
        purpose: Purpose::Treatment,
        not_before: Timestamp(0),
        expires: now, // already past when the next block is made
    };
    assert_eq!(
        w.chain.one(p.signing(), TxBody::Grant(g)),
        Outcome::Rejected(RejectReason::BadTimeWindow)
    );
}

#[test]
fn break_glass_is_time_limited_and_audited() {
    let mut w = world();
    let (p, pid) = (w.patient.clone(), w.pid);
    w.chain.one(
        p.signing(),
        TxBody::AnchorRecord(anchor(pid, 1, "ImagingStudy")),
    );
    let doctor = w.doctor.clone();
    let insurer = w.insurer.clone();
    let bg = |d| {
        TxBody::BreakGlass(BreakGlass {
            patient: pid,
            reason: "unconscious".into(),
            duration_secs: d,
        })
    };
    assert_eq!(
        w.chain.one(insurer.signing(), bg(60)),
        Outcome::Rejected(RejectReason::NotAuthorised)
    );
    assert_eq!(
        w.chain.one(doctor.signing(), bg(0)),
        Outcome::Rejected(RejectReason::BadDuration)
    );
    assert_eq!(w.chain.one(doctor.signing(), bg(5)), Outcome::Applied);
    assert!(matches!(
        read(&mut w, &doctor, 1, Purpose::Emergency),
        Outcome::Permitted(Basis::BreakGlass { .. })
    ));
    assert_eq!(
        read(&mut w, &doctor, 1, Purpose::Treatment),
        Outcome::Denied(DenyReason::NoGrant)
    );
    let tx = w.chain.tx(
        doctor.signing(),
        TxBody::Access {
            record: RecordId::from_bytes([1; 16]),
            purpose: Purpose::Emergency,
        },
    );
    assert_eq!(
        w.chain.block(10_000, vec![tx])[0],
        Outcome::Denied(DenyReason::NoGrant)
    );
    let audit = w.chain.state.audit_of(&pid).unwrap();
    assert!(audit.iter().any(
        |e| matches!(&e.event, AuditEvent::BreakGlass { reason, .. } if reason == "unconscious")
    ));
}

#[test]
fn erasure_and_receipts() {
    let mut w = world();
    let (p, pid) = (w.patient.clone(), w.pid);
    w.chain.one(
        p.signing(),
        TxBody::AnchorRecord(anchor(pid, 1, "ImagingStudy")),
    );
    let v = w.chain.validator.clone();
    let rec = RecordId::from_bytes([1; 16]);
    assert_eq!(
        w.chain.one(&v, TxBody::EraseReceipt { record: rec }),
        Outcome::Rejected(RejectReason::NotErased)
    );
    let doctor = w.doctor.clone();
    assert_eq!(
        w.chain
            .one(doctor.signing(), TxBody::EraseRequest { record: rec }),
        Outcome::Rejected(RejectReason::UnknownRecord)
    );
    assert_eq!(
        w.chain
            .one(p.signing(), TxBody::EraseRequest { record: rec }),
        Outcome::Applied
    );
    assert_eq!(
        read(&mut w, &p, 1, Purpose::Treatment),
        Outcome::Denied(DenyReason::NotFound)
    );
    assert_eq!(
        w.chain.one(&v, TxBody::EraseReceipt { record: rec }),
        Outcome::Applied
    );
    assert_eq!(
        w.chain.one(&v, TxBody::EraseReceipt { record: rec }),
        Outcome::Rejected(RejectReason::AlreadyErased)
    );
    assert_eq!(
        w.chain.state.erase_receipts(&rec).unwrap(),
        vec![v.public()]
    );
}

#[test]
fn authorisation_of_registrations() {
    let mut w = world();
    let stranger = identity(9);
    let org_id = OrgId::of(&w.org.public().sign);
    // Only validators register organisations; only the org (or its admins) registers staff.
    let body = TxBody::RegisterOrganisation(RegisterOrganisation {
        name: "Fake".into(),
        kind: OrgKind::Clinic,
        sign_key: stranger.public().sign,
        encrypt_key: stranger.public().encrypt,
    });
    assert_eq!(
        w.chain.one(stranger.signing(), body),
        Outcome::Rejected(RejectReason::NotAuthorised)
    );
    let body = TxBody::RegisterAgent(RegisterAgent {
        org: org_id,
        role: Role::Doctor,
        name: "y".into(),
        licence: "L".into(),
        sign_key: stranger.public().sign,
        encrypt_key: stranger.public().encrypt,
    });
    let doctor = w.doctor.clone();
    assert_eq!(
        w.chain.one(doctor.signing(), body.clone()),
        Outcome::Rejected(RejectReason::NotAuthorised)
    );
    let org = w.org.clone();
    assert_eq!(w.chain.one(org.signing(), body.clone()), Outcome::Applied);
    assert_eq!(
        w.chain.one(org.signing(), body),
        Outcome::Rejected(RejectReason::AlreadyExists)
    );
    // A revoked agent can no longer read even with a grant.
    let revoke = TxBody::RevokeAgent {
        agent: AgentId::of(&doctor.public().sign),
    };
    assert_eq!(w.chain.one(org.signing(), revoke), Outcome::Applied);
    let bg = TxBody::BreakGlass(BreakGlass {
        patient: w.pid,
        reason: "r".into(),
        duration_secs: 60,
    });
    assert_eq!(
        w.chain.one(doctor.signing(), bg),
        Outcome::Rejected(RejectReason::UnknownSigner)
    );
    // An agent without an append grant cannot add a record to a patient.
    let body = TxBody::AnchorRecord(anchor(w.pid, 3, "Observation/laboratory"));
    assert_eq!(
        w.chain.one(stranger.signing(), body),
        Outcome::Rejected(RejectReason::NotAuthorised)
    );
}

#[test]
fn replayed_transaction_is_rejected_deterministically() {
    let mut w = world();
    let p = w.patient.clone();
    let tx = w.chain.tx(
        p.signing(),
        TxBody::AnchorRecord(anchor(w.pid, 1, "ImagingStudy")),
    );
    assert_eq!(
        w.chain.block(1, vec![tx.clone(), tx.clone()]),
        vec![Outcome::Applied, Outcome::Rejected(RejectReason::Replay)]
    );
    assert_eq!(
        w.chain.block(1, vec![tx]),
        vec![Outcome::Rejected(RejectReason::Replay)]
    );
}

#[test]
fn same_blocks_give_same_state_root() {
    let a = world();
    let b = world();
    assert_eq!(a.chain.root, b.chain.root);
    assert_eq!(a.chain.state.entries, b.chain.state.entries);
}

#[test]
fn inclusion_proofs_verify_and_forgeries_do_not() {
    let mut w = world();
    let p = w.patient.clone();
    let txs: Vec<SignedTx> = (0..7u8)
        .map(|n| {
            w.chain.tx(
                p.signing(),
                TxBody::AnchorRecord(anchor(w.pid, 10 + n, "ImagingStudy")),
            )
        })
        .collect();
    w.chain.block(5, txs);
    let block = w.chain.blocks.last().unwrap().clone();
    let validators = vec![w.chain.validator.public()];
    for i in 0..7 {
        let proof = InclusionProof::build(&block, i).unwrap();
        proof.verify(&validators).unwrap();
        let bytes = proof.to_bytes();
        assert_eq!(InclusionProof::from_bytes(&bytes).unwrap(), proof);
    }
    let good = InclusionProof::build(&block, 3).unwrap();
    // Another transaction swapped in.
    let mut forged = good.clone();
    forged.tx = block.txs[4].clone();
    assert_eq!(forged.verify(&validators), Err(ProofError::TxPath));
    // Wrong index.
    let mut forged = good.clone();
    forged.index = 2;
    assert!(forged.verify(&validators).is_err());
    // A receipt that claims rejection.
    let mut forged = good.clone();
    forged.receipt.outcome = Outcome::Rejected(RejectReason::Replay);
    assert_eq!(forged.verify(&validators), Err(ProofError::ReceiptPath));
    // A header re-rooted to fit a forged tx, but then the certificate no longer matches.
    let mut forged = good.clone();
    forged.header.tx_root = ehrchain_crypto::sha256(b"x");
    assert_eq!(forged.verify(&validators), Err(ProofError::Certificate));
    // A different validator set (e.g. another chain's).
    let other = SigningKey::from_seed(&SecretBytes::new([7; 32])).public();
    assert_eq!(good.verify(&[other]), Err(ProofError::Certificate));
    // A proof from a mismatched block: header of block n-1 with this tx.
    let prev = InclusionProof::build(&w.chain.blocks[w.chain.blocks.len() - 2], 0).unwrap();
    let mut mixed = good.clone();
    mixed.header = prev.header;
    mixed.certificate = prev.certificate;
    assert!(mixed.verify(&validators).is_err());
}

#[test]
fn corrections_are_new_versions_never_rewrites() {
    let mut w = world();
    let (p, pid) = (w.patient.clone(), w.pid);
    w.chain.one(
        p.signing(),
        TxBody::AnchorRecord(anchor(pid, 1, "Observation/laboratory")),
    );
    let mut fix = anchor(pid, 2, "Observation/laboratory");
    fix.supersedes = Some(RecordId::from_bytes([1; 16]));
    assert_eq!(
        w.chain.one(p.signing(), TxBody::AnchorRecord(fix.clone())),
        Outcome::Applied
    );
    let old = w
        .chain
        .state
        .record(&RecordId::from_bytes([1; 16]))
        .unwrap()
        .unwrap();
    assert_eq!(old.superseded_by, Some(RecordId::from_bytes([2; 16])));
    assert_eq!(
        old.anchor.cid,
        Cid::of(&[1]),
        "the old version is untouched"
    );
    // A second correction of the same version, or of another patient's record, is refused.
    let mut again = anchor(pid, 3, "Observation/laboratory");
    again.supersedes = Some(RecordId::from_bytes([1; 16]));
    assert_eq!(
        w.chain.one(p.signing(), TxBody::AnchorRecord(again)),
        Outcome::Rejected(RejectReason::SupersedeMismatch)
    );
    let other = identity(8);
    w.chain.one(
        other.signing(),
        TxBody::RegisterPatient {
            encrypt_key: other.public().encrypt,
        },
    );
    let mut theirs = anchor(
        PatientId::of(&other.public().sign),
        4,
        "Observation/laboratory",
    );
    theirs.supersedes = Some(RecordId::from_bytes([2; 16]));
    assert_eq!(
        w.chain.one(other.signing(), TxBody::AnchorRecord(theirs)),
        Outcome::Rejected(RejectReason::SupersedeMismatch)
    );
}

#[test]
fn a_device_batch_is_one_transaction_all_or_none() {
    let mut w = world();
    let device = identity(9);
    let org_id = OrgId::of(&w.org.public().sign);
    let body = TxBody::RegisterAgent(RegisterAgent {
        org: org_id,
        role: Role::Device,
        name: "bedside monitor 7".into(),
        licence: "SN-7".into(),
        sign_key: device.public().sign,
        encrypt_key: device.public().encrypt,
    });
    assert_eq!(w.chain.one(w.org.signing(), body), Outcome::Applied);
    let batch = |from: u8, to: u8, category: &str| TxBody::AnchorBatch {
        anchors: (from..to).map(|n| anchor(w.pid, n, category)).collect(),
    };
    // Not yet bound to the patient: the whole batch is refused.
    let b = batch(100, 110, "Observation/vital-signs");
    assert_eq!(
        w.chain.one(device.signing(), b),
        Outcome::Rejected(RejectReason::NotAuthorised)
    );
    // The patient binds the device: append, vital signs only.
    let g = Grant {
        grant: GrantId::from_bytes([9; 16]),
        grantee: Grantee::Agent(AgentId::of(&device.public().sign)),
        scope: Scope {
            categories: vec![CategoryPattern::new("Observation/vital-signs").unwrap()],
            records: vec![],
        },
        mode: Mode::Append,
        purpose: Purpose::Treatment,
        not_before: Timestamp(0),
        expires: Timestamp(w.chain.time.0 + 3_600_000),
    };
    let p = w.patient.clone();
    assert_eq!(w.chain.one(p.signing(), TxBody::Grant(g)), Outcome::Applied);
    let b = batch(100, 110, "Observation/vital-signs");
    assert_eq!(w.chain.one(device.signing(), b), Outcome::Applied);
    for n in 100..110 {
        let r = w
            .chain
            .state
            .record(&RecordId::from_bytes([n; 16]))
            .unwrap()
            .unwrap();
        assert_eq!(
            r.author,
            ActorRef::Agent(AgentId::of(&device.public().sign))
        );
    }
    // One anchor outside the grant (a lab result) sinks the whole batch: nothing is written.
    let mut anchors: Vec<AnchorRecord> = (110..115)
        .map(|n| anchor(w.pid, n, "Observation/vital-signs"))
        .collect();
    anchors.push(anchor(w.pid, 115, "Observation/laboratory"));
    assert_eq!(
        w.chain
            .one(device.signing(), TxBody::AnchorBatch { anchors }),
        Outcome::Rejected(RejectReason::NotAuthorised)
    );
    for n in 110..116 {
        assert!(w
            .chain
            .state
            .record(&RecordId::from_bytes([n; 16]))
            .unwrap()
            .is_none());
    }
    // A record named twice, or already anchored, sinks it too.
    let twice = TxBody::AnchorBatch {
        anchors: vec![
            anchor(w.pid, 120, "Observation/vital-signs"),
            anchor(w.pid, 120, "Observation/vital-signs"),
        ],
    };
    assert_eq!(
        w.chain.one(device.signing(), twice),
        Outcome::Rejected(RejectReason::AlreadyExists)
    );
    assert_eq!(
        w.chain
            .one(device.signing(), batch(109, 111, "Observation/vital-signs")),
        Outcome::Rejected(RejectReason::AlreadyExists)
    );
}

fn population_grant(
    n: u8,
    grantee: Grantee,
    categories: &str,
    purpose: Purpose,
    at: Timestamp,
) -> TxBody {
    TxBody::Grant(Grant {
        grant: GrantId::from_bytes([n; 16]),
        grantee,
        scope: Scope {
            categories: vec![CategoryPattern::new(categories).unwrap()],
            records: vec![],
        },
        mode: Mode::Read,
        purpose,
        not_before: at,
        expires: Timestamp(at.0 + 3_600_000),
    })
}

fn release(purpose: Purpose, epsilon_milli: u32) -> TxBody {
    TxBody::ReleaseAggregate(AggregateQuery {
        purpose,
        condition: None,
        group_by: GroupBy::Total,
        epsilon_milli,
    })
}

#[test]
fn population_counts_use_organisation_grants_and_a_budget() {
    let mut w = world();
    let org_id = OrgId::of(&w.org.public().sign);
    let researcher = identity(9);
    let body = TxBody::RegisterAgent(RegisterAgent {
        org: org_id,
        role: Role::Researcher,
        name: "r".into(),
        licence: "L".into(),
        sign_key: researcher.public().sign,
        encrypt_key: researcher.public().encrypt,
    });
    assert_eq!(w.chain.one(w.org.signing(), body), Outcome::Applied);
    let (p, pid) = (w.patient.clone(), w.pid);
    for (n, category) in [
        (1, "Condition/encounter-diagnosis"),
        (2, "Observation/laboratory"),
    ] {
        let body = TxBody::AnchorRecord(anchor(pid, n, category));
        assert_eq!(w.chain.one(p.signing(), body), Outcome::Applied);
    }
    let researcher_state = |w: &World| {
        w.chain
            .state
            .agent(&AgentId::of(&researcher.public().sign))
            .unwrap()
            .unwrap()
    };
    let sources = |w: &World, purpose| {
        let agent = researcher_state(w);
        ehrchain_ledger::cohort(&w.chain.state, &agent, purpose, w.chain.time).unwrap()
    };
    assert!(sources(&w, Purpose::Research).is_empty());

    // A research grant to the researcher alone lets them read, not count.
    let now = w.chain.time;
    let to_agent = Grantee::Agent(AgentId::of(&researcher.public().sign));
    let g = population_grant(20, to_agent, "Condition", Purpose::Research, now);
    assert_eq!(w.chain.one(p.signing(), g), Outcome::Applied);
    assert!(sources(&w, Purpose::Research).is_empty());

    // To the organisation, for research and everything: the patient counts, with the token of
    // the Condition record only; nobody counts for public health.
    let now = w.chain.time;
    let g = population_grant(
        21,
        Grantee::Organisation(org_id),
        "*",
        Purpose::Research,
        now,
    );
    assert_eq!(w.chain.one(p.signing(), g), Outcome::Applied);
    assert_eq!(
        sources(&w, Purpose::Research)
            .into_iter()
            .collect::<Vec<_>>(),
        vec![pid]
    );
    assert!(sources(&w, Purpose::PublicHealth).is_empty());

    // Who may release, and how much: researchers and public-health officers, for research or
    // public health, at most 1.0 per release and 5.0 in all.
    let doctor = w.doctor.clone();
    for (who, body, want) in [
        (
            &doctor,
            release(Purpose::Research, 100),
            Outcome::Rejected(RejectReason::NotAuthorised),
        ),
        (
            &researcher,
            release(Purpose::Treatment, 100),
            Outcome::Rejected(RejectReason::NotAuthorised),
        ),
        (
            &researcher,
            release(Purpose::Research, 0),
            Outcome::Rejected(RejectReason::BadEpsilon),
        ),
        (
            &researcher,
            release(Purpose::Research, 1001),
            Outcome::Rejected(RejectReason::BadEpsilon),
        ),
        (
            &p,
            release(Purpose::Research, 100),
            Outcome::Rejected(RejectReason::UnknownSigner),
        ),
    ] {
        assert_eq!(w.chain.one(who.signing(), body), want);
    }
    let spent = |w: &World| {
        ehrchain_ledger::privacy_spent(&w.chain.state, &AgentId::of(&researcher.public().sign))
            .unwrap()
    };
    assert_eq!(spent(&w), 0, "refused releases cost nothing");
    for i in 1..=5u64 {
        let tx = w
            .chain
            .tx(researcher.signing(), release(Purpose::Research, 1000));
        let id = tx.tx.id();
        assert_eq!(w.chain.block(1000, vec![tx]), vec![Outcome::Applied]);
        assert_eq!(spent(&w), i * 1000);
        // The ledger fixed the cohort, and the release's sources are the patient's Condition
        // record only, through the consent decision.
        assert_eq!(
            ehrchain_ledger::release_cohort(&w.chain.state, &id).unwrap(),
            vec![pid]
        );
        let got = ehrchain_ledger::aggregate_sources(
            &w.chain.state,
            &id,
            &researcher.public().sign,
            Purpose::Research,
            w.chain.time,
        )
        .unwrap();
        let records: Vec<RecordId> = got[0].1.iter().map(|t| t.record()).collect();
        assert_eq!(records, vec![RecordId::from_bytes([1; 16])]);
    }
    // The patient's audit trail says who counted them, each time, and for what.
    let counted: Vec<AuditEvent> = w
        .chain
        .state
        .audit_of(&pid)
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .filter(|e| matches!(e, AuditEvent::Counted { .. }))
        .collect();
    let by_researcher = AuditEvent::Counted {
        requester: AgentId::of(&researcher.public().sign),
        purpose: Purpose::Research,
    };
    assert_eq!(counted, vec![by_researcher; 5]);
    assert_eq!(
        w.chain
            .one(researcher.signing(), release(Purpose::Research, 1)),
        Outcome::Rejected(RejectReason::PrivacyBudgetExhausted)
    );
    assert_eq!(spent(&w), PRIVACY_BUDGET_MILLI);

    // Revoking the organisation's grant takes the patient out of every later count.
    let revoke = TxBody::Revoke {
        grant: GrantId::from_bytes([21; 16]),
    };
    assert_eq!(w.chain.one(p.signing(), revoke), Outcome::Applied);
    assert!(sources(&w, Purpose::Research).is_empty());
}
