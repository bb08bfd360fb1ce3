//! Values the ledger keeps in its state: who is registered, which records exist, which grants and
//! break-glass declarations are live, and every patient's audit trail. All canonical, so the state
//! root is the same on every replica.

use ehrchain_crypto::{EncryptionKey, PublicKey};

use crate::codec::{limits, Canonical, DecodeError, Decoder, Encoder};
use crate::id::{AgentId, GrantId, Height, OrgId, PatientId, RecordId, Timestamp};
use crate::receipt::{ActorRef, Outcome};
use crate::tx::{AnchorRecord, Grant, TxId};
use crate::vocab::{checked_text, OrgKind, Purpose, Role};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrganisationState {
    pub id: OrgId,
    pub name: String,
    pub kind: OrgKind,
    pub sign_key: PublicKey,
    pub encrypt_key: EncryptionKey,
    pub registered: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentState {
    pub id: AgentId,
    pub org: OrgId,
    pub role: Role,
    pub name: String,
    pub licence: String,
    pub sign_key: PublicKey,
    pub encrypt_key: EncryptionKey,
    pub registered: Timestamp,
    pub revoked: Option<Timestamp>,
}

impl AgentState {
    pub fn is_active(&self) -> bool {
        self.revoked.is_none()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatientState {
    pub id: PatientId,
    pub sign_key: PublicKey,
    pub encrypt_key: EncryptionKey,
    pub registered: Timestamp,
}

/// A record's anchor as committed, with what happened to it since.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordState {
    pub anchor: AnchorRecord,
    pub author: ActorRef,
    pub anchored: Timestamp,
    pub height: Height,
    pub superseded_by: Option<RecordId>,
    pub erased: Option<Timestamp>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrantState {
    pub patient: PatientId,
    pub grant: Grant,
    pub granted: Timestamp,
    pub revoked: Option<Timestamp>,
}

impl GrantState {
    /// Live at `at`: not revoked, started, not expired.
    pub fn is_live(&self, at: Timestamp) -> bool {
        self.revoked.is_none() && self.grant.not_before <= at && at < self.grant.expires
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BreakGlassState {
    pub agent: AgentId,
    pub patient: PatientId,
    pub reason: String,
    pub from: Timestamp,
    pub until: Timestamp,
}

/// What the patient's audit trail shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuditEvent {
    /// A read of one of the patient's records, permitted or denied.
    Access {
        reader: ActorRef,
        record: RecordId,
        purpose: Purpose,
        outcome: Outcome,
    },
    BreakGlass {
        agent: AgentId,
        reason: String,
        until: Timestamp,
    },
    Anchor {
        record: RecordId,
        author: ActorRef,
    },
    Grant {
        grant: GrantId,
    },
    Revoke {
        grant: GrantId,
    },
    EraseRequest {
        record: RecordId,
    },
    EraseReceipt {
        record: RecordId,
        validator: PublicKey,
    },
    /// The patient was in the cohort of a release of population counts: their grant let the
    /// requester's organisation count them (their Condition records, age band and region).
    Counted {
        requester: AgentId,
        purpose: Purpose,
    },
}

/// One entry of a patient's audit trail, with where it sits on the ledger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    pub at: Timestamp,
    pub height: Height,
    pub tx: TxId,
    pub event: AuditEvent,
}

impl Canonical for OrganisationState {
    fn encode(&self, enc: &mut Encoder) {
        enc.value(&self.id);
        enc.str(&self.name);
        enc.value(&self.kind);
        enc.value(&self.sign_key);
        enc.value(&self.encrypt_key);
        enc.value(&self.registered);
    }
    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Ok(OrganisationState {
            id: dec.value()?,
            name: checked_text(dec, limits::MAX_NAME, "organisation name")?,
            kind: dec.value()?,
            sign_key: dec.value()?,
            encrypt_key: dec.value()?,
            registered: dec.value()?,
        })
    }
}

impl Canonical for AgentState {
    fn encode(&self, enc: &mut Encoder) {
        enc.value(&self.id);
        enc.value(&self.org);
        enc.value(&self.role);
        enc.str(&self.name);
        enc.str(&self.licence);
        enc.value(&self.sign_key);
        enc.value(&self.encrypt_key);
        enc.value(&self.registered);
        enc.option(&self.revoked, |e, t| e.value(t));
    }
    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Ok(AgentState {
            id: dec.value()?,
            org: dec.value()?,
            role: dec.value()?,
            name: checked_text(dec, limits::MAX_NAME, "agent name")?,
            licence: checked_text(dec, limits::MAX_NAME, "licence")?,
            sign_key: dec.value()?,
            encrypt_key: dec.value()?,
            registered: dec.value()?,
            revoked: dec.option("revoked", |d| d.value())?,
        })
    }
}

impl Canonical for PatientState {
    fn encode(&self, enc: &mut Encoder) {
        enc.value(&self.id);
        enc.value(&self.sign_key);
        enc.value(&self.encrypt_key);
        enc.value(&self.registered);
    }
    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Ok(PatientState {
            id: dec.value()?,
            sign_key: dec.value()?,
            encrypt_key: dec.value()?,
            registered: dec.value()?,
        })
    }
}

