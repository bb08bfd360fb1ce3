//! Issue 5, population counts on a real node: only patients who granted the purpose to the
//! requester's organisation are counted, small cells are suppressed, counts stay within the
//! noise bound of a direct computation, each release is committed and charged to the
//! requester's privacy budget, and the ledger refuses releases past it or by other roles.

use bytes::Bytes;
use ehrchain_crypto::{envelope, DataKey, Identity};
use ehrchain_node::{AggregateError, EnvelopeUpload, Node, NodeConfig, Persona};
use ehrchain_types::*;
use rand::rngs::OsRng;
use rand::RngCore;

const DIABETES: &str = "44054006";
const RARE: &str = "195662009";

fn tx(id: &Identity, body: TxBody) -> SignedTx {
    Tx {
        signer: id.public().sign,
        nonce: OsRng.next_u64(),
        body,
    }
    .sign(id.signing())
}

async fn commit(node: &Node, who: &Identity, body: TxBody) -> Outcome {
    node.submit(tx(who, body)).await.unwrap().outcome
}

struct World {
    _dir: tempfile::TempDir,
    node: Node,
    agency: OrganisationState,
    officer: Identity,
    doctor: Identity,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let mut config = NodeConfig::new(dir.path(), b"t".to_vec());
    config.scrub_interval = None;
    let node = Node::open(config).await.unwrap();
    let (agency, _) = node
        .create_organisation("City Health Agency", OrgKind::PublicHealthAgency)
        .await
        .unwrap();
    let officer = Identity::generate(&mut OsRng);
    let doctor = Identity::generate(&mut OsRng);
    for (who, role) in [
        (&officer, Role::PublicHealthOfficer),
        (&doctor, Role::Doctor),
    ] {
        node.register_agent_for(
            agency.id,
            role,
            "Staff",
            "L-1",
            who.public().sign,
            who.public().encrypt,
        )
        .await
        .unwrap();
    }
    World {
        _dir: dir,
        node,
        agency,
        officer,
        doctor,
    }
}

/// A patient with one Condition record of `code`, a persona born `birth` in `state`, and, if
/// `grants`, a public-health grant of `Condition` to the agency (made before the record, so the
/// record's key is sealed to the agency too).
async fn patient(w: &World, code: &str, birth: &str, state: &str, grants: bool) -> PatientId {
    let me = Identity::generate(&mut OsRng);
    let pid = PatientId::of(&me.public().sign);
    let registered = TxBody::RegisterPatient {
        encrypt_key: me.public().encrypt,
    };
    assert_eq!(commit(&w.node, &me, registered).await, Outcome::Applied);
    if grants {
        let g = TxBody::Grant(Grant {
            grant: GrantId::from_bytes(rand::random()),
            grantee: Grantee::Organisation(w.agency.id),
            scope: Scope {
                categories: vec![CategoryPattern::new("Condition").unwrap()],
                records: vec![],
            },
            mode: Mode::Read,
            purpose: Purpose::PublicHealth,
            not_before: Timestamp(0),
            expires: Timestamp(u64::MAX / 2),
        });
        assert_eq!(commit(&w.node, &me, g).await, Outcome::Applied);
    }
    let condition = format!(
        r#"{{"resourceType":"Condition","subject":{{"reference":"Patient/{pid}"}},
            "code":{{"coding":[{{"system":"http://snomed.info/sct","code":"{code}"}}]}}}}"#
    );
    let key = DataKey::generate(&mut OsRng);
    let mut ciphertext = Vec::new();
    ehrchain_crypto::stream::encrypt(&key, &mut OsRng, condition.as_bytes(), &mut ciphertext)
        .unwrap();
    let stored = w
        .node
        .put_blob(futures::stream::iter([Ok::<_, std::io::Error>(
            Bytes::from(ciphertext),
        )]))
        .await
        .unwrap();
    let record = RecordId::from_bytes(rand::random());
    let anchor = AnchorRecord {
        record,
        patient: pid,
        category: Category::new("Condition/encounter-diagnosis").unwrap(),
        media_type: "application/fhir+json".into(),
        size: stored.len,
        cid: stored.cid,
        supersedes: None,
    };
    assert_eq!(
        commit(&w.node, &me, TxBody::AnchorRecord(anchor)).await,
        Outcome::Applied
    );
    let mut uploads = vec![EnvelopeUpload {
        recipient: me.public().encrypt,
        sealed: envelope::seal(&mut OsRng, &me.public().encrypt, record.as_bytes(), &key)
            .unwrap()
            .to_bytes(),
    }];
    if grants {
        uploads.push(EnvelopeUpload {
            recipient: w.agency.encrypt_key,
            sealed: envelope::seal(&mut OsRng, &w.agency.encrypt_key, record.as_bytes(), &key)
                .unwrap()
                .to_bytes(),
        });
    }
    w.node
        .put_envelopes(&me.public().sign, &record, &uploads)
        .unwrap();
    let persona = Persona {
        name: "Test Person".into(),
        birth_date: birth.into(),
        fhir: Some(format!(
            r#"{{"elements":{{"address":[{{"state":"{state}"}}]}}}}"#
        )),
        ..Persona::default()
    };
    w.node
        .put_persona(&w.doctor.public().sign, &pid, &persona)
        .unwrap();
    pid
}

