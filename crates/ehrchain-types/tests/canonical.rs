//! Canonical encoding: decode then re-encode gives the same bytes, for every transaction kind,
//! for every single-byte mutation, and for arbitrary input; plus a golden fixture so that a
//! format change is a deliberate, reviewed change.

use ehrchain_crypto::{Cid, DecryptionKey, SecretBytes, SigningKey};
use ehrchain_types::*;
use proptest::prelude::*;

fn key(n: u8) -> SigningKey {
    SigningKey::from_seed(&SecretBytes::new([n; 32]))
}

fn samples() -> Vec<SignedTx> {
    let k = key(1);
    let enc = DecryptionKey::from_bytes(&SecretBytes::new([2; 32])).public();
    let org = OrgId::from_bytes([3; 16]);
    let pid = PatientId::from_bytes([4; 16]);
    let rec = RecordId::from_bytes([5; 16]);
    let bodies = vec![
        TxBody::RegisterOrganisation(RegisterOrganisation {
            name: "St Mary's".into(),
            kind: OrgKind::Hospital,
            sign_key: key(9).public(),
            encrypt_key: enc,
        }),
        TxBody::RegisterAgent(RegisterAgent {
            org,
            role: Role::Doctor,
            name: "Dr A".into(),
            licence: "MED-1".into(),
            sign_key: key(8).public(),
            encrypt_key: enc,
        }),
        TxBody::RevokeAgent {
            agent: AgentId::from_bytes([6; 16]),
        },
        TxBody::RegisterPatient { encrypt_key: enc },
        TxBody::AnchorRecord(AnchorRecord {
            record: rec,
            patient: pid,
            category: Category::new("Observation/laboratory").unwrap(),
            media_type: "application/fhir+json".into(),
            size: 1234,
            cid: Cid::of(b"x"),
            supersedes: Some(RecordId::from_bytes([7; 16])),
        }),
        TxBody::Grant(Grant {
            grant: GrantId::from_bytes([8; 16]),
            grantee: Grantee::Role {
                org,
                role: Role::Nurse,
            },
            scope: Scope {
                categories: vec![CategoryPattern::new("laboratory").unwrap()],
                records: vec![rec],
            },
            mode: Mode::Read,
            purpose: Purpose::Treatment,
            not_before: Timestamp(1),
            expires: Timestamp(2),
        }),
        TxBody::Revoke {
            grant: GrantId::from_bytes([8; 16]),
        },
        TxBody::BreakGlass(BreakGlass {
            patient: pid,
            reason: "unconscious".into(),
            duration_secs: 3600,
        }),
        TxBody::Access {
            record: rec,
            purpose: Purpose::Emergency,
        },
        TxBody::EraseRequest { record: rec },
        TxBody::EraseReceipt { record: rec },
        TxBody::AnchorBatch {
            anchors: vec![AnchorRecord {
                record: RecordId::from_bytes([12; 16]),
                patient: pid,
                category: Category::new("Observation/vital-signs").unwrap(),
                media_type: "application/fhir+json".into(),
                size: 99,
                cid: Cid::of(b"y"),
                supersedes: None,
            }],
        },
        TxBody::ReleaseAggregate(AggregateQuery {
            purpose: Purpose::PublicHealth,
            condition: Some("44054006".into()),
            group_by: GroupBy::Region(vec!["Massachusetts".into(), "Kerala".into()]),
            epsilon_milli: 500,
        }),
        TxBody::ReleaseAggregate(AggregateQuery {
            purpose: Purpose::Research,
            condition: None,
            group_by: GroupBy::Condition(vec!["44054006".into(), "38341003".into()]),
            epsilon_milli: 1000,
        }),
    ];
    bodies
        .into_iter()
        .enumerate()
        .map(|(i, body)| {
            Tx {
                signer: k.public(),
                nonce: i as u64,
                body,
            }
            .sign(&k)
        })
        .collect()
}

#[test]
fn every_kind_round_trips_and_verifies() {
    for tx in samples() {
        let bytes = tx.to_bytes();
        let back = SignedTx::decode_submitted(&bytes).unwrap();
        assert_eq!(back, tx);
        assert_eq!(back.to_bytes(), bytes);
        back.verify().unwrap();
    }
}

#[test]
fn every_single_byte_mutation_is_refused_or_canonical() {
    for tx in samples() {
        let bytes = tx.to_bytes();
        for i in 0..bytes.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut m = bytes.clone();
                m[i] ^= flip;
                if let Ok(d) = SignedTx::decode_submitted(&m) {
                    assert_eq!(d.to_bytes(), m, "non-canonical decode at byte {i}");
                    // A mutated transaction never carries a valid signature.
                    assert!(d.verify().is_err(), "mutation at byte {i} still verifies");
                }
            }
        }
    }
}

