//! Behaviour of the store over the filesystem backend, with and without injected faults.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use ehrchain_consent::AccessGrant;
use ehrchain_crypto::{Cid, CidHasher};
use futures::{Stream, StreamExt};
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};

use crate::testing::FaultyBackend;
use crate::{BlobError, BlobStore, FsBackend, Integrity, Stored, FS_READ_CHUNK};

fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut data = vec![0; len];
    StdRng::seed_from_u64(seed).fill_bytes(&mut data);
    data
}

fn chunked(data: &[u8], size: usize) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send {
    let chunks: Vec<_> = data
        .chunks(size)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    futures::stream::iter(chunks)
}

fn cid_of(data: &[u8]) -> Cid {
    Cid::of(data)
}

/// Everything the stream released before it ended, and the error it ended with, if any.
async fn drain(store: &BlobStore, cid: &Cid) -> (Vec<u8>, Option<BlobError>) {
    let mut stream = store.open(&AccessGrant::for_tests(*cid)).await.unwrap();
    let mut released = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(chunk) => released.extend_from_slice(&chunk),
            Err(e) => {
                assert!(
                    stream.next().await.is_none(),
                    "stream went on after an error"
                );
                return (released, Some(e));
            }
        }
    }
    (released, None)
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect()
}

fn blob_path(root: &Path, cid: &Cid) -> PathBuf {
    let name = cid.to_string();
    root.join("blobs").join(&name[name.len() - 2..]).join(&name)
}

fn fs_store() -> (tempfile::TempDir, BlobStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::filesystem(dir.path()).unwrap();
    (dir, store)
}

/// A store over a fault-injecting wrapper of a filesystem backend.
fn faulty_store() -> (tempfile::TempDir, Arc<FaultyBackend>, BlobStore) {
    let dir = tempfile::tempdir().unwrap();
    let faulty = Arc::new(FaultyBackend::new(Arc::new(
        FsBackend::new(dir.path()).unwrap(),
    )));
    let store = BlobStore::with_backend(faulty.clone());
    (dir, faulty, store)
}

#[tokio::test]
async fn put_then_open_returns_the_same_bytes_under_their_cid() {
    let (_dir, store) = fs_store();
    let data = random_bytes(300_000, 1);
    let stored = store.put(chunked(&data, 7_000), 1 << 20).await.unwrap();
    assert_eq!(
        stored,
        Stored {
            cid: cid_of(&data),
            len: 300_000
        }
    );
    assert!(store.contains(&stored.cid).await.unwrap());
    assert_eq!(store.size(&stored.cid).await.unwrap(), Some(300_000));

    let stream = store
        .open(&AccessGrant::for_tests(stored.cid))
        .await
        .unwrap();
    assert_eq!(stream.len(), 300_000);
    assert_eq!(stream.cid(), &stored.cid);
    let (released, error) = drain(&store, &stored.cid).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(released, data);
    assert_eq!(
        store.verify(&stored.cid).await.unwrap(),
        Integrity::Intact { len: 300_000 }
    );
}

#[tokio::test]
async fn reads_come_in_bounded_chunks() {
    let (_dir, store) = fs_store();
    let data = random_bytes(5 * FS_READ_CHUNK + 3, 2);
    let stored = store
        .put(chunked(&data, data.len()), u64::MAX)
        .await
        .unwrap();
    let mut stream = store
        .open(&AccessGrant::for_tests(stored.cid))
        .await
        .unwrap();
    let mut total = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        assert!(chunk.len() <= FS_READ_CHUNK);
        total += chunk.len();
    }
    assert_eq!(total, data.len());
}

#[tokio::test]
async fn storing_the_same_bytes_twice_is_idempotent() {
    let (_dir, store) = fs_store();
    let data = random_bytes(10_000, 3);
    let first = store.put(chunked(&data, 1_000), 10_000).await.unwrap();
    let second = store.put(chunked(&data, 3_333), 10_000).await.unwrap();
    assert_eq!(first, second);
    assert_eq!(store.list().await.unwrap(), vec![first.cid]);
    let (released, error) = drain(&store, &first.cid).await;
    assert!(error.is_none());
    assert_eq!(released, data);
}

