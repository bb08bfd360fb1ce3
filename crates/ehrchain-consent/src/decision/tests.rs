//! Table-driven cases for the decision: one line per case.

use ehrchain_crypto::{Cid, DecryptionKey, SecretBytes, SigningKey};
use ehrchain_types::{
    AgentId, AnchorRecord, Category, CategoryPattern, Grant, GrantId, OrgId, RecordId, Role, Scope,
};

use super::*;

fn agent(n: u8, org: u8, role: Role) -> AgentState {
    let key = SigningKey::from_seed(&SecretBytes::new([n; 32])).public();
    AgentState {
        id: AgentId::of(&key),
        org: OrgId::from_bytes([org; 16]),
        role,
        name: format!("agent {n}"),
        licence: "L-1".into(),
        sign_key: key,
        encrypt_key: DecryptionKey::from_bytes(&SecretBytes::new([n; 32])).public(),
        registered: Timestamp(0),
        revoked: None,
    }
}

fn record(category: &str) -> RecordState {
    RecordState {
        anchor: AnchorRecord {
            record: RecordId::from_bytes([7; 16]),
            patient: PatientId::from_bytes([1; 16]),
            category: Category::new(category).unwrap(),
            media_type: "application/fhir+json".into(),
            size: 10,
            cid: Cid::of(b"ciphertext"),
            supersedes: None,
        },
        author: ActorRef::Patient(PatientId::from_bytes([1; 16])),
        anchored: Timestamp(0),
        height: ehrchain_types::Height(1),
        superseded_by: None,
        erased: None,
    }
}

fn grant(grantee: Grantee, scope: &str, purpose: Purpose, from: u64, to: u64) -> GrantState {
    GrantState {
        patient: PatientId::from_bytes([1; 16]),
        grant: Grant {
            grant: GrantId::from_bytes([9; 16]),
            grantee,
            scope: Scope {
                categories: vec![CategoryPattern::new(scope).unwrap()],
                records: vec![],
            },
            mode: Mode::Read,
            purpose,
            not_before: Timestamp(from),
            expires: Timestamp(to),
        },
        granted: Timestamp(from),
        revoked: None,
    }
}

/// One row: name, reader, record, grants, break-glass, purpose, block time, expected.
type Case<'a> = (
    &'a str,
    Reader<'a>,
    Option<&'a RecordState>,
    Vec<GrantState>,
    Option<&'a BreakGlassState>,
    Purpose,
    u64,
    Want,
);

#[derive(Debug, PartialEq)]
enum Want {
    Permit(Basis),
    Deny(DenyReason),
}

