//! Blobs in an S3-compatible bucket through `object_store`: committed objects at
//! `<prefix>/blobs/<name>`; small writes go straight to their final key, large ones stream as a
//! multipart upload to `<prefix>/tmp/` and are copied into place once their CID is known.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutPayload, WriteMultipart};

use crate::backend::{staging_token, validate_name, Backend, Object, StagedWrite};
use crate::BlobError;

/// Size of one multipart part, and the most a write buffers before it starts one: S3's minimum
/// for every part but the last.
pub const S3_PART_SIZE: usize = 5 * 1024 * 1024;

/// Largest blob the S3 backend stores: the limit of S3's single-request CopyObject, which moves a
/// staged upload to its final key.
pub const S3_MAX_BLOB: u64 = 5 * 1024 * 1024 * 1024;

/// Where and how to reach the bucket.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Config {
    /// Base URL, e.g. `https://s3.eu-west-1.amazonaws.com` or `http://127.0.0.1:9000`. Plain
    /// `http` is accepted only for a loopback address.
    pub endpoint: String,
    /// The bucket, which must already exist.
    pub bucket: String,
    /// The signing region, e.g. `us-east-1`.
    pub region: String,
    /// Access key id.
    pub access_key: String,
    /// Secret access key; never printed by `Debug`.
    pub secret_key: String,
    /// Key prefix so several stores can share a bucket, e.g. `node-1`.
    pub prefix: Option<String>,
}

impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field("prefix", &self.prefix)
            .finish()
    }
}

/// A [`Backend`] over an S3-compatible bucket, path-style.
///
/// A write crashed after its upload leaves an object under `<prefix>/tmp/`, which
/// [`Backend::sweep_staging`] removes; a multipart upload cut off mid-way is invisible to listing,
/// so give the bucket an `AbortIncompleteMultipartUpload` lifecycle rule. Deletion serves
/// erasure: leave versioning off on the bucket, or expire noncurrent versions, or a deleted blob
/// lives on as an old version.
#[derive(Clone)]
pub struct S3Backend {
    store: Arc<AmazonS3>,
    bucket: String,
    blobs: ObjectPath,
    staging: ObjectPath,
}

impl S3Backend {
    /// Builds the client; no request is made until the first operation.
    pub fn new(config: S3Config) -> Result<Self, BlobError> {
        let plain_http = config.endpoint.starts_with("http://");
        if plain_http && !is_loopback_url(&config.endpoint) {
            return Err(BlobError::Config(format!(
                "S3 endpoint {} uses plain http to a non-loopback host; use https",
                config.endpoint
            )));
        }
        let root = match config.prefix.as_deref().map(|p| p.trim_matches('/')) {
            None | Some("") => ObjectPath::default(),
            Some(prefix) => ObjectPath::parse(prefix)
                .map_err(|e| BlobError::Config(format!("S3 key prefix {prefix:?}: {e}")))?,
        };
        let store = AmazonS3Builder::new()
            .with_endpoint(&config.endpoint)
            .with_bucket_name(&config.bucket)
            .with_region(&config.region)
            .with_access_key_id(&config.access_key)
            .with_secret_access_key(&config.secret_key)
            .with_allow_http(plain_http)
            .with_virtual_hosted_style_request(false)
            .build()
            .map_err(|e| BlobError::Config(e.to_string()))?;
        Ok(Self {
            store: Arc::new(store),
            bucket: config.bucket,
            blobs: root.child("blobs"),
            staging: root.child("tmp"),
        })
    }

    async fn head(&self, name: &str) -> Result<Option<u64>, BlobError> {
        validate_name(name)?;
        match self.store.head(&self.blobs.child(name)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(backend_error(e)),
        }
    }
}

impl fmt::Debug for S3Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Backend")
            .field("bucket", &self.bucket)
            .field("blobs", &self.blobs.as_ref())
            .finish_non_exhaustive()
    }
}

