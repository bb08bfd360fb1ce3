//! The content-addressed store itself: puts that name a blob by the CID of its bytes, reads that
//! need a consent token and re-check the CID, and the integrity check behind start-up and scrubs.

use std::fmt;
use std::path::PathBuf;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use ehrchain_consent::OpensBlob;
use ehrchain_crypto::{Cid, CidHasher};
use futures::{Stream, StreamExt, TryStreamExt};

use crate::backend::{Backend, ByteStream, Object, StagedWrite};
use crate::{BlobError, FsBackend, S3Backend, S3Config};

/// Handle on one blob store; clones share the backend.
#[derive(Clone)]
pub struct BlobStore {
    backend: Arc<dyn Backend>,
}

/// What [`BlobStore::put`] stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// CIDv1 (raw, sha2-256) of the bytes, which is also their name in the store.
    pub cid: Cid,
    /// Length in bytes.
    pub len: u64,
}

/// Outcome of [`BlobStore::verify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Integrity {
    /// The stored bytes hash to the CID.
    Intact {
        /// Length in bytes.
        len: u64,
    },
    /// The blob is there but its bytes do not hash to the CID.
    Damaged,
    /// Nothing is stored under the CID.
    Missing,
}

impl BlobStore {
    /// A store in a local folder (see [`FsBackend`] for the layout), created when absent.
    pub fn filesystem(root: impl Into<PathBuf>) -> Result<Self, BlobError> {
        Ok(Self::with_backend(Arc::new(FsBackend::new(root)?)))
    }

    /// A store in an existing S3 bucket (see [`S3Backend`]).
    pub fn s3(config: S3Config) -> Result<Self, BlobError> {
        Ok(Self::with_backend(Arc::new(S3Backend::new(config)?)))
    }

    /// A store over any backend, e.g. a fault-injecting one in tests.
    pub fn with_backend(backend: Arc<dyn Backend>) -> Self {
        Self { backend }
    }

    /// Stores `data` and names it by its CID, computed while the bytes go by: memory stays
    /// bounded whatever the blob's length.
    ///
    /// Refuses a blob longer than `max_len` with [`BlobError::TooLarge`], as soon as the limit is
    /// crossed. On any error nothing stays behind: the staged bytes are discarded. Storing the
    /// same bytes again is harmless: it yields the same CID and rewrites the same object, which
    /// also repairs a copy that had been damaged.
    pub async fn put(
        &self,
        data: impl Stream<Item = Result<Bytes, std::io::Error>> + Send,
        max_len: u64,
    ) -> Result<Stored, BlobError> {
        self.put_checked(data, max_len, None).await
    }

    /// Stores `data` only if it is the blob `expected` (bytes from a peer): anything else is
    /// discarded with [`BlobError::Mismatch`] before it is named. Also repairs a damaged copy.
    pub async fn put_expected(
        &self,
        data: impl Stream<Item = Result<Bytes, std::io::Error>> + Send,
        max_len: u64,
        expected: &Cid,
    ) -> Result<Stored, BlobError> {
        self.put_checked(data, max_len, Some(expected)).await
    }

    async fn put_checked(
        &self,
        data: impl Stream<Item = Result<Bytes, std::io::Error>> + Send,
        max_len: u64,
        expected: Option<&Cid>,
    ) -> Result<Stored, BlobError> {
        let mut data = pin!(data);
        let mut staged = self.backend.begin().await?;
        let staged_ok = stage(data.as_mut(), staged.as_mut(), max_len)
            .await
            .and_then(|stored| match expected {
                Some(e) if *e != stored.cid => Err(BlobError::Mismatch {
                    expected: *e,
                    got: stored.cid,
                }),
                _ => Ok(stored),
            });
        match staged_ok {
            Ok(stored) => {
                staged.commit(&stored.cid.to_string()).await?;
                tracing::debug!(cid = %stored.cid, len = stored.len, "blob stored");
                Ok(stored)
            }
            Err(e) => {
                if let Err(abort) = staged.abort().await {
                    tracing::warn!(error = %abort, "could not discard a failed blob write");
                }
                Err(e)
            }
        }
    }

    /// Opens the blob the consent decision granted, to release it to the grantee.
    ///
    /// This is the only way to read a blob's bytes. The stream re-hashes as it goes and holds one
    /// chunk back: if the bytes do not match the CID, it yields [`BlobError::Damaged`] in place of
    /// the last chunk, so a damaged blob is never released whole (its ciphertext's final,
    /// authenticating segment is withheld and the client cannot mistake it for a complete
    /// record). A blob a scrub already found damaged is refused by the node's quarantine list
    /// before any byte is sent; this check catches damage that appeared since the last scrub.
    pub async fn open(&self, grant: &impl OpensBlob) -> Result<BlobStream, BlobError> {
        let cid = *grant.blob_cid();
        match self.backend.read(&cid.to_string()).await? {
            Some(object) => Ok(BlobStream::new(cid, object)),
            None => Err(BlobError::NotFound(cid)),
        }
    }

