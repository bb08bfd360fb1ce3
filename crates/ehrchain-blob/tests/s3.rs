//! The blob store against a real S3-compatible server: `s3s-fs`, started on a loopback port over
//! a temporary folder (install it with `scripts/install-test-deps.sh`).

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use ehrchain_blob::{BlobError, BlobStore, Integrity, S3Config, S3_PART_SIZE};
use ehrchain_consent::AccessGrant;
use ehrchain_crypto::{Cid, CidHasher};
use futures::{Stream, StreamExt};
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};

const BUCKET: &str = "records";
const ACCESS_KEY: &str = "ehrchain-test";
const SECRET_KEY: &str = "ehrchain-test-secret";
/// Names the server binary when it is not `s3s-fs` on `PATH`.
const SERVER_ENV: &str = "EHRCHAIN_S3_SERVER";

/// The tests run one at a time so the 50 MB test's memory figure is its own.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test]
async fn put_open_verify_delete_list() {
    let _serial = SERIAL.lock().await;
    let server = S3Server::start();
    let store = server.store(Some("node-1"));

    let small = random_bytes(10_000, 1);
    // Over one part: goes through a multipart upload to staging and a copy into place.
    let large = random_bytes(S3_PART_SIZE + 1_234_567, 2);
    let a = store.put(chunked(&small, 1_000), 1 << 30).await.unwrap();
    let b = store.put(chunked(&large, 100_000), 1 << 30).await.unwrap();
    assert_eq!(a.cid, Cid::of(&small));
    assert_eq!(a.len, 10_000);
    assert_eq!(b.cid, Cid::of(&large));
    assert_eq!(b.len, large.len() as u64);

    for (stored, data) in [(&a, &small), (&b, &large)] {
        let (released, error) = drain(&store, &stored.cid).await;
        assert!(error.is_none(), "{error:?}");
        assert!(released == *data, "bytes differ for {}", stored.cid);
        assert_eq!(
            store.verify(&stored.cid).await.unwrap(),
            Integrity::Intact { len: stored.len }
        );
        assert!(store.contains(&stored.cid).await.unwrap());
        assert_eq!(store.size(&stored.cid).await.unwrap(), Some(stored.len));
    }

    // Idempotent: the same bytes again give the same CID and one object.
    assert_eq!(store.put(chunked(&small, 777), 1 << 30).await.unwrap(), a);
    let mut listed = store.list().await.unwrap();
    listed.sort();
    let mut expected = vec![a.cid, b.cid];
    expected.sort();
    assert_eq!(listed, expected);
    assert!(
        server.staged_objects().is_empty(),
        "{:?}",
        server.staged_objects()
    );

    assert!(store.delete(&a.cid).await.unwrap());
    assert!(!store.delete(&a.cid).await.unwrap());
    assert!(!store.contains(&a.cid).await.unwrap());
    assert_eq!(store.verify(&a.cid).await.unwrap(), Integrity::Missing);
    let err = store
        .open(&AccessGrant::for_tests(a.cid))
        .await
        .unwrap_err();
    assert!(
        matches!(err, BlobError::NotFound(cid) if cid == a.cid),
        "{err}"
    );
    assert_eq!(store.list().await.unwrap(), vec![b.cid]);
}

#[tokio::test]
async fn prefixes_keep_stores_apart_and_foreign_objects_are_not_listed() {
    let _serial = SERIAL.lock().await;
    let server = S3Server::start();
    let one = server.store(Some("node-1"));
    let two = server.store(Some("node-2"));
    let unprefixed = server.store(None);

    let a = one.put(chunked(b"only in one", 4), 100).await.unwrap();
    let b = unprefixed
        .put(chunked(b"at the top", 4), 100)
        .await
        .unwrap();
    // Objects someone else put in the bucket.
    server.write_object("node-1/blobs/not-a-cid.txt", b"x");
    server.write_object("node-1/blobs/nested/deeper", b"x");
    server.write_object("node-1/elsewhere", b"x");

    assert_eq!(one.list().await.unwrap(), vec![a.cid]);
    assert!(two.list().await.unwrap().is_empty());
    assert_eq!(unprefixed.list().await.unwrap(), vec![b.cid]);
    assert!(!two.contains(&a.cid).await.unwrap());
    assert_eq!(two.verify(&a.cid).await.unwrap(), Integrity::Missing);
}

