//! Key envelopes follow consent: uploads only to entitled recipients, a revocation deletes the
//! grantee's envelopes, and erasure deletes all of them along with the ciphertext.

use bytes::Bytes;
use ehrchain_crypto::{envelope, DataKey, Identity};
use ehrchain_ledger::StateView;
use ehrchain_node::{EnvelopeError, EnvelopeUpload, Node, NodeConfig};
use ehrchain_types::*;
use rand::rngs::OsRng;
use rand::RngCore;

fn tx(id: &Identity, body: TxBody) -> SignedTx {
    Tx {
        signer: id.public().sign,
        nonce: OsRng.next_u64(),
        body,
    }
    .sign(id.signing())
}

async fn wait_until(mut f: impl FnMut() -> bool) {
    for _ in 0..200 {
        if f() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("condition not reached in 4 s");
}

/// A node hosting a clinic with a doctor, a registered patient, and one anchored record of
/// `category` whose ciphertext is stored.
struct Setup {
    _dir: tempfile::TempDir,
    node: Node,
    doctor: Identity,
    patient: Identity,
    record: RecordId,
    cid: ehrchain_crypto::Cid,
}

async fn setup(category: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let mut config = NodeConfig::new(dir.path(), b"t".to_vec());
    config.scrub_interval = None;
    let node = Node::open(config).await.unwrap();
    let (org, _) = node
        .create_organisation("Clinic", OrgKind::Clinic)
        .await
        .unwrap();
    let (doctor, patient) = (
        Identity::generate(&mut OsRng),
        Identity::generate(&mut OsRng),
    );
    node.register_agent_for(
        org.id,
        Role::Doctor,
        "Dr",
        "L",
        doctor.public().sign,
        doctor.public().encrypt,
    )
    .await
    .unwrap();
    node.submit(tx(
        &patient,
        TxBody::RegisterPatient {
            encrypt_key: patient.public().encrypt,
        },
    ))
    .await
    .unwrap();
    let pid = PatientId::of(&patient.public().sign);
    let stored = node
        .put_blob(futures::stream::iter([Ok::<_, std::io::Error>(
            Bytes::from_static(b"ciphertext bytes"),
        )]))
        .await
        .unwrap();
    let record = RecordId::from_bytes([1; 16]);
    let anchor = AnchorRecord {
        record,
        patient: pid,
        category: Category::new(category).unwrap(),
        media_type: "x".into(),
        size: stored.len,
        cid: stored.cid,
        supersedes: None,
    };
    assert_eq!(
        node.submit(tx(&patient, TxBody::AnchorRecord(anchor)))
            .await
            .unwrap()
            .outcome,
        Outcome::Applied
    );
    Setup {
        _dir: dir,
        node,
        doctor,
        patient,
        record,
        cid: stored.cid,
    }
}

#[tokio::test]
async fn envelopes_follow_grants_revocations_and_erasure() {
    let Setup {
        _dir,
        node,
        doctor,
        patient,
        record,
        cid,
    } = setup("Observation/laboratory").await;
    let stranger = Identity::generate(&mut OsRng);
    let key = DataKey::generate(&mut OsRng);
    let seal = |to: &Identity| EnvelopeUpload {
        recipient: to.public().encrypt,
        sealed: envelope::seal(&mut OsRng, &to.public().encrypt, record.as_bytes(), &key)
            .unwrap()
            .to_bytes(),
    };

    node.put_envelopes(&patient.public().sign, &record, &[seal(&patient)])
        .unwrap();
    // Not entitled yet: no grant covers the doctor.
    assert!(matches!(
        node.put_envelopes(&patient.public().sign, &record, &[seal(&doctor)]),
        Err(EnvelopeError::NotEntitled(_))
    ));
    // Only the patient or the author may upload.
    assert!(matches!(
        node.put_envelopes(&stranger.public().sign, &record, &[seal(&patient)]),
        Err(EnvelopeError::NotAllowed)
    ));

    let now = node.tip().unwrap().unwrap().time;
    let grant = Grant {
        grant: GrantId::from_bytes([2; 16]),
        grantee: Grantee::Agent(AgentId::of(&doctor.public().sign)),
        scope: Scope {
            categories: vec![CategoryPattern::new("laboratory").unwrap()],
            records: vec![],
        },
        mode: Mode::Read,
        purpose: Purpose::Treatment,
        not_before: now,
        expires: now.plus_secs(3600),
    };
    assert_eq!(
        node.submit(tx(&patient, TxBody::Grant(grant)))
            .await
            .unwrap()
            .outcome,
        Outcome::Applied
    );
    node.put_envelopes(&patient.public().sign, &record, &[seal(&doctor)])
        .unwrap();
    let recipients = |node: &Node| node.store().envelope_recipients(&record).unwrap();
    assert_eq!(recipients(&node).len(), 2);

    assert_eq!(
        node.submit(tx(
            &patient,
            TxBody::Revoke {
                grant: GrantId::from_bytes([2; 16])
            }
        ))
        .await
        .unwrap()
        .outcome,
        Outcome::Applied
    );
    let doctor_key = doctor.public().encrypt;
    wait_until(|| !recipients(&node).contains(&doctor_key)).await;
    assert_eq!(
        recipients(&node),
        vec![patient.public().encrypt],
        "the patient's own envelope stays"
    );

    assert_eq!(
        node.submit(tx(&patient, TxBody::EraseRequest { record }))
            .await
            .unwrap()
            .outcome,
        Outcome::Applied
    );
    wait_until(|| recipients(&node).is_empty()).await;
    let validator = node.validator_key();
    wait_until(|| node.snapshot().unwrap().erase_receipts(&record).unwrap() == vec![validator])
        .await;
    assert!(
        !node.blobs().contains(&cid).await.unwrap(),
        "ciphertext deleted"
    );
}

#[tokio::test]
async fn expired_grants_lose_their_envelopes_on_catch_up() {
    let Setup {
        _dir,
        node,
        doctor,
        patient,
        record,
        ..
    } = setup("ImagingStudy").await;
    let now = node.tip().unwrap().unwrap().time;
    let grant = Grant {
        grant: GrantId::from_bytes([2; 16]),
        grantee: Grantee::Agent(AgentId::of(&doctor.public().sign)),
        scope: Scope {
            categories: vec![CategoryPattern::new("*").unwrap()],
            records: vec![],
        },
        mode: Mode::Read,
        purpose: Purpose::Treatment,
        not_before: now,
        expires: now.plus_secs(1),
    };
    node.submit(tx(&patient, TxBody::Grant(grant)))
        .await
        .unwrap();
    let key = DataKey::generate(&mut OsRng);
    let env = envelope::seal(
        &mut OsRng,
        &doctor.public().encrypt,
        record.as_bytes(),
        &key,
    )
    .unwrap()
    .to_bytes();
    node.put_envelopes(
        &patient.public().sign,
        &record,
        &[EnvelopeUpload {
            recipient: doctor.public().encrypt,
            sealed: env,
        }],
    )
    .unwrap();
    node.catch_up_effects().await.unwrap();
    assert_eq!(
        node.store().envelope_recipients(&record).unwrap(),
        vec![doctor.public().encrypt],
        "live grant: kept"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    // Block time moves only with blocks: any transaction advances it past the expiry.
    let other = Identity::generate(&mut OsRng);
    node.submit(tx(
        &other,
        TxBody::RegisterPatient {
            encrypt_key: other.public().encrypt,
        },
    ))
    .await
    .unwrap();
    node.catch_up_effects().await.unwrap();
    assert!(
        node.store()
            .envelope_recipients(&record)
            .unwrap()
            .is_empty(),
        "expired grant: envelope deleted"
    );
}
