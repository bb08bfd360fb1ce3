//! Store errors: storage failures, and data that no longer decodes (damage).

/// What went wrong with the embedded database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Boxed: redb's error is large and every store call returns this type.
    #[error("database error: {0}")]
    Db(Box<redb::Error>),
    #[error("block log i/o: {0}")]
    Io(String),
    #[error("stored {what} is damaged: {detail}")]
    Damaged { what: String, detail: String },
    #[error("the store holds a different genesis (chain {found}), not this one ({expected})")]
    GenesisMismatch { expected: String, found: String },
    #[error("block {got} does not follow the tip {tip}")]
    OutOfOrder { got: u64, tip: u64 },
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Db(Box::new(e.into()))
            }
        }
    )*};
}

from_redb!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);