#[tokio::test]
async fn a_byte_flipped_on_the_server_is_caught() {
    let _serial = SERIAL.lock().await;
    let server = S3Server::start();
    let store = server.store(Some("node-1"));
    let data = random_bytes(300_000, 3);
    let stored = store.put(chunked(&data, 8_192), 1 << 20).await.unwrap();

    let path = server.object_path(&format!("node-1/blobs/{}", stored.cid));
    let mut on_disk = std::fs::read(&path).unwrap();
    assert_eq!(on_disk, data);
    let last = on_disk.len() - 1;
    on_disk[last] ^= 0x01;
    std::fs::write(&path, &on_disk).unwrap();

    assert_eq!(store.verify(&stored.cid).await.unwrap(), Integrity::Damaged);
    let (released, error) = drain(&store, &stored.cid).await;
    assert!(
        matches!(error, Some(BlobError::Damaged(cid)) if cid == stored.cid),
        "{error:?}"
    );
    assert!(
        released.len() < data.len(),
        "the damaged last chunk went out"
    );
    assert_eq!(released, data[..released.len()]);
}

#[tokio::test]
async fn refused_uploads_leave_nothing_on_the_server() {
    let _serial = SERIAL.lock().await;
    let server = S3Server::start();
    let store = server.store(Some("node-1"));

    // Refused while still buffered, and refused after the multipart upload began.
    for size in [50_000, 2 * S3_PART_SIZE + 10] {
        let data = random_bytes(size, 4);
        let err = store
            .put(chunked(&data, 64 * 1024), size as u64 - 1)
            .await
            .unwrap_err();
        assert!(matches!(err, BlobError::TooLarge { .. }), "{err}");
    }
    let failing = futures::stream::iter(vec![
        Ok(Bytes::from(random_bytes(S3_PART_SIZE + 1, 5))),
        Err(std::io::Error::other("client went away")),
    ]);
    let err = store.put(failing, u64::MAX).await.unwrap_err();
    assert!(matches!(err, BlobError::Io(_)), "{err}");

    assert!(store.list().await.unwrap().is_empty());
    assert_eq!(server.files(), Vec::<PathBuf>::new());
}

#[tokio::test]
async fn a_cancelled_multipart_upload_is_aborted() {
    let _serial = SERIAL.lock().await;
    let server = S3Server::start();
    let store = server.store(Some("node-1"));
    // Two parts' worth, then an input that never ends: the put is cut off by the timeout while
    // its multipart upload is open on the server.
    let input = futures::stream::iter(vec![Ok(Bytes::from(random_bytes(2 * S3_PART_SIZE + 1, 7)))])
        .chain(futures::stream::pending());
    let put = tokio::time::timeout(Duration::from_secs(2), store.put(input, u64::MAX)).await;
    assert!(put.is_err(), "the put should still have been waiting");

    // The abort runs in the background once the write is dropped.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.files().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(server.files(), Vec::<PathBuf>::new());
    assert!(store.list().await.unwrap().is_empty());
}

#[tokio::test]
async fn sweep_removes_stale_staged_uploads() {
    let _serial = SERIAL.lock().await;
    let server = S3Server::start();
    let store = server.store(Some("node-1"));
    server.write_object("node-1/tmp/stale-upload", b"left by a crash");
    server.write_object("node-1/tmp/upload-in-progress", b"still going");
    let stale = server.object_path("node-1/tmp/stale-upload");
    let file = std::fs::File::options().write(true).open(stale).unwrap();
    file.set_modified(SystemTime::now() - Duration::from_secs(2 * 3600))
        .unwrap();

    let removed = store
        .sweep_staging(Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(removed, 1);
    assert_eq!(
        server.staged_objects(),
        vec!["upload-in-progress".to_owned()]
    );
}

#[tokio::test]
async fn fifty_megabytes_stream_through_in_bounded_memory() {
    const SIZE: usize = 50 * 1024 * 1024;
    let _serial = SERIAL.lock().await;
    let server = S3Server::start();
    let store = server.store(Some("node-1"));

    let mut expected = CidHasher::new();
    let mut source = std::pin::pin!(generated(SIZE, 6));
    while let Some(chunk) = source.next().await {
        expected.update(&chunk.unwrap());
    }
    let expected = expected.finish();

    let before = peak_rss_bytes();
    let stored = store.put(generated(SIZE, 6), SIZE as u64).await.unwrap();
    assert_eq!(stored.cid, expected);
    assert_eq!(stored.len, SIZE as u64);

    let mut stream = store
        .open(&AccessGrant::for_tests(stored.cid))
        .await
        .unwrap();
    assert_eq!(stream.len(), SIZE as u64);
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
            grown < 40 * 1024 * 1024,
            "peak memory grew by {grown} bytes for a {SIZE}-byte blob"
        );
    }
}

