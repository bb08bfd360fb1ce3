//! Blobs in a local folder: committed objects at `root/blobs/<shard>/<name>`, writes staged in
//! `root/tmp/` and made durable with fsync, an atomic rename and an fsync of the folder.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt, TryStreamExt};
use tokio::io::AsyncWriteExt;
use tokio_util::io::ReaderStream;

use crate::backend::{staging_token, validate_name, Backend, Object, StagedWrite};
use crate::BlobError;

/// Largest chunk a read yields: big enough to keep syscalls few, small enough that holding one
/// back (see [`BlobStream`](crate::BlobStream)) costs little.
pub const FS_READ_CHUNK: usize = 64 * 1024;

/// A [`Backend`] over a local folder that this node alone writes to.
///
/// A blob named `n` lives at `root/blobs/<last two characters of n>/n`: up to 1024 folders keep
/// any one folder small, and the shard is visible from the name alone.
#[derive(Debug, Clone)]
pub struct FsBackend {
    root: PathBuf,
    blobs: PathBuf,
    staging: PathBuf,
}

impl FsBackend {
    /// Opens (creating when absent) a store rooted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Result<Self, BlobError> {
        let root = root.into();
        let blobs = root.join(BLOBS_DIR);
        let staging = root.join(STAGING_DIR);
        std::fs::create_dir_all(&blobs)?;
        std::fs::create_dir_all(&staging)?;
        Ok(Self {
            root,
            blobs,
            staging,
        })
    }

    /// The folder this backend was opened on.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where a committed object named `name` lives; `name` must be valid.
    fn object_path(&self, name: &str) -> PathBuf {
        self.blobs.join(shard(name)).join(name)
    }
}

impl Backend for FsBackend {
    fn begin(&self) -> BoxFuture<'_, Result<Box<dyn StagedWrite>, BlobError>> {
        async move {
            let path = self
                .staging
                .join(format!("{}{STAGING_SUFFIX}", staging_token()));
            let file = tokio::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .await?;
            let staged: Box<dyn StagedWrite> = Box::new(FsStaged {
                file: Some(file),
                path: Some(path),
                blobs: self.blobs.clone(),
            });
            Ok(staged)
        }
        .boxed()
    }

    fn read<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<Object>, BlobError>> {
        async move {
            validate_name(name)?;
            let path = self.object_path(name);
            // Open, stat and (for a blob of one chunk, the common case for clinical documents)
            // the whole read in one hand-off to the blocking pool: each tokio::fs call is a hand-off
            // of its own, and on the read path they cost more than the read itself.
            let opened = blocking(move || {
                use std::io::Read;
                let file = match std::fs::File::open(&path) {
                    Ok(file) => file,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(e.into()),
                };
                let len = file.metadata()?.len();
                if len > FS_READ_CHUNK as u64 {
                    return Ok(Some((len, Err(file))));
                }
                let mut whole = Vec::with_capacity(len as usize);
                file.take(FS_READ_CHUNK as u64).read_to_end(&mut whole)?;
                Ok(Some((len, Ok(Bytes::from(whole)))))
            })
            .await?;
            let Some((len, content)) = opened else {
                return Ok(None);
            };
            let chunks = match content {
                Ok(whole) => futures::stream::once(async move { Ok(whole) }).boxed(),
                Err(file) => {
                    ReaderStream::with_capacity(tokio::fs::File::from_std(file), FS_READ_CHUNK)
                        .map_err(BlobError::Io)
                        .boxed()
                }
            };
            Ok(Some(Object { len, chunks }))
        }
        .boxed()
    }

    fn delete<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<bool, BlobError>> {
        async move {
            validate_name(name)?;
            let path = self.object_path(name);
            match tokio::fs::remove_file(&path).await {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
                Err(e) => return Err(e.into()),
            }
            // Deletion serves erasure: the removal must survive a power cut, not just the call.
            let shard_dir = self.blobs.join(shard(name));
            blocking(move || sync_dir(&shard_dir)).await?;
            Ok(true)
        }
        .boxed()
    }

    fn exists<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<bool, BlobError>> {
        async move { Ok(self.size(name).await?.is_some()) }.boxed()
    }

    fn size<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<u64>, BlobError>> {
        async move {
            validate_name(name)?;
            match tokio::fs::metadata(self.object_path(name)).await {
                Ok(meta) if meta.is_file() => Ok(Some(meta.len())),
                Ok(_) => Ok(None),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e.into()),
            }
        }
        .boxed()
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<String>, BlobError>> {
        let blobs = self.blobs.clone();
        blocking(move || list_blobs(&blobs)).boxed()
    }

    fn sweep_staging(&self, older_than: Duration) -> BoxFuture<'_, Result<usize, BlobError>> {
        let staging = self.staging.clone();
        blocking(move || sweep(&staging, older_than)).boxed()
    }
}