impl Canonical for RecordState {
    fn encode(&self, enc: &mut Encoder) {
        enc.value(&self.anchor);
        enc.value(&self.author);
        enc.value(&self.anchored);
        enc.value(&self.height);
        enc.option(&self.superseded_by, |e, r| e.value(r));
        enc.option(&self.erased, |e, t| e.value(t));
    }
    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Ok(RecordState {
            anchor: dec.value()?,
            author: dec.value()?,
            anchored: dec.value()?,
            height: dec.value()?,
            superseded_by: dec.option("superseded by", |d| d.value())?,
            erased: dec.option("erased", |d| d.value())?,
        })
    }
}

impl Canonical for GrantState {
    fn encode(&self, enc: &mut Encoder) {
        enc.value(&self.patient);
        enc.value(&self.grant);
        enc.value(&self.granted);
        enc.option(&self.revoked, |e, t| e.value(t));
    }
    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Ok(GrantState {
            patient: dec.value()?,
            grant: dec.value()?,
            granted: dec.value()?,
            revoked: dec.option("revoked", |d| d.value())?,
        })
    }
}

impl Canonical for BreakGlassState {
    fn encode(&self, enc: &mut Encoder) {
        enc.value(&self.agent);
        enc.value(&self.patient);
        enc.str(&self.reason);
        enc.value(&self.from);
        enc.value(&self.until);
    }
    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Ok(BreakGlassState {
            agent: dec.value()?,
            patient: dec.value()?,
            reason: checked_text(dec, limits::MAX_TEXT, "break-glass reason")?,
            from: dec.value()?,
            until: dec.value()?,
        })
    }
}

impl Canonical for AuditEntry {
    fn encode(&self, enc: &mut Encoder) {
        enc.value(&self.at);
        enc.value(&self.height);
        enc.value(&self.tx);
        match &self.event {
            AuditEvent::Access {
                reader,
                record,
                purpose,
                outcome,
            } => {
                enc.u8(1);
                enc.value(reader);
                enc.value(record);
                enc.value(purpose);
                enc.value(outcome);
            }
            AuditEvent::BreakGlass {
                agent,
                reason,
                until,
            } => {
                enc.u8(2);
                enc.value(agent);
                enc.str(reason);
                enc.value(until);
            }
            AuditEvent::Anchor { record, author } => {
                enc.u8(3);
                enc.value(record);
                enc.value(author);
            }
            AuditEvent::Grant { grant } => {
                enc.u8(4);
                enc.value(grant);
            }
            AuditEvent::Revoke { grant } => {
                enc.u8(5);
                enc.value(grant);
            }
            AuditEvent::EraseRequest { record } => {
                enc.u8(6);
                enc.value(record);
            }
            AuditEvent::EraseReceipt { record, validator } => {
                enc.u8(7);
                enc.value(record);
                enc.value(validator);
            }
            AuditEvent::Counted { requester, purpose } => {
                enc.u8(8);
                enc.value(requester);
                enc.value(purpose);
            }
        }
    }
    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let at = dec.value()?;
        let height = dec.value()?;
        let tx = dec.value()?;
        let event = match dec.u8("audit event")? {
            1 => AuditEvent::Access {
                reader: dec.value()?,
                record: dec.value()?,
                purpose: dec.value()?,
                outcome: dec.value()?,
            },
            2 => AuditEvent::BreakGlass {
                agent: dec.value()?,
                reason: checked_text(dec, limits::MAX_TEXT, "break-glass reason")?,
                until: dec.value()?,
            },
            3 => AuditEvent::Anchor {
                record: dec.value()?,
                author: dec.value()?,
            },
            4 => AuditEvent::Grant {
                grant: dec.value()?,
            },
            5 => AuditEvent::Revoke {
                grant: dec.value()?,
            },
            6 => AuditEvent::EraseRequest {
                record: dec.value()?,
            },
            7 => AuditEvent::EraseReceipt {
                record: dec.value()?,
                validator: dec.value()?,
            },
            8 => AuditEvent::Counted {
                requester: dec.value()?,
                purpose: dec.value()?,
            },
            tag => {
                return Err(DecodeError::UnknownTag {
                    field: "audit event",
                    tag,
                })
            }
        };
        Ok(AuditEntry {
            at,
            height,
            tx,
            event,
        })
    }
}
