//! The node's error types, one per operation family.

use ehrchain_blob::BlobError;
use ehrchain_ledger::StateError;
use ehrchain_store::StoreError;
use ehrchain_types::{DenyReason, RejectReason, TxError};

/// Failure to start or run the node.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("key store: {0}")]
    Keys(String),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Invalid(String),
}

/// Why a submitted transaction did not get a receipt.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error(transparent)]
    Tx(#[from] TxError),
    #[error("this transaction was already submitted or committed")]
    Replay,
    #[error("the node is overloaded; retry later")]
    Overloaded,
    #[error("the node is shutting down or its block producer stopped")]
    Stopped,
}

/// Why a read did not release a record.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Submit(#[from] SubmitError),
    #[error("the transaction is not an access request")]
    NotAccess,
    #[error("access denied ({0:?})")]
    Denied(DenyReason),
    #[error("access request rejected: {}", .0.code())]
    Rejected(RejectReason),
    #[error("no key envelope is held for this reader; the patient's client must re-seal it")]
    NoEnvelope,
    #[error("the record's ciphertext is damaged and quarantined: {0}")]
    Damaged(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error(transparent)]
    State(#[from] StateError),
}