#[test]
fn decision_table() {
    let doctor = agent(2, 5, Role::Doctor);
    let insurer = agent(3, 6, Role::InsurerOfficer);
    let colleague = agent(4, 5, Role::Doctor);
    let nurse = agent(5, 5, Role::Nurse);
    let mut revoked_doctor = agent(2, 5, Role::Doctor);
    revoked_doctor.revoked = Some(Timestamp(1));
    let lab = record("Observation/laboratory");
    let image = record("ImagingStudy");
    let mut erased = record("Observation/laboratory");
    erased.erased = Some(Timestamp(5));
    let g_doc = grant(
        Grantee::Agent(doctor.id),
        "laboratory",
        Purpose::Treatment,
        0,
        100,
    );
    let g_org = grant(
        Grantee::Organisation(doctor.org),
        "*",
        Purpose::Treatment,
        0,
        100,
    );
    let g_role = grant(
        Grantee::Role {
            org: doctor.org,
            role: Role::Nurse,
        },
        "Observation",
        Purpose::Treatment,
        0,
        100,
    );
    let mut g_revoked = g_doc.clone();
    g_revoked.revoked = Some(Timestamp(10));
    let bg = BreakGlassState {
        agent: doctor.id,
        patient: PatientId::from_bytes([1; 16]),
        reason: "unconscious in ED".into(),
        from: Timestamp(10),
        until: Timestamp(20),
    };
    let bg_insurer = BreakGlassState {
        agent: insurer.id,
        ..bg.clone()
    };
    let owner = Reader::Patient(PatientId::from_bytes([1; 16]));
    let other_patient = Reader::Patient(PatientId::from_bytes([2; 16]));
    let gid = Basis::Grant(GrantId::from_bytes([9; 16]));
    use Purpose::*;
    #[rustfmt::skip]
    let cases: Vec<Case> = vec![
        ("owner reads",                 owner,                    Some(&lab),   vec![],               None,              Treatment, 50, Want::Permit(Basis::Owner)),
        ("other patient denied",        other_patient,            Some(&lab),   vec![g_doc.clone()],  None,              Treatment, 50, Want::Deny(DenyReason::NoGrant)),
        ("missing record",              owner,                    None,         vec![],               None,              Treatment, 50, Want::Deny(DenyReason::NotFound)),
        ("erased record, even owner",   owner,                    Some(&erased),vec![],               None,              Treatment, 50, Want::Deny(DenyReason::NotFound)),
        ("unknown reader",              Reader::Unknown,          Some(&lab),   vec![g_doc.clone()],  None,              Treatment, 50, Want::Deny(DenyReason::UnknownReader)),
        ("doctor without grant",        Reader::Agent(&doctor),   Some(&lab),   vec![],               None,              Treatment, 50, Want::Deny(DenyReason::NoGrant)),
        ("doctor with lab grant",       Reader::Agent(&doctor),   Some(&lab),   vec![g_doc.clone()],  None,              Treatment, 50, Want::Permit(gid)),
        ("lab grant does not cover img",Reader::Agent(&doctor),   Some(&image), vec![g_doc.clone()],  None,              Treatment, 50, Want::Deny(DenyReason::NoGrant)),
        ("wrong purpose",               Reader::Agent(&doctor),   Some(&lab),   vec![g_doc.clone()],  None,              Payment,   50, Want::Deny(DenyReason::NoGrant)),
        ("before not-before",           Reader::Agent(&doctor),   Some(&lab),   vec![grant(Grantee::Agent(doctor.id), "laboratory", Treatment, 60, 100)], None, Treatment, 50, Want::Deny(DenyReason::NoGrant)),
        ("at expiry",                   Reader::Agent(&doctor),   Some(&lab),   vec![g_doc.clone()],  None,              Treatment, 100,Want::Deny(DenyReason::NoGrant)),
        ("just before expiry",          Reader::Agent(&doctor),   Some(&lab),   vec![g_doc.clone()],  None,              Treatment, 99, Want::Permit(gid)),
        ("revoked grant",               Reader::Agent(&doctor),   Some(&lab),   vec![g_revoked],      None,              Treatment, 50, Want::Deny(DenyReason::NoGrant)),
        ("revoked agent",               Reader::Agent(&revoked_doctor), Some(&lab), vec![g_doc.clone()], None,           Treatment, 50, Want::Deny(DenyReason::UnknownReader)),
        ("insurer with doctor's grant", Reader::Agent(&insurer),  Some(&lab),   vec![g_doc.clone()],  None,              Treatment, 50, Want::Deny(DenyReason::NoGrant)),
        ("org grant, colleague",        Reader::Agent(&colleague),Some(&image), vec![g_org.clone()],  None,              Treatment, 50, Want::Permit(gid)),
        ("org grant, other org",        Reader::Agent(&insurer),  Some(&image), vec![g_org.clone()],  None,              Treatment, 50, Want::Deny(DenyReason::NoGrant)),
        ("role grant, nurse",           Reader::Agent(&nurse),    Some(&lab),   vec![g_role.clone()], None,              Treatment, 50, Want::Permit(gid)),
        ("role grant, doctor",          Reader::Agent(&doctor),   Some(&lab),   vec![g_role.clone()], None,              Treatment, 50, Want::Deny(DenyReason::NoGrant)),
        ("break-glass in window",       Reader::Agent(&doctor),   Some(&image), vec![],               Some(&bg),         Emergency, 15, Want::Permit(Basis::BreakGlass { until: Timestamp(20) })),
        ("break-glass expired",         Reader::Agent(&doctor),   Some(&image), vec![],               Some(&bg),         Emergency, 20, Want::Deny(DenyReason::NoGrant)),
        ("break-glass, not emergency",  Reader::Agent(&doctor),   Some(&image), vec![],               Some(&bg),         Treatment, 15, Want::Deny(DenyReason::NoGrant)),
        ("break-glass of someone else", Reader::Agent(&colleague),Some(&image), vec![],               Some(&bg),         Emergency, 15, Want::Deny(DenyReason::NoGrant)),
        ("standing emergency grant alone", Reader::Agent(&colleague),Some(&image), vec![grant(Grantee::Organisation(doctor.org), "*", Emergency, 0, 100)], None, Emergency, 50, Want::Deny(DenyReason::NoGrant)),
        ("standing grant + break-glass", Reader::Agent(&doctor),  Some(&image), vec![grant(Grantee::Organisation(doctor.org), "*", Emergency, 0, 100)], Some(&bg), Emergency, 15, Want::Permit(Basis::BreakGlass { until: Timestamp(20) })),
        ("break-glass by insurer role", Reader::Agent(&insurer),  Some(&image), vec![],               Some(&bg_insurer), Emergency, 15, Want::Deny(DenyReason::NoGrant)),
    ];
    for (name, reader, rec, grants, bg, purpose, at, want) in cases {
        let facts = Facts {
            record: rec,
            grants: &grants,
            break_glass: bg,
        };
        let got = match decide(reader, Request { purpose }, facts, Timestamp(at)) {
            Decision::Permit(g) => {
                assert_eq!(
                    g.cid(),
                    &rec.unwrap().anchor.cid,
                    "{name}: token names the record's ciphertext"
                );
                Want::Permit(g.basis())
            }
            Decision::Deny(r) => Want::Deny(r),
        };
        assert_eq!(got, want, "case: {name}");
    }
}

#[test]
fn append_needs_an_append_grant_or_break_glass() {
    let doctor = agent(2, 5, Role::Doctor);
    let cat = Category::new("Observation/laboratory").unwrap();
    let mut append = grant(
        Grantee::Agent(doctor.id),
        "laboratory",
        Purpose::Treatment,
        0,
        100,
    );
    let read_only = append.clone();
    append.grant.mode = Mode::Append;
    let none = Facts {
        record: None,
        grants: &[],
        break_glass: None,
    };
    assert_eq!(
        decide_append(&doctor, &cat, Purpose::Treatment, none, Timestamp(5)),
        Err(DenyReason::NoGrant)
    );
    let ro = [read_only];
    let facts = Facts {
        record: None,
        grants: &ro,
        break_glass: None,
    };
    assert_eq!(
        decide_append(&doctor, &cat, Purpose::Treatment, facts, Timestamp(5)),
        Err(DenyReason::NoGrant)
    );
    let ap = [append];
    let facts = Facts {
        record: None,
        grants: &ap,
        break_glass: None,
    };
    assert!(matches!(
        decide_append(&doctor, &cat, Purpose::Treatment, facts, Timestamp(5)),
        Ok(Basis::Grant(_))
    ));
}
