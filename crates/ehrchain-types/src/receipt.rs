//! Receipts: the deterministic outcome of each transaction in a block. A rejected transaction is a
//! receipt with a reason, the same on every replica, never an error; an access is a receipt that
//! says whether it was permitted (and on what basis) or denied (and why).

use ehrchain_crypto::PublicKey;

use crate::codec::{Canonical, DecodeError, Decoder, Encoder};
use crate::id::{AgentId, GrantId, OrgId, PatientId, Timestamp};
use crate::tx::TxId;

/// Who did something, as the ledger knows them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ActorRef {
    Patient(PatientId),
    Agent(AgentId),
    Organisation(OrgId),
    /// A signing key with no registered patient, agent or organisation behind it: an
    /// unregistered reader whose attempt is still audited under the key that signed it.
    Key(PublicKey),
}

/// Why a disclosure was permitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Basis {
    /// The patient reads their own record.
    Owner,
    /// The agent who wrote the record reads it back.
    Author,
    /// A live grant covers the record, the reader and the purpose.
    Grant(GrantId),
    /// A committed, unexpired break-glass declaration by this agent for this patient.
    BreakGlass { until: Timestamp },
}

/// Why a disclosure was denied. Outside the ledger, `NotFound` and `NoGrant` look alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DenyReason {
    /// No live grant (or break-glass) covers this reader, record and purpose.
    NoGrant,
    /// The record does not exist or was erased.
    NotFound,
    /// The reader is not a registered, active patient or agent.
    UnknownReader,
}

/// Why a transaction was rejected. Stable: each has a code the API shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// This transaction id was committed before.
    Replay,
    /// The signer is not registered as the kind of actor this transaction needs.
    UnknownSigner,
    /// The signer is registered but may not do this.
    NotAuthorised,
    /// The actor, record or grant being created already exists.
    AlreadyExists,
    UnknownPatient,
    UnknownOrganisation,
    UnknownAgent,
    UnknownRecord,
    UnknownGrant,
    /// The grant was already revoked, or the agent already revoked.
    AlreadyRevoked,
    /// The record was already erased (or already has this validator's receipt).
    AlreadyErased,
    /// An erasure receipt for a record no one asked to erase.
    NotErased,
    /// `expires` is not after `not_before`, or already past at block time.
    BadTimeWindow,
    /// A break-glass duration of zero or over the maximum.
    BadDuration,
    /// A grant with nothing in its scope.
    EmptyScope,
    /// A correction that names a record of another patient or category family.
    SupersedeMismatch,
    /// A release of population counts with an epsilon of zero or over the per-release maximum.
    BadEpsilon,
    /// The release would take the requester past its privacy budget.
    PrivacyBudgetExhausted,
}

impl RejectReason {
    pub fn code(self) -> &'static str {
        match self {
            RejectReason::Replay => "replay",
            RejectReason::UnknownSigner => "unknown_signer",
            RejectReason::NotAuthorised => "not_authorised",
            RejectReason::AlreadyExists => "already_exists",
            RejectReason::UnknownPatient => "unknown_patient",
            RejectReason::UnknownOrganisation => "unknown_organisation",
            RejectReason::UnknownAgent => "unknown_agent",
            RejectReason::UnknownRecord => "unknown_record",
            RejectReason::UnknownGrant => "unknown_grant",
            RejectReason::AlreadyRevoked => "already_revoked",
            RejectReason::AlreadyErased => "already_erased",
            RejectReason::NotErased => "not_erased",
            RejectReason::BadTimeWindow => "bad_time_window",
            RejectReason::BadDuration => "bad_duration",
            RejectReason::EmptyScope => "empty_scope",
            RejectReason::SupersedeMismatch => "supersede_mismatch",
            RejectReason::BadEpsilon => "bad_epsilon",
            RejectReason::PrivacyBudgetExhausted => "privacy_budget_exhausted",
        }
    }

    const ALL: [RejectReason; 18] = [
        RejectReason::Replay,
        RejectReason::UnknownSigner,
        RejectReason::NotAuthorised,
        RejectReason::AlreadyExists,
        RejectReason::UnknownPatient,
        RejectReason::UnknownOrganisation,
        RejectReason::UnknownAgent,
        RejectReason::UnknownRecord,
        RejectReason::UnknownGrant,
        RejectReason::AlreadyRevoked,
        RejectReason::AlreadyErased,
        RejectReason::NotErased,
        RejectReason::BadTimeWindow,
        RejectReason::BadDuration,
        RejectReason::EmptyScope,
        RejectReason::SupersedeMismatch,
        RejectReason::BadEpsilon,
        RejectReason::PrivacyBudgetExhausted,
    ];
}