#[tokio::test]
async fn an_empty_blob_is_a_blob() {
    let (_dir, store) = fs_store();
    let stored = store.put(futures::stream::empty(), 0).await.unwrap();
    assert_eq!(
        stored,
        Stored {
            cid: cid_of(b""),
            len: 0
        }
    );
    let (released, error) = drain(&store, &stored.cid).await;
    assert!(error.is_none());
    assert!(released.is_empty());
    assert_eq!(
        store.verify(&stored.cid).await.unwrap(),
        Integrity::Intact { len: 0 }
    );
}

#[tokio::test]
async fn too_large_is_refused_and_leaves_nothing_behind() {
    let (dir, store) = fs_store();
    let data = random_bytes(10_001, 4);
    let err = store.put(chunked(&data, 1_000), 10_000).await.unwrap_err();
    assert!(
        matches!(err, BlobError::TooLarge { limit: 10_000 }),
        "{err}"
    );
    assert!(files_in(&dir.path().join("tmp")).is_empty());
    assert!(store.list().await.unwrap().is_empty());
    assert!(!store.contains(&cid_of(&data)).await.unwrap());

    // Exactly at the limit is fine.
    let stored = store.put(chunked(&data[..10_000], 1_000), 10_000).await;
    assert_eq!(stored.unwrap().len, 10_000);
}