    /// Reads the whole blob and checks it against its CID, for start-up checks and the periodic
    /// scrub. Memory stays bounded whatever the blob's length.
    pub async fn verify(&self, cid: &Cid) -> Result<Integrity, BlobError> {
        let Some(mut object) = self.backend.read(&cid.to_string()).await? else {
            return Ok(Integrity::Missing);
        };
        let mut hasher = CidHasher::new();
        let mut len: u64 = 0;
        while let Some(chunk) = object.chunks.try_next().await? {
            hasher.update(&chunk);
            len = len.saturating_add(chunk.len() as u64);
        }
        if hasher.finish() == *cid {
            Ok(Integrity::Intact { len })
        } else {
            tracing::warn!(cid = %cid, "blob failed its integrity check");
            Ok(Integrity::Damaged)
        }
    }

    /// Removes a blob, for erasure; `true` when it was stored.
    pub async fn delete(&self, cid: &Cid) -> Result<bool, BlobError> {
        self.backend.delete(&cid.to_string()).await
    }

    /// Whether a blob is stored under `cid` (without checking its bytes).
    pub async fn contains(&self, cid: &Cid) -> Result<bool, BlobError> {
        self.backend.exists(&cid.to_string()).await
    }

    /// The stored length of a blob, `None` when absent (without checking its bytes).
    pub async fn size(&self, cid: &Cid) -> Result<Option<u64>, BlobError> {
        self.backend.size(&cid.to_string()).await
    }

    /// CIDs of every stored blob. Writes still staged and objects whose name is not a CID in its
    /// canonical form are left out.
    pub async fn list(&self) -> Result<Vec<Cid>, BlobError> {
        let names = self.backend.list().await?;
        Ok(names
            .iter()
            .filter_map(|name| canonical_cid(name))
            .collect())
    }

    /// Removes staged writes older than `older_than` that a crash left behind; returns how many.
    /// Pick an age well above the longest upload, e.g. a day.
    pub async fn sweep_staging(&self, older_than: Duration) -> Result<usize, BlobError> {
        self.backend.sweep_staging(older_than).await
    }
}

impl fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobStore").finish_non_exhaustive()
    }
}

/// A granted blob's bytes, checked against its CID as they stream (see [`BlobStore::open`]).
pub struct BlobStream {
    cid: Cid,
    len: u64,
    chunks: ByteStream,
    /// `None` once the stream has ended.
    hasher: Option<CidHasher>,
    /// The chunk withheld until the next one (or a verified end) arrives.
    held: Option<Bytes>,
}

impl BlobStream {
    fn new(cid: Cid, object: Object) -> Self {
        Self {
            cid,
            len: object.len,
            chunks: object.chunks,
            hasher: Some(CidHasher::new()),
            held: None,
        }
    }

    /// The CID the bytes are checked against.
    pub fn cid(&self) -> &Cid {
        &self.cid
    }

    /// Length the backend records, for a `Content-Length`; a stream whose bytes differ ends in
    /// [`BlobError::Damaged`].
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the recorded length is zero.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Stream for BlobStream {
    type Item = Result<Bytes, BlobError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        // Each turn consumes one item of the finite backend stream.
        loop {
            let Some(hasher) = this.hasher.as_mut() else {
                return Poll::Ready(None);
            };
            match this.chunks.poll_next_unpin(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(chunk))) => {
                    if chunk.is_empty() {
                        continue;
                    }
                    hasher.update(&chunk);
                    if let Some(previous) = this.held.replace(chunk) {
                        return Poll::Ready(Some(Ok(previous)));
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    this.hasher = None;
                    this.held = None;
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(None) => {
                    let intact = this.hasher.take().map(CidHasher::finish) == Some(this.cid);
                    let last = this.held.take();
                    if !intact {
                        tracing::error!(cid = %this.cid, "blob damaged: release stopped before its last chunk");
                        return Poll::Ready(Some(Err(BlobError::Damaged(this.cid))));
                    }
                    return Poll::Ready(last.map(Ok));
                }
            }
        }
    }
}

impl fmt::Debug for BlobStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobStream")
            .field("cid", &self.cid)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

/// Copies `data` into `staged`, hashing it and enforcing `max_len`.
async fn stage<S>(
    mut data: Pin<&mut S>,
    staged: &mut dyn StagedWrite,
    max_len: u64,
) -> Result<Stored, BlobError>
where
    S: Stream<Item = Result<Bytes, std::io::Error>> + ?Sized,
{
    let mut hasher = CidHasher::new();
    let mut len: u64 = 0;
    while let Some(chunk) = data.try_next().await? {
        len = len.saturating_add(chunk.len() as u64);
        if len > max_len {
            return Err(BlobError::TooLarge { limit: max_len });
        }
        if chunk.is_empty() {
            continue;
        }
        hasher.update(&chunk);
        staged.append(chunk).await?;
    }
    Ok(Stored {
        cid: hasher.finish(),
        len,
    })
}

/// The CID a name spells, only when the name is that CID's canonical spelling: anything else is a
/// foreign object, not a blob.
fn canonical_cid(name: &str) -> Option<Cid> {
    let cid: Cid = name.parse().ok()?;
    (cid.to_string() == name).then_some(cid)
}