#[test]
fn population_queries_name_their_cells_properly() {
    let k = key(1);
    let tx = |condition: Option<&str>, group_by: GroupBy| {
        Tx {
            signer: k.public(),
            nonce: 1,
            body: TxBody::ReleaseAggregate(AggregateQuery {
                purpose: Purpose::PublicHealth,
                condition: condition.map(str::to_owned),
                group_by,
                epsilon_milli: 100,
            }),
        }
        .sign(&k)
        .to_bytes()
    };
    let codes = |c: &[&str]| GroupBy::Condition(c.iter().map(|s| (*s).to_owned()).collect());
    let regions = |c: &[&str]| GroupBy::Region(c.iter().map(|s| (*s).to_owned()).collect());
    for (bytes, ok) in [
        (tx(Some("44054006"), GroupBy::AgeBand), true),
        (tx(None, GroupBy::Total), true),
        (tx(Some("4405"), GroupBy::Total), false),
        (tx(Some("044054006"), GroupBy::Total), false),
        (tx(Some("44054006x"), GroupBy::Total), false),
        (tx(None, codes(&[])), false),
        (tx(None, codes(&["44054006", "44054006"])), false),
        (tx(None, regions(&["Ohio", "ohio"])), false),
        (tx(None, regions(&[" Ohio"])), false),
        (tx(None, regions(&[""])), false),
        (tx(None, regions(&["Ohio", "Texas"])), true),
    ] {
        assert_eq!(SignedTx::decode_submitted(&bytes).is_ok(), ok, "{bytes:?}");
    }
}

#[test]
fn a_signature_for_one_kind_does_not_verify_as_another() {
    let k = key(1);
    let rec = RecordId::from_bytes([5; 16]);
    let tx = Tx {
        signer: k.public(),
        nonce: 1,
        body: TxBody::EraseRequest { record: rec },
    }
    .sign(&k);
    let forged = SignedTx {
        tx: Tx {
            body: TxBody::EraseReceipt { record: rec },
            ..tx.tx.clone()
        },
        signature: tx.signature,
    };
    assert_eq!(forged.verify().unwrap_err(), TxError::BadSignature);
}

#[test]
fn oversized_and_trailing_input_is_refused() {
    let tx = &samples()[0];
    let mut bytes = tx.to_bytes();
    bytes.push(0);
    assert!(matches!(
        SignedTx::decode_submitted(&bytes),
        Err(TxError::Malformed(DecodeError::Trailing(1)))
    ));
    let big = vec![0u8; limits::MAX_TX_BYTES + 1];
    assert_eq!(SignedTx::decode_submitted(&big), Err(TxError::TooLarge));
    // A length prefix larger than its limit is refused before any allocation.
    let mut e = Encoder::new();
    e.fixed(key(1).public().as_bytes());
    e.u64(0);
    e.u8(1);
    e.u32(u32::MAX);
    assert!(matches!(
        SignedTx::decode_submitted(&e.into_bytes()),
        Err(TxError::Malformed(DecodeError::TooLong(_)))
    ));
}

#[test]
fn batch_verification_agrees_with_single() {
    let mut txs = samples();
    txs[3].signature = txs[4].signature;
    let results = verify_all(txs.clone());
    for (i, (r, t)) in results.iter().zip(txs).enumerate() {
        assert_eq!(r.is_ok(), t.verify().is_ok(), "tx {i}");
    }
    assert!(results[3].is_err());
}

/// Golden fixture: the exact bytes and id of one transaction. If this changes, the wire and
/// storage format changed: bump a version and say so.
#[test]
fn golden_encoding() {
    let tx = &samples()[8];
    assert_eq!(
        hex::encode(tx.tx.to_bytes()),
        concat!(
            "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c",
            "0000000000000008",
            "09",
            "05050505050505050505050505050505",
            "05"
        )
    );
    assert_eq!(
        tx.tx.id().to_string(),
        ehrchain_crypto::sha256(&tx.tx.to_bytes()).to_string()
    );
    let block_header = BlockHeader {
        height: Height(1),
        prev: ehrchain_crypto::Hash([1; 32]),
        time: Timestamp(2),
        tx_count: 3,
        tx_root: ehrchain_crypto::Hash([4; 32]),
        receipts_root: ehrchain_crypto::Hash([5; 32]),
        state_root: ehrchain_crypto::Hash([6; 32]),
        proposer: key(1).public(),
    };
    assert_eq!(block_header.to_bytes().len(), 8 + 32 + 8 + 4 + 32 * 3 + 32);
    assert_eq!(
        BlockHeader::from_bytes(&block_header.to_bytes()).unwrap(),
        block_header
    );
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_and_decode_canonically(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(tx) = SignedTx::decode_submitted(&bytes) {
            prop_assert_eq!(tx.to_bytes(), bytes.clone());
        }
        if let Ok(b) = Block::from_bytes(&bytes) {
            prop_assert_eq!(b.to_bytes(), bytes.clone());
        }
        if let Ok(e) = AuditEntry::from_bytes(&bytes) {
            prop_assert_eq!(e.to_bytes(), bytes.clone());
        }
    }

    #[test]
    fn prefixes_of_valid_transactions_are_refused(cut in 0usize..200, which in 0usize..12) {
        let bytes = samples()[which].to_bytes();
        let cut = cut.min(bytes.len() - 1);
        prop_assert!(SignedTx::decode_submitted(&bytes[..cut]).is_err());
    }
}

/// Golden fixture of the anchor batch (a device's readings, tag 12): one anchor.
#[test]
fn golden_anchor_batch_encoding() {
    let tx = &samples()[11];
    assert!(matches!(tx.tx.body, TxBody::AnchorBatch { .. }));
    assert_eq!(
        hex::encode(tx.tx.to_bytes()),
        concat!(
            "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c",
            "000000000000000b",
            "0c",
            "00000001",
            "0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c",
            "04040404040404040404040404040404",
            "00000017",
            "4f62736572766174696f6e2f766974616c2d7369676e73",
            "00000015",
            "6170706c69636174696f6e2f666869722b6a736f6e",
            "0000000000000063",
            "a1fce4363854ff888cff4b8e7875d600c2682390412a8cf79b37d0b11148b0fa",
            "00"
        )
    );
}