#[tokio::test]
async fn a_failing_input_stream_leaves_nothing_behind() {
    let (dir, store) = fs_store();
    let input = futures::stream::iter(vec![
        Ok(Bytes::from_static(b"first part")),
        Err(std::io::Error::other("client went away")),
    ]);
    let err = store.put(input, 1_000).await.unwrap_err();
    assert!(matches!(err, BlobError::Io(_)), "{err}");
    assert!(files_in(&dir.path().join("tmp")).is_empty());
    assert!(store.list().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_cancelled_put_leaves_nothing_behind() {
    let (dir, store) = fs_store();
    // One chunk, then an input that never ends: the put is cut off by the timeout.
    let input = futures::stream::iter(vec![Ok(Bytes::from(random_bytes(50_000, 5)))])
        .chain(futures::stream::pending());
    let put = tokio::time::timeout(Duration::from_millis(200), store.put(input, 1 << 20)).await;
    assert!(put.is_err(), "the put should still have been waiting");
    assert!(files_in(&dir.path().join("tmp")).is_empty());
    assert!(store.list().await.unwrap().is_empty());
}

#[tokio::test]
async fn delete_removes_and_reports_whether_it_existed() {
    let (_dir, store) = fs_store();
    let stored = store.put(chunked(b"erase me", 3), 100).await.unwrap();
    assert!(store.delete(&stored.cid).await.unwrap());
    assert!(!store.delete(&stored.cid).await.unwrap());
    assert!(!store.contains(&stored.cid).await.unwrap());
    assert_eq!(store.size(&stored.cid).await.unwrap(), None);
    assert_eq!(store.verify(&stored.cid).await.unwrap(), Integrity::Missing);
    let err = store
        .open(&AccessGrant::for_tests(stored.cid))
        .await
        .unwrap_err();
    assert!(
        matches!(err, BlobError::NotFound(ref cid) if *cid == stored.cid),
        "{err}"
    );
    assert!(store.list().await.unwrap().is_empty());
}

#[tokio::test]
async fn list_ignores_staging_and_foreign_names() {
    let (dir, store) = fs_store();
    let a = store.put(chunked(b"record a", 4), 100).await.unwrap().cid;
    let b = store.put(chunked(b"record b", 4), 100).await.unwrap().cid;

    let root = dir.path();
    std::fs::write(root.join("tmp").join("leftover.part"), b"x").unwrap();
    let shard = blob_path(root, &a);
    let shard = shard.parent().unwrap();
    std::fs::write(shard.join("notacid"), b"x").unwrap();
    std::fs::write(shard.join("README.txt"), b"x").unwrap();
    std::fs::write(root.join("blobs").join("stray"), b"x").unwrap();
    // A real CID filed under the wrong shard, and an upper-cased (non-canonical) spelling.
    let c = cid_of(b"misfiled");
    let wrong_shard = root.join("blobs").join("zz");
    std::fs::create_dir_all(&wrong_shard).unwrap();
    std::fs::write(wrong_shard.join(c.to_string()), b"misfiled").unwrap();
    std::fs::write(shard.join(a.to_string().to_uppercase()), b"x").unwrap();

    let mut listed = store.list().await.unwrap();
    listed.sort();
    let mut expected = vec![a, b];
    expected.sort();
    assert_eq!(listed, expected);
}

#[tokio::test]
async fn a_byte_flipped_on_disk_is_caught_by_verify_and_open() {
    let (dir, store) = fs_store();
    let data = random_bytes(3 * FS_READ_CHUNK + 100, 6);
    let stored = store.put(chunked(&data, 10_000), u64::MAX).await.unwrap();

    let path = blob_path(dir.path(), &stored.cid);
    let mut on_disk = std::fs::read(&path).unwrap();
    on_disk[1_000] ^= 0x80;
    std::fs::write(&path, &on_disk).unwrap();

    assert_eq!(store.verify(&stored.cid).await.unwrap(), Integrity::Damaged);
    let (released, error) = drain(&store, &stored.cid).await;
    assert!(
        matches!(error, Some(BlobError::Damaged(ref cid)) if *cid == stored.cid),
        "{error:?}"
    );
    // Every chunk but the last went out; the last (100 bytes here) was withheld.
    assert_eq!(released.len(), 3 * FS_READ_CHUNK);
    assert_eq!(released, on_disk[..3 * FS_READ_CHUNK]);

    // Storing the original again repairs it.
    store.put(chunked(&data, 10_000), u64::MAX).await.unwrap();
    assert!(matches!(
        store.verify(&stored.cid).await.unwrap(),
        Integrity::Intact { .. }
    ));
}

#[tokio::test]
async fn a_damaged_single_chunk_blob_releases_nothing() {
    let (_dir, faulty, store) = faulty_store();
    let stored = store.put(chunked(b"tiny record", 100), 100).await.unwrap();
    faulty.flip_byte_on_read(Some(0));
    let (released, error) = drain(&store, &stored.cid).await;
    assert!(released.is_empty());
    assert!(matches!(error, Some(BlobError::Damaged(_))), "{error:?}");
}

#[tokio::test]
async fn damage_injected_on_read_is_caught_and_withholds_the_last_chunk() {
    let (_dir, faulty, store) = faulty_store();
    let data = random_bytes(4 * FS_READ_CHUNK + 10, 7);
    let stored = store.put(chunked(&data, 9_999), u64::MAX).await.unwrap();
    assert!(matches!(
        store.verify(&stored.cid).await.unwrap(),
        Integrity::Intact { .. }
    ));

    // Damage in the very last byte: only the hold-back keeps it from going out.
    faulty.flip_byte_on_read(Some(data.len() as u64 - 1));
    assert_eq!(store.verify(&stored.cid).await.unwrap(), Integrity::Damaged);
    let (released, error) = drain(&store, &stored.cid).await;
    assert!(matches!(error, Some(BlobError::Damaged(_))), "{error:?}");
    assert_eq!(released, data[..4 * FS_READ_CHUNK]);

    faulty.flip_byte_on_read(None);
    let (released, error) = drain(&store, &stored.cid).await;
    assert!(error.is_none());
    assert_eq!(released, data);
}

#[tokio::test]
async fn a_write_failing_part_way_leaves_nothing_behind() {
    let (dir, faulty, store) = faulty_store();
    faulty.fail_writes_after(Some(25_000));
    let data = random_bytes(100_000, 8);
    let err = store
        .put(chunked(&data, 10_000), u64::MAX)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("injected write failure"), "{err}");
    assert!(files_in(&dir.path().join("tmp")).is_empty());
    assert!(store.list().await.unwrap().is_empty());
    assert!(!store.contains(&cid_of(&data)).await.unwrap());

    // Below the limit writes still work.
    let stored = store.put(chunked(&data[..20_000], 10_000), u64::MAX).await;
    assert_eq!(stored.unwrap().len, 20_000);
}

#[tokio::test]
async fn sweep_removes_only_old_staged_writes() {
    let (dir, store) = fs_store();
    let staging = dir.path().join("tmp");
    let old = staging.join("old.part");
    let fresh = staging.join("fresh.part");
    let foreign = staging.join("notes.txt");
    for path in [&old, &fresh, &foreign] {
        std::fs::write(path, b"x").unwrap();
    }
    let two_hours_ago = SystemTime::now() - Duration::from_secs(2 * 3600);
    for path in [&old, &foreign] {
        let file = std::fs::File::options().write(true).open(path).unwrap();
        file.set_modified(two_hours_ago).unwrap();
    }
    let removed = store
        .sweep_staging(Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(removed, 1);
    assert!(!old.exists());
    assert!(fresh.exists());
    assert!(foreign.exists());
}

#[tokio::test]
async fn a_bad_name_never_reaches_the_filesystem() {
    let dir = tempfile::tempdir().unwrap();
    let backend = FsBackend::new(dir.path().join("store")).unwrap();
    std::fs::write(dir.path().join("secret"), b"x").unwrap();
    use crate::Backend;
    for name in ["../../secret", "..", "a/b"] {
        assert!(matches!(
            backend.read(name).await,
            Err(BlobError::InvalidName(_))
        ));
        assert!(matches!(
            backend.delete(name).await,
            Err(BlobError::InvalidName(_))
        ));
    }
    assert!(dir.path().join("secret").exists());
}

/// Peak resident memory of this process, where the platform reports it.
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// `total` pseudo-random bytes as a stream of 64 KiB chunks, generated as they are pulled.
fn generated(total: usize, seed: u64) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send {
    let rng = StdRng::seed_from_u64(seed);
    futures::stream::unfold((rng, total), |(mut rng, left)| async move {
        if left == 0 {
            return None;
        }
        let mut chunk = vec![0; left.min(64 * 1024)];
        rng.fill_bytes(&mut chunk);
        let len = chunk.len();
        Some((Ok(Bytes::from(chunk)), (rng, left - len)))
    })
}

#[tokio::test]
async fn fifty_megabytes_stream_through_in_bounded_memory() {
    const SIZE: usize = 50 * 1024 * 1024;
    let (_dir, store) = fs_store();
    let mut expected = CidHasher::new();
    let mut source = std::pin::pin!(generated(SIZE, 9));
    while let Some(chunk) = source.next().await {
        expected.update(&chunk.unwrap());
    }
    let expected = expected.finish();

    let before = peak_rss_bytes();
    let stored = store.put(generated(SIZE, 9), SIZE as u64).await.unwrap();
    assert_eq!(stored.cid, expected);
    assert_eq!(stored.len, SIZE as u64);

    let mut stream = store
        .open(&AccessGrant::for_tests(stored.cid))
        .await
        .unwrap();
    let mut hasher = CidHasher::new();
    let mut total = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        total += chunk.len();
        hasher.update(&chunk);
    }
    assert_eq!(total, SIZE);
    assert_eq!(hasher.finish(), expected);
    assert_eq!(
        store.verify(&stored.cid).await.unwrap(),
        Integrity::Intact { len: SIZE as u64 }
    );
    if let (Some(before), Some(after)) = (before, peak_rss_bytes()) {
        let grown = after.saturating_sub(before);
        assert!(
            grown < 24 * 1024 * 1024,
            "peak memory grew by {grown} bytes for a {SIZE}-byte blob"
        );
    }
}