/// Sub-folder holding committed blobs.
const BLOBS_DIR: &str = "blobs";
/// Sub-folder holding staged writes.
const STAGING_DIR: &str = "tmp";
/// Suffix of a staged write, so a sweep removes only what this backend made.
const STAGING_SUFFIX: &str = ".part";

/// A write staged in `root/tmp/`; removed on drop unless committed.
struct FsStaged {
    file: Option<tokio::fs::File>,
    /// `None` once committed or aborted: nothing left for `Drop` to remove.
    path: Option<PathBuf>,
    blobs: PathBuf,
}

impl StagedWrite for FsStaged {
    fn append(&mut self, chunk: Bytes) -> BoxFuture<'_, Result<(), BlobError>> {
        async move {
            let file = self.file.as_mut().ok_or_else(finished)?;
            file.write_all(&chunk).await?;
            Ok(())
        }
        .boxed()
    }

    fn commit<'a>(mut self: Box<Self>, name: &'a str) -> BoxFuture<'a, Result<(), BlobError>> {
        async move {
            validate_name(name)?;
            let mut file = self.file.take().ok_or_else(finished)?;
            // tokio buffers writes in the background: flush surfaces their errors before fsync.
            file.flush().await?;
            file.sync_all().await?;
            drop(file);
            let from = self.path.clone().ok_or_else(finished)?;
            let blobs = self.blobs.clone();
            let shard_dir = blobs.join(shard(name));
            let to = shard_dir.join(name);
            blocking(move || {
                match std::fs::create_dir(&shard_dir) {
                    Ok(()) => sync_dir(&blobs)?,
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(e.into()),
                }
                std::fs::rename(&from, &to)?;
                sync_dir(&shard_dir)?;
                Ok(())
            })
            .await?;
            // Renamed: the staged path is gone, so Drop must not try to remove it.
            self.path = None;
            Ok(())
        }
        .boxed()
    }

    fn abort(mut self: Box<Self>) -> BoxFuture<'static, Result<(), BlobError>> {
        async move {
            drop(self.file.take());
            if let Some(path) = self.path.take() {
                match tokio::fs::remove_file(&path).await {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(())
        }
        .boxed()
    }
}

impl Drop for FsStaged {
    fn drop(&mut self) {
        drop(self.file.take());
        if let Some(path) = self.path.take() {
            // One unlink; blocking briefly here beats leaving a cancelled upload on disk.
            if let Err(e) = std::fs::remove_file(&path) {
                if e.kind() != io::ErrorKind::NotFound {
                    tracing::warn!(path = %path.display(), error = %e, "could not remove staged blob");
                }
            }
        }
    }
}

/// The shard folder of a valid name: its last two characters.
fn shard(name: &str) -> &str {
    name.get(name.len().saturating_sub(2)..).unwrap_or(name)
}

fn finished() -> BlobError {
    BlobError::Io(io::Error::other("staged write already finished"))
}

/// Makes a folder's entries (a rename, a new or removed file) durable.
fn sync_dir(dir: &Path) -> Result<(), BlobError> {
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// Runs blocking filesystem work off the async threads.
async fn blocking<T, F>(work: F) -> Result<T, BlobError>
where
    F: FnOnce() -> Result<T, BlobError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| BlobError::Io(io::Error::other(e)))?
}

/// Names of committed blobs: valid names in the shard folder their name points to. Anything else
/// (an operator's stray file, a folder of another layout) is skipped, not an error.
fn list_blobs(blobs: &Path) -> Result<Vec<String>, BlobError> {
    let mut names = Vec::new();
    for shard_entry in std::fs::read_dir(blobs)? {
        let shard_entry = shard_entry?;
        if !shard_entry.file_type()?.is_dir() {
            continue;
        }
        let Some(shard_name) = shard_entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        for entry in std::fs::read_dir(shard_entry.path())? {
            let entry = entry?;
            if !entry.file_type()?.is_file() {
                continue;
            }
            if let Some(name) = entry.file_name().to_str() {
                if validate_name(name).is_ok() && shard(name) == shard_name {
                    names.push(name.to_owned());
                }
            }
        }
    }
    Ok(names)
}

/// Removes staged writes last modified more than `older_than` ago.
fn sweep(staging: &Path, older_than: Duration) -> Result<usize, BlobError> {
    let now = SystemTime::now();
    let mut removed = 0;
    for entry in std::fs::read_dir(staging)? {
        let entry = entry?;
        let is_staged = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.ends_with(STAGING_SUFFIX));
        if !is_staged || !entry.file_type()?.is_file() {
            continue;
        }
        let modified = entry.metadata()?.modified()?;
        let age = now.duration_since(modified).unwrap_or(Duration::ZERO);
        if age > older_than {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(removed)
}