impl Backend for S3Backend {
    fn begin(&self) -> BoxFuture<'_, Result<Box<dyn StagedWrite>, BlobError>> {
        let staged: Box<dyn StagedWrite> = Box::new(S3Staged {
            store: Arc::clone(&self.store),
            blobs: self.blobs.clone(),
            staging_key: self.staging.child(staging_token()),
            buffer: Vec::new(),
            buffered: 0,
            total: 0,
            upload: None,
            staged_object: false,
        });
        futures::future::ready(Ok(staged)).boxed()
    }

    fn read<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<Object>, BlobError>> {
        async move {
            validate_name(name)?;
            match self.store.get(&self.blobs.child(name)).await {
                Ok(result) => {
                    let len = result.meta.size;
                    let chunks = result.into_stream().map_err(backend_error).boxed();
                    Ok(Some(Object { len, chunks }))
                }
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(backend_error(e)),
            }
        }
        .boxed()
    }

    fn delete<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<bool, BlobError>> {
        async move {
            // S3 answers DELETE alike whether or not the key existed; ask first to report it.
            if self.head(name).await?.is_none() {
                return Ok(false);
            }
            self.store
                .delete(&self.blobs.child(name))
                .await
                .map_err(backend_error)?;
            Ok(true)
        }
        .boxed()
    }

    fn exists<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<bool, BlobError>> {
        async move { Ok(self.head(name).await?.is_some()) }.boxed()
    }

    fn size<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<u64>, BlobError>> {
        self.head(name).boxed()
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<String>, BlobError>> {
        async move {
            let mut listing = self.store.list(Some(&self.blobs));
            let mut names = Vec::new();
            while let Some(meta) = listing.try_next().await.map_err(backend_error)? {
                if let Some(name) = direct_child(&meta.location, &self.blobs) {
                    names.push(name);
                }
            }
            Ok(names)
        }
        .boxed()
    }

    fn sweep_staging(&self, older_than: Duration) -> BoxFuture<'_, Result<usize, BlobError>> {
        async move {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |since| since.as_secs());
            let cutoff = i64::try_from(now.saturating_sub(older_than.as_secs())).unwrap_or(0);
            let mut listing = self.store.list(Some(&self.staging));
            let mut stale = Vec::new();
            while let Some(meta) = listing.try_next().await.map_err(backend_error)? {
                if meta.last_modified.timestamp() < cutoff {
                    stale.push(meta.location);
                }
            }
            let mut removed = 0;
            for key in stale {
                match self.store.delete(&key).await {
                    Ok(()) => removed += 1,
                    Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(backend_error(e)),
                }
            }
            Ok(removed)
        }
        .boxed()
    }
}

/// Parts uploaded at once; with [`S3_PART_SIZE`] this bounds a write's memory to about 15 MiB.
const UPLOAD_CONCURRENCY: usize = 2;

/// A write in progress: buffered until it outgrows one part, then a multipart upload.
struct S3Staged {
    store: Arc<AmazonS3>,
    blobs: ObjectPath,
    staging_key: ObjectPath,
    /// Chunks held while the blob still fits one request; at most about [`S3_PART_SIZE`].
    buffer: Vec<Bytes>,
    buffered: usize,
    total: u64,
    upload: Option<WriteMultipart>,
    /// Whether a completed upload sits at `staging_key` and must be removed.
    staged_object: bool,
}

impl S3Staged {
    /// Starts the multipart upload and hands it what was buffered.
    async fn start_upload(&mut self) -> Result<(), BlobError> {
        let upload = self
            .store
            .put_multipart(&self.staging_key)
            .await
            .map_err(backend_error)?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, S3_PART_SIZE);
        for chunk in self.buffer.drain(..) {
            writer.put(chunk);
        }
        self.buffered = 0;
        self.upload = Some(writer);
        Ok(())
    }

    async fn finish(&mut self, name: &str) -> Result<(), BlobError> {
        validate_name(name)?;
        let target = self.blobs.child(name);
        let Some(writer) = self.upload.take() else {
            // Small enough to have been held whole: one request straight to the final key.
            let payload: PutPayload = self.buffer.drain(..).collect();
            self.buffered = 0;
            self.store
                .put(&target, payload)
                .await
                .map_err(backend_error)?;
            return Ok(());
        };
        // `finish` aborts the upload itself when completing fails.
        self.staged_object = true;
        writer.finish().await.map_err(backend_error)?;
        let copied = self
            .store
            .copy(&self.staging_key, &target)
            .await
            .map_err(backend_error);
        let removed = self
            .store
            .delete(&self.staging_key)
            .await
            .map_err(backend_error);
        if removed.is_ok() {
            self.staged_object = false;
        }
        copied?;
        if let Err(e) = removed {
            // The blob is in place; the leftover staged copy is swept later.
            tracing::warn!(key = %self.staging_key, error = %e, "could not remove staged upload");
        }
        Ok(())
    }
}

