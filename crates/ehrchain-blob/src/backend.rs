//! The storage seam: a dyn-compatible trait every place blobs can live implements, so the store
//! can be moved between a local folder and S3, and faults can be injected in tests.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;

use crate::BlobError;

/// Longest object name a backend has to accept. A CIDv1 sha2-256 in base32 is 59 characters;
/// the slack leaves room for a longer hash later without letting a name grow without bound.
pub const MAX_NAME_LEN: usize = 128;

/// Chunks of a stored object, in order. Each chunk is bounded by the backend's read size.
pub type ByteStream = BoxStream<'static, Result<Bytes, BlobError>>;

/// An object opened for reading.
pub struct Object {
    /// Length of the object as the backend records it.
    pub len: u64,
    /// The object's bytes.
    pub chunks: ByteStream,
}

/// Where blobs are kept. Names are opaque to the backend; [`validate_name`] says which it must
/// accept. Every method is a boxed future so `Arc<dyn Backend>` works.
pub trait Backend: Send + Sync + 'static {
    /// Starts a staged write: nothing is visible under any final name until
    /// [`StagedWrite::commit`].
    fn begin(&self) -> BoxFuture<'_, Result<Box<dyn StagedWrite>, BlobError>>;

    /// Opens an object for reading; `None` when it does not exist.
    fn read<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<Object>, BlobError>>;

    /// Removes an object; `true` when it existed.
    fn delete<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<bool, BlobError>>;

    /// Whether an object exists under this name.
    fn exists<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<bool, BlobError>>;

    /// The object's length; `None` when it does not exist.
    fn size<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<u64>, BlobError>>;

    /// Names of all committed objects. Staged writes are never listed.
    fn list(&self) -> BoxFuture<'_, Result<Vec<String>, BlobError>>;

    /// Removes staged writes older than `older_than`, left behind by a crash; returns how many.
    /// Must not touch a write still in progress, hence the age.
    fn sweep_staging(&self, older_than: Duration) -> BoxFuture<'_, Result<usize, BlobError>>;
}

/// A write in progress. Dropping it without [`commit`](StagedWrite::commit) must discard the
/// staged data (best effort, as [`abort`](StagedWrite::abort) does), so a cancelled upload leaves
/// nothing behind.
pub trait StagedWrite: Send {
    /// Appends the next chunk.
    fn append(&mut self, chunk: Bytes) -> BoxFuture<'_, Result<(), BlobError>>;

    /// Makes everything appended durable and visible under `name`, replacing any object there.
    fn commit<'a>(self: Box<Self>, name: &'a str) -> BoxFuture<'a, Result<(), BlobError>>;

    /// Discards everything appended.
    fn abort(self: Box<Self>) -> BoxFuture<'static, Result<(), BlobError>>;
}

/// Accepts the names a backend must store: 2 to [`MAX_NAME_LEN`] ASCII letters and digits, so a
/// name is safe as a file name and an object key, and can never climb out of its folder.
pub fn validate_name(name: &str) -> Result<(), BlobError> {
    let fits = (2..=MAX_NAME_LEN).contains(&name.len());
    if fits && name.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err(BlobError::InvalidName(truncated(name)))
    }
}

/// A fresh name for a staged write, unique across processes and hosts sharing one store: the
/// process id and a counter keep it unique here, the clock and a per-call random key elsewhere.
/// Letters, digits and `-` only, so it is safe in a file name and an object key.
pub(crate) fn staging_token() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos());
    // RandomState is seeded from the OS once per thread and stepped per instance: enough to keep
    // two hosts with the same pid and clock apart without a random-number dependency.
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(count);
    format!(
        "{nanos:x}-{:x}-{count:x}-{:016x}",
        std::process::id(),
        hasher.finish()
    )
}

/// A name short enough to put in an error message, whatever the caller passed.
fn truncated(name: &str) -> String {
    name.chars().take(MAX_NAME_LEN).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_plain_alphanumerics() {
        assert!(validate_name("bafkreiabc").is_ok());
        for bad in [
            "",
            "a",
            "../etc",
            "a/b",
            "tmp.part",
            "ä1",
            &"a".repeat(MAX_NAME_LEN + 1),
        ] {
            assert!(validate_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn staging_tokens_differ() {
        let a = staging_token();
        let b = staging_token();
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-'));
    }
}
