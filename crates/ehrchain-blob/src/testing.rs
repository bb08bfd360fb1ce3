//! Fault injection for tests: a backend wrapper that damages what it reads or fails writes part
//! way, to show that damage is caught and that a failed write leaves nothing behind.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt, TryStreamExt};

use crate::backend::{Backend, Object, StagedWrite};
use crate::BlobError;

/// Wraps a [`Backend`] and injects the faults switched on; switch them at any time, e.g. after
/// storing good data. Share it as `Arc<FaultyBackend>` to keep the switches while a
/// [`BlobStore`](crate::BlobStore) uses it.
pub struct FaultyBackend {
    inner: Arc<dyn Backend>,
    flip_at: AtomicU64,
    fail_after: AtomicU64,
}

impl FaultyBackend {
    /// A wrapper injecting nothing until told to.
    pub fn new(inner: Arc<dyn Backend>) -> Self {
        Self {
            inner,
            flip_at: AtomicU64::new(OFF),
            fail_after: AtomicU64::new(OFF),
        }
    }

    /// Flips the lowest bit of the byte at `offset` in every object read from now on (`None`:
    /// stop). The stored object itself is left alone.
    pub fn flip_byte_on_read(&self, offset: Option<u64>) {
        self.flip_at.store(offset.unwrap_or(OFF), Ordering::SeqCst);
    }

    /// Makes every staged write begun from now on fail once it has been given more than `bytes`
    /// bytes, after passing the first `bytes` on (`None`: stop).
    pub fn fail_writes_after(&self, bytes: Option<u64>) {
        self.fail_after
            .store(bytes.unwrap_or(OFF), Ordering::SeqCst);
    }
}

impl Backend for FaultyBackend {
    fn begin(&self) -> BoxFuture<'_, Result<Box<dyn StagedWrite>, BlobError>> {
        async move {
            let inner = self.inner.begin().await?;
            let limit = self.fail_after.load(Ordering::SeqCst);
            let staged: Box<dyn StagedWrite> = Box::new(FaultyStaged {
                inner,
                written: 0,
                limit: (limit != OFF).then_some(limit),
            });
            Ok(staged)
        }
        .boxed()
    }

    fn read<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<Object>, BlobError>> {
        async move {
            let Some(object) = self.inner.read(name).await? else {
                return Ok(None);
            };
            let flip_at = self.flip_at.load(Ordering::SeqCst);
            if flip_at == OFF {
                return Ok(Some(object));
            }
            let mut position: u64 = 0;
            let chunks = object
                .chunks
                .map_ok(move |chunk| {
                    let start = position;
                    position = position.saturating_add(chunk.len() as u64);
                    if !(start..position).contains(&flip_at) {
                        return chunk;
                    }
                    let mut damaged = BytesMut::from(&chunk[..]);
                    if let Some(byte) = usize::try_from(flip_at - start)
                        .ok()
                        .and_then(|i| damaged.get_mut(i))
                    {
                        *byte ^= 0x01;
                    }
                    damaged.freeze()
                })
                .boxed();
            Ok(Some(Object {
                len: object.len,
                chunks,
            }))
        }
        .boxed()
    }

    fn delete<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<bool, BlobError>> {
        self.inner.delete(name)
    }

    fn exists<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<bool, BlobError>> {
        self.inner.exists(name)
    }

    fn size<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<u64>, BlobError>> {
        self.inner.size(name)
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<String>, BlobError>> {
        self.inner.list()
    }

    fn sweep_staging(&self, older_than: Duration) -> BoxFuture<'_, Result<usize, BlobError>> {
        self.inner.sweep_staging(older_than)
    }
}

/// Marks a fault as switched off.
const OFF: u64 = u64::MAX;

/// A staged write that fails past its byte limit.
struct FaultyStaged {
    inner: Box<dyn StagedWrite>,
    written: u64,
    limit: Option<u64>,
}

impl StagedWrite for FaultyStaged {
    fn append(&mut self, mut chunk: Bytes) -> BoxFuture<'_, Result<(), BlobError>> {
        async move {
            let end = self.written.saturating_add(chunk.len() as u64);
            let Some(limit) = self.limit.filter(|&limit| end > limit) else {
                self.written = end;
                return self.inner.append(chunk).await;
            };
            // Pass on what fits first, so the failure strikes a write that has staged data.
            let fits = usize::try_from(limit.saturating_sub(self.written)).unwrap_or(usize::MAX);
            chunk.truncate(fits);
            if !chunk.is_empty() {
                self.written = limit;
                self.inner.append(chunk).await?;
            }
            Err(BlobError::Io(std::io::Error::other(format!(
                "injected write failure after {limit} bytes"
            ))))
        }
        .boxed()
    }

    fn commit<'a>(self: Box<Self>, name: &'a str) -> BoxFuture<'a, Result<(), BlobError>> {
        self.inner.commit(name)
    }

    fn abort(self: Box<Self>) -> BoxFuture<'static, Result<(), BlobError>> {
        self.inner.abort()
    }
}
