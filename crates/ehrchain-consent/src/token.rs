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