fn query(condition: Option<&str>, group_by: GroupBy) -> TxBody {
    TxBody::ReleaseAggregate(AggregateQuery {
        purpose: Purpose::PublicHealth,
        condition: condition.map(str::to_owned),
        group_by,
        epsilon_milli: 1000,
    })
}

/// The released count of the cell labelled `label`.
fn cell(r: &ehrchain_node::AggregateRelease, label: &str) -> Option<u64> {
    r.release
        .cells
        .iter()
        .find(|c| c.label == label)
        .unwrap_or_else(|| panic!("no cell {label} in {:?}", r.release.cells))
        .count
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_cover_only_granting_patients_with_noise_suppression_and_a_budget() {
    let w = world().await;
    // 20 patients with diabetes grant public health; 20 more do not; one granting patient
    // has a rare condition and a rare region.
    let (mut granting, mut not_granting) = (Vec::new(), Vec::new());
    for _ in 0..20 {
        granting.push(patient(&w, DIABETES, "1950-03-01", "Massachusetts", true).await);
        not_granting.push(patient(&w, DIABETES, "1990-03-01", "Massachusetts", false).await);
    }
    patient(&w, RARE, "2015-03-01", "Vermont", true).await;

    // Laplace scale is 1 for these releases (sensitivity 1, epsilon 1): a cell is off by more
    // than 9.5 with probability e^-9.5 (7.5e-5), so each check below fails by chance less often
    // than that, while counting the 20 patients who did not grant would be off by 20.
    let release = |body| w.node.aggregate(tx(&w.officer, body));
    let total = release(query(Some(DIABETES), GroupBy::Total))
        .await
        .unwrap();
    let n = cell(&total, "all").expect("20 patients are not suppressed");
    assert!(
        (10..=30).contains(&n),
        "diabetes total {n}, expected 20 ± 10"
    );
    assert_eq!(total.spent_milli, 1000);
    assert!((total.release.scale - 1.0).abs() < 1e-12);

    // The one patient with the rare code: a true count of 1 is suppressed.
    let rare = release(query(None, GroupBy::Condition(vec![RARE.into()])))
        .await
        .unwrap();
    assert_eq!(cell(&rare, RARE), None, "{:?}", rare.release.cells);

    // Age bands at block time (2026 and later): the 20 granting diabetics born in 1950 are 65+.
    let ages = release(query(None, GroupBy::AgeBand)).await.unwrap();
    let old = cell(&ages, "65+").expect("20 patients are not suppressed");
    assert!((11..=31).contains(&old), "65+ {old}, expected 21 ± 10");
    for band in ["18-44", "45-64", "unknown"] {
        assert_eq!(cell(&ages, band), None, "{band}: {:?}", ages.release.cells);
    }

    let regions = GroupBy::Region(vec!["Massachusetts".into(), "Vermont".into()]);
    let by_region = release(query(None, regions)).await.unwrap();
    let ma = cell(&by_region, "Massachusetts").expect("20 patients are not suppressed");
    assert!(
        (10..=30).contains(&ma),
        "Massachusetts {ma}, expected 20 ± 10"
    );
    assert_eq!(cell(&by_region, "Vermont"), None);

    // Other roles may not release counts, and nothing is charged to them.
    let by_doctor = w
        .node
        .aggregate(tx(&w.doctor, query(None, GroupBy::Total)))
        .await;
    assert!(
        matches!(
            by_doctor,
            Err(AggregateError::Rejected(RejectReason::NotAuthorised))
        ),
        "{by_doctor:?}"
    );
    let too_much = TxBody::ReleaseAggregate(AggregateQuery {
        purpose: Purpose::PublicHealth,
        condition: None,
        group_by: GroupBy::Total,
        epsilon_milli: MAX_RELEASE_EPSILON_MILLI + 1,
    });
    let r = release(too_much).await;
    assert!(
        matches!(r, Err(AggregateError::Rejected(RejectReason::BadEpsilon))),
        "{r:?}"
    );

    // The budget: 4.0 spent, one more release of 1.0 fits, the next is refused by the ledger.
    let fifth = release(query(None, GroupBy::Total)).await.unwrap();
    assert_eq!(fifth.spent_milli, PRIVACY_BUDGET_MILLI);
    let refused = release(query(None, GroupBy::Total)).await;
    assert!(
        matches!(
            refused,
            Err(AggregateError::Rejected(
                RejectReason::PrivacyBudgetExhausted
            ))
        ),
        "{refused:?}"
    );
    // Every release is on the ledger: the five applied ones and the refused one.
    let snapshot = w.node.snapshot().unwrap();
    assert_eq!(
        ehrchain_ledger::privacy_spent(&snapshot, &AgentId::of(&w.officer.public().sign)).unwrap(),
        PRIVACY_BUDGET_MILLI
    );
    let fifth_tx = fifth.committed.tx;
    use ehrchain_ledger::StateView;
    assert!(snapshot.tx_location(&fifth_tx).unwrap().is_some());
    // Each counted patient's audit trail lists the five releases; the others', none.
    let counted = |p: &PatientId| {
        snapshot
            .audit_of(p)
            .unwrap()
            .into_iter()
            .filter(|e| matches!(e.event, AuditEvent::Counted { .. }))
            .count()
    };
    assert!(granting.iter().all(|p| counted(p) == 5));
    assert!(not_granting.iter().all(|p| counted(p) == 0));
}