impl DenyReason {
    pub fn code(self) -> &'static str {
        match self {
            DenyReason::NoGrant => "no_grant",
            DenyReason::NotFound => "not_found",
            DenyReason::UnknownReader => "unknown_reader",
        }
    }
}

/// What happened to one transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    Applied,
    Permitted(Basis),
    Denied(DenyReason),
    Rejected(RejectReason),
}

impl Outcome {
    /// True if the transaction is on the ledger as a valid act (an access, permitted or denied,
    /// is one: the denial itself is audited).
    pub fn is_committed_act(&self) -> bool {
        !matches!(self, Outcome::Rejected(_))
    }
}

/// One transaction's outcome, in block order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Receipt {
    pub tx: TxId,
    pub outcome: Outcome,
}

impl Canonical for ActorRef {
    fn encode(&self, enc: &mut Encoder) {
        match self {
            ActorRef::Patient(p) => {
                enc.u8(1);
                enc.value(p)
            }
            ActorRef::Agent(a) => {
                enc.u8(2);
                enc.value(a)
            }
            ActorRef::Organisation(o) => {
                enc.u8(3);
                enc.value(o)
            }
            ActorRef::Key(k) => {
                enc.u8(4);
                enc.value(k)
            }
        }
    }
    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        match dec.u8("actor")? {
            1 => Ok(ActorRef::Patient(dec.value()?)),
            2 => Ok(ActorRef::Agent(dec.value()?)),
            3 => Ok(ActorRef::Organisation(dec.value()?)),
            4 => Ok(ActorRef::Key(dec.value()?)),
            tag => Err(DecodeError::UnknownTag {
                field: "actor",
                tag,
            }),
        }
    }
}

impl Canonical for Basis {
    fn encode(&self, enc: &mut Encoder) {
        match self {
            Basis::Owner => enc.u8(1),
            Basis::Author => enc.u8(2),
            Basis::Grant(g) => {
                enc.u8(3);
                enc.value(g);
            }
            Basis::BreakGlass { until } => {
                enc.u8(4);
                enc.value(until);
            }
        }
    }
    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        match dec.u8("basis")? {
            1 => Ok(Basis::Owner),
            2 => Ok(Basis::Author),
            3 => Ok(Basis::Grant(dec.value()?)),
            4 => Ok(Basis::BreakGlass {
                until: dec.value()?,
            }),
            tag => Err(DecodeError::UnknownTag {
                field: "basis",
                tag,
            }),
        }
    }
}

impl Canonical for Outcome {
    fn encode(&self, enc: &mut Encoder) {
        match self {
            Outcome::Applied => enc.u8(1),
            Outcome::Permitted(b) => {
                enc.u8(2);
                enc.value(b);
            }
            Outcome::Denied(r) => {
                enc.u8(3);
                enc.u8(match r {
                    DenyReason::NoGrant => 1,
                    DenyReason::NotFound => 2,
                    DenyReason::UnknownReader => 3,
                });
            }
            Outcome::Rejected(r) => {
                enc.u8(4);
                let idx = RejectReason::ALL
                    .iter()
                    .position(|x| x == r)
                    .expect("every reason is listed");
                enc.u8(idx as u8 + 1);
            }
        }
    }
    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        match dec.u8("outcome")? {
            1 => Ok(Outcome::Applied),
            2 => Ok(Outcome::Permitted(dec.value()?)),
            3 => match dec.u8("deny reason")? {
                1 => Ok(Outcome::Denied(DenyReason::NoGrant)),
                2 => Ok(Outcome::Denied(DenyReason::NotFound)),
                3 => Ok(Outcome::Denied(DenyReason::UnknownReader)),
                tag => Err(DecodeError::UnknownTag {
                    field: "deny reason",
                    tag,
                }),
            },
            4 => {
                let tag = dec.u8("reject reason")?;
                RejectReason::ALL
                    .get(usize::from(tag).wrapping_sub(1))
                    .map(|r| Outcome::Rejected(*r))
                    .ok_or(DecodeError::UnknownTag {
                        field: "reject reason",
                        tag,
                    })
            }
            tag => Err(DecodeError::UnknownTag {
                field: "outcome",
                tag,
            }),
        }
    }
}

impl Canonical for Receipt {
    fn encode(&self, enc: &mut Encoder) {
        enc.value(&self.tx);
        enc.value(&self.outcome);
    }
    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Ok(Receipt {
            tx: dec.value()?,
            outcome: dec.value()?,
        })
    }
}
