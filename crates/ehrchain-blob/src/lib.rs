//! Content-addressed store for record ciphertext, kept off-chain and named by its CIDv1.
//!
//! Clients encrypt records before upload, so this crate only ever sees ciphertext. It guarantees
//! that what it hands out is what was stored: [`BlobStore::put`] names a blob by the CID of its
//! bytes, and every read re-checks that CID.
//!
//! * Reading for release needs an [`AccessGrant`](ehrchain_consent::AccessGrant), which only the
//!   consent decision can mint: [`BlobStore::open`] is the one read path, and there is no other.
//! * [`BlobStore::verify`] checks a blob for start-up checks and the periodic scrub; the node
//!   quarantines what it reports [`Integrity::Damaged`].
//! * Storage sits behind the [`Backend`] trait: [`FsBackend`] (a local folder, fsync and atomic
//!   rename) or [`S3Backend`] (an S3-compatible bucket, multipart uploads). Both stage a write and
//!   name it only once the last byte has been hashed, so memory stays bounded and a failed or
//!   cancelled upload leaves nothing behind.

mod backend;
mod error;
mod fs;
mod s3;
mod store;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
#[cfg(test)]
mod tests;

pub use backend::{validate_name, Backend, ByteStream, Object, StagedWrite, MAX_NAME_LEN};
pub use error::BlobError;
pub use fs::{FsBackend, FS_READ_CHUNK};
pub use s3::{S3Backend, S3Config, S3_MAX_BLOB, S3_PART_SIZE};
pub use store::{BlobStore, BlobStream, Integrity, Stored};
