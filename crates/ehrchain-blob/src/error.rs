//! The one error type of the blob store, shared by every backend.

use ehrchain_crypto::Cid;

/// Why a blob-store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The local filesystem (or the caller's input stream) failed.
    #[error("blob store I/O error: {0}")]
    Io(#[from] std::io::Error),

    /// The object store answered with an error; the message is the backend's own.
    #[error("blob storage backend error: {0}")]
    Backend(String),

    /// The blob is longer than the caller allowed; nothing was kept.
    #[error("blob is larger than the limit of {limit} bytes; nothing was stored")]
    TooLarge {
        /// The limit, in bytes, that the upload went past.
        limit: u64,
    },

    /// The stored bytes no longer hash to their CID: the blob must not be released.
    #[error("blob {0} is damaged: its stored bytes do not match its CID")]
    Damaged(Cid),

    /// No blob is stored under this CID.
    #[error("blob {0} is not stored here")]
    NotFound(Cid),

    /// Bytes that should have been the blob `expected` hash to another CID; nothing was kept.
    #[error("the bytes received hash to {got}, not to {expected}; nothing was stored")]
    Mismatch { expected: Cid, got: Cid },

    /// A backend was asked for an object name it does not accept.
    #[error("invalid blob object name {0:?}")]
    InvalidName(String),

    /// The store could not be set up from its configuration.
    #[error("invalid blob store configuration: {0}")]
    Config(String),
}