/// A running `s3s-fs`, killed when dropped.
struct S3Server {
    _child: ChildGuard,
    endpoint: String,
    /// The server's data folder: object `k` of bucket `b` is the file `root/b/k`.
    root: tempfile::TempDir,
    _logs: tempfile::TempDir,
}

impl S3Server {
    fn start() -> Self {
        let binary = server_binary();
        let root = tempfile::tempdir().unwrap();
        // s3s-fs serves each sub-folder of its root as a bucket.
        std::fs::create_dir(root.path().join(BUCKET)).unwrap();
        let logs = tempfile::tempdir().unwrap();
        let log = logs.path().join("s3s-fs.log");
        // A port found free can be taken before the server binds it: try a few.
        for _ in 0..5 {
            let port = free_port();
            let output = std::fs::File::create(&log).unwrap();
            let child = Command::new(&binary)
                .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
                .arg(root.path())
                .stdin(Stdio::null())
                .stdout(output.try_clone().unwrap())
                .stderr(output)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
            let mut child = ChildGuard(child);
            if child.wait_listening(port) {
                return Self {
                    _child: child,
                    endpoint: format!("http://127.0.0.1:{port}"),
                    root,
                    _logs: logs,
                };
            }
        }
        let output = std::fs::read_to_string(&log).unwrap_or_default();
        panic!(
            "{} did not start listening; its output:\n{output}",
            binary.display()
        );
    }

    fn store(&self, prefix: Option<&str>) -> BlobStore {
        BlobStore::s3(S3Config {
            endpoint: self.endpoint.clone(),
            bucket: BUCKET.to_owned(),
            region: "us-east-1".to_owned(),
            access_key: ACCESS_KEY.to_owned(),
            secret_key: SECRET_KEY.to_owned(),
            prefix: prefix.map(str::to_owned),
        })
        .unwrap()
    }

    fn object_path(&self, key: &str) -> PathBuf {
        self.root.path().join(BUCKET).join(key)
    }

    /// Puts an object behind the store's back, as another client of the bucket would.
    fn write_object(&self, key: &str, data: &[u8]) {
        let path = self.object_path(key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
    }

    /// Names of the objects under the `node-1` store's staging prefix.
    fn staged_objects(&self) -> Vec<String> {
        let staging = self.object_path("node-1/tmp");
        let Ok(entries) = std::fs::read_dir(staging) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// Every file the server keeps: objects, metadata and unfinished multipart parts.
    fn files(&self) -> Vec<PathBuf> {
        let mut found = Vec::new();
        let mut pending = vec![self.root.path().to_path_buf()];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let entry = entry.unwrap();
                if entry.file_type().unwrap().is_dir() {
                    pending.push(entry.path());
                } else {
                    found.push(entry.path());
                }
            }
        }
        found
    }
}

/// Kills and reaps the server process however the test ends.
struct ChildGuard(Child);

impl ChildGuard {
    /// Waits (up to 10 s) until the server accepts connections; false if it exits or times out.
    fn wait_listening(&mut self, port: u16) -> bool {
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return false;
            }
            if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The server binary: `$EHRCHAIN_S3_SERVER`, else `s3s-fs` on `PATH`. Missing is a failure, not
/// a skip: CI installs it.
fn server_binary() -> PathBuf {
    if let Some(path) = std::env::var_os(SERVER_ENV) {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "{SERVER_ENV}={} is not a file; unset it or run scripts/install-test-deps.sh",
            path.display()
        );
        return path;
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("s3s-fs"))
            .find(|candidate| is_executable(candidate))
    });
    on_path.unwrap_or_else(|| {
        panic!(
            "the S3 test server `s3s-fs` is not on PATH: run scripts/install-test-deps.sh \
             (or point {SERVER_ENV} at an s3s-fs binary)"
        )
    })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    listener.local_addr().unwrap().port()
}

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

/// `total` pseudo-random bytes as 64 KiB chunks, generated as they are pulled.
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

/// Peak resident memory of this process, where the platform reports it.
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
