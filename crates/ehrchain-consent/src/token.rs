//! The token a permitted decision carries: proof that one reader may open one record.

use ehrchain_crypto::Cid;
use ehrchain_types::{ActorRef, Basis, DenyReason, PatientId, Purpose, RecordId, Timestamp};

/// What the consent decision says about one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Permit(AccessGrant),
    Deny(DenyReason),
}

impl Decision {
    pub fn is_permit(&self) -> bool {
        matches!(self, Decision::Permit(_))
    }
}

/// Proof that the consent decision permitted `reader` to open `record` for `purpose` at `at`.
/// Its fields are private and only [`crate::decide`] constructs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessGrant {
    record: RecordId,
    patient: PatientId,
    cid: Cid,
    reader: ActorRef,
    purpose: Purpose,
    basis: Basis,
    at: Timestamp,
}

impl AccessGrant {
    pub(crate) fn mint(
        record: RecordId,
        patient: PatientId,
        cid: Cid,
        reader: ActorRef,
        purpose: Purpose,
        basis: Basis,
        at: Timestamp,
    ) -> Self {
        Self {
            record,
            patient,
            cid,
            reader,
            purpose,
            basis,
            at,
        }
    }

    /// The content identifier of the ciphertext this grant opens.
    pub fn cid(&self) -> &Cid {
        &self.cid
    }

    pub fn record(&self) -> RecordId {
        self.record
    }

    pub fn patient(&self) -> PatientId {
        self.patient
    }

    pub fn reader(&self) -> ActorRef {
        self.reader
    }

    pub fn purpose(&self) -> Purpose {
        self.purpose
    }

    pub fn basis(&self) -> Basis {
        self.basis
    }

    /// The block time the decision was made at.
    pub fn at(&self) -> Timestamp {
        self.at
    }

    /// For adapter crates' own tests only (feature `test-support`, never enabled by the node).
    #[cfg(feature = "test-support")]
    pub fn for_tests(cid: Cid) -> Self {
        Self {
            record: RecordId::from_bytes([0; 16]),
            patient: PatientId::from_bytes([0; 16]),
            cid,
            reader: ActorRef::Patient(PatientId::from_bytes([0; 16])),
            purpose: Purpose::Treatment,
            basis: Basis::Owner,
            at: Timestamp(0),
        }
    }
}

/// Proof that a record's ciphertext and its sealed key envelopes (never a key) may go to
/// another validator of the consortium, which stores them for its own readers. Ciphertext and
/// envelopes are what every validator is trusted to hold. Only [`replicate`] mints one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaGrant {
    record: RecordId,
    cid: Cid,
}

impl ReplicaGrant {
    pub fn cid(&self) -> &Cid {
        &self.cid
    }

    pub fn record(&self) -> RecordId {
        self.record
    }
}

/// Decides a replication request: a record that exists and is not erased goes to a requester
/// that is one of the consortium's validators, and to nobody else.
pub fn replicate(
    record: Option<&ehrchain_types::RecordState>,
    requester_is_validator: bool,
) -> Option<ReplicaGrant> {
    let r = record.filter(|r| r.erased.is_none())?;
    requester_is_validator.then_some(ReplicaGrant {
        record: r.anchor.record,
        cid: r.anchor.cid,
    })
}

/// A token the blob store opens a ciphertext with: the consent decision's [`AccessGrant`] or a
/// [`ReplicaGrant`]. Sealed: no other crate can implement it, so no path can open a blob
/// without one of the two decisions.
pub trait OpensBlob: sealed::Sealed {
    fn blob_cid(&self) -> &Cid;
}

impl OpensBlob for AccessGrant {
    fn blob_cid(&self) -> &Cid {
        &self.cid
    }
}

impl OpensBlob for ReplicaGrant {
    fn blob_cid(&self) -> &Cid {
        &self.cid
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::AccessGrant {}
    impl Sealed for super::ReplicaGrant {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use ehrchain_types::{ActorRef, AnchorRecord, Category, Height, RecordState};

    #[test]
    fn replication_goes_to_validators_only_and_never_for_erased_records() {
        let mut rec = RecordState {
            anchor: AnchorRecord {
                record: RecordId::from_bytes([1; 16]),
                patient: PatientId::from_bytes([2; 16]),
                category: Category::new("Observation/laboratory").unwrap(),
                media_type: "x".into(),
                size: 1,
                cid: Cid::of(b"c"),
                supersedes: None,
            },
            author: ActorRef::Patient(PatientId::from_bytes([2; 16])),
            anchored: Timestamp(1),
            height: Height(1),
            superseded_by: None,
            erased: None,
        };
        assert!(replicate(None, true).is_none());
        assert!(replicate(Some(&rec), false).is_none());
        let g = replicate(Some(&rec), true).expect("a validator may replicate");
        assert_eq!((g.record(), *g.cid()), (rec.anchor.record, rec.anchor.cid));
        rec.erased = Some(Timestamp(2));
        assert!(replicate(Some(&rec), true).is_none());
    }
}
