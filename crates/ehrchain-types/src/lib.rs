//! The ledger's vocabulary: identifiers, transactions, blocks, receipts and state values, each
//! with one canonical byte form and a decoder that puts a limit on everything it reads.
//!
//! This crate is part of the pure core: no I/O, no clock, no randomness, no async runtime.

pub mod block;
pub mod codec;
pub mod id;
pub mod receipt;
pub mod state;
pub mod tx;
pub mod vocab;

pub use block::{
    Block, BlockHeader, Certificate, Genesis, GenesisValidator, Vote, BLOCK_NAMESPACE,
    MAX_ENGINE_CERTIFICATE,
};
pub use codec::{limits, Canonical, DecodeError, Decoder, Encoder};
pub use id::{AgentId, GrantId, Height, OrgId, ParseIdError, PatientId, RecordId, Timestamp};
pub use receipt::{ActorRef, Basis, DenyReason, Outcome, Receipt, RejectReason};
pub use state::{
    AgentState, AuditEntry, AuditEvent, BreakGlassState, GrantState, OrganisationState,
    PatientState, RecordState,
};
pub use tx::{
    verify_all, AggregateQuery, AnchorRecord, BreakGlass, Grant, Grantee, GroupBy, RegisterAgent,
    RegisterOrganisation, Scope, SignedTx, Tx, TxBody, TxError, TxId, TxKind, VerifiedTx,
    MAX_AGGREGATE_CELLS, MAX_BREAK_GLASS_SECS, MAX_RELEASE_EPSILON_MILLI, PRIVACY_BUDGET_MILLI,
};
pub use vocab::{
    Category, CategoryPattern, InvalidCategory, Mode, OrgKind, Purpose, Role, UnknownTerm,
};