impl StagedWrite for S3Staged {
    fn append(&mut self, chunk: Bytes) -> BoxFuture<'_, Result<(), BlobError>> {
        async move {
            self.total = self.total.saturating_add(chunk.len() as u64);
            if self.total > S3_MAX_BLOB {
                return Err(BlobError::TooLarge { limit: S3_MAX_BLOB });
            }
            if let Some(writer) = self.upload.as_mut() {
                writer
                    .wait_for_capacity(UPLOAD_CONCURRENCY)
                    .await
                    .map_err(backend_error)?;
                writer.put(chunk);
                return Ok(());
            }
            self.buffered += chunk.len();
            self.buffer.push(chunk);
            if self.buffered > S3_PART_SIZE {
                self.start_upload().await?;
            }
            Ok(())
        }
        .boxed()
    }

    fn commit<'a>(mut self: Box<Self>, name: &'a str) -> BoxFuture<'a, Result<(), BlobError>> {
        async move { self.finish(name).await }.boxed()
    }

    fn abort(mut self: Box<Self>) -> BoxFuture<'static, Result<(), BlobError>> {
        async move {
            self.buffer.clear();
            if let Some(writer) = self.upload.take() {
                writer.abort().await.map_err(backend_error)?;
            }
            Ok(())
        }
        .boxed()
    }
}

impl Drop for S3Staged {
    fn drop(&mut self) {
        let upload = self.upload.take();
        let staged_object = self.staged_object.then(|| self.staging_key.clone());
        if upload.is_none() && staged_object.is_none() {
            return;
        }
        // Dropped mid-write (a cancelled request): clean up in the background, best effort.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(key = %self.staging_key, "staged upload dropped outside a runtime; left for the sweep");
            return;
        };
        let store = Arc::clone(&self.store);
        runtime.spawn(async move {
            if let Some(writer) = upload {
                if let Err(e) = writer.abort().await {
                    tracing::warn!(error = %e, "could not abort a cancelled multipart upload");
                }
            }
            if let Some(key) = staged_object {
                if let Err(e) = store.delete(&key).await {
                    tracing::warn!(key = %key, error = %e, "could not remove staged upload");
                }
            }
        });
    }
}

fn backend_error(e: object_store::Error) -> BlobError {
    BlobError::Backend(e.to_string())
}

/// The name of `location` when it sits directly under `parent`.
fn direct_child(location: &ObjectPath, parent: &ObjectPath) -> Option<String> {
    let mut parts = location.prefix_match(parent)?;
    let name = parts.next()?;
    if parts.next().is_some() {
        return None;
    }
    Some(name.as_ref().to_owned())
}

/// Whether an `http://` URL names a loopback host (`localhost`, `127.0.0.0/8`, `[::1]`).
fn is_loopback_url(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return false;
    }
    let host = match authority.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(endpoint: &str) -> S3Config {
        S3Config {
            endpoint: endpoint.to_owned(),
            bucket: "records".to_owned(),
            region: "us-east-1".to_owned(),
            access_key: "AKID".to_owned(),
            secret_key: "very-secret".to_owned(),
            prefix: Some("/node-1/".to_owned()),
        }
    }

    #[test]
    fn plain_http_only_to_loopback() {
        for ok in [
            "http://127.0.0.1:9000",
            "http://localhost:9000/",
            "http://[::1]:9000",
            "http://127.8.0.1",
            "https://s3.example.org",
        ] {
            assert!(S3Backend::new(config(ok)).is_ok(), "{ok} refused");
        }
        for bad in [
            "http://10.0.0.1:9000",
            "http://s3.example.org",
            "http://127.0.0.1@evil.example:80",
            "http://127.0.0.1.example.org",
        ] {
            assert!(
                matches!(S3Backend::new(config(bad)), Err(BlobError::Config(_))),
                "{bad} accepted"
            );
        }
    }

    #[test]
    fn prefix_is_trimmed_and_secret_is_not_printed() {
        let backend = S3Backend::new(config("http://127.0.0.1:9000")).unwrap();
        assert_eq!(backend.blobs.as_ref(), "node-1/blobs");
        assert_eq!(backend.staging.as_ref(), "node-1/tmp");
        let printed = format!("{:?}", config("http://127.0.0.1:9000"));
        assert!(!printed.contains("very-secret"), "{printed}");
    }

    #[test]
    fn only_direct_children_are_listed() {
        let parent = ObjectPath::from("p/blobs");
        assert_eq!(
            direct_child(&ObjectPath::from("p/blobs/abc"), &parent).as_deref(),
            Some("abc")
        );
        assert_eq!(
            direct_child(&ObjectPath::from("p/blobs/x/abc"), &parent),
            None
        );
        assert_eq!(direct_child(&ObjectPath::from("p/tmp/abc"), &parent), None);
    }
}
