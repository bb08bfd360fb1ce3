//! The node with its ciphertexts on a real S3-compatible server (`s3s-fs` on loopback, installed
//! by `scripts/install-test-deps.sh`): records stored and read back through the CLI, erasure
//! deletes the object, and the server only ever holds ciphertext.

mod common;

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

struct S3Server {
    child: Child,
    endpoint: String,
    root: tempfile::TempDir,
}

impl S3Server {
    fn start() -> S3Server {
        let bin = std::env::var("EHRCHAIN_S3_SERVER").unwrap_or_else(|_| "s3s-fs".into());
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("records")).unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(&bin)
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--access-key",
                "ehr",
                "--secret-key",
                "ehr-secret",
            ])
            .arg(root.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {bin} ({e}): run scripts/install-test-deps.sh")
            });
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "s3s-fs did not listen"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        S3Server {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            root,
        }
    }

    fn objects(&self) -> Vec<std::path::PathBuf> {
        let mut out = walk(&self.root.path().join("records"));
        out.retain(|p| !p.to_string_lossy().contains(".s3s"));
        out
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn records_live_on_s3_as_ciphertext() {
    let s3 = S3Server::start();
    let tmp = tempfile::tempdir().unwrap();
    let node = NodeProc::start_with(
        &tmp.path().join("node"),
        &[
            "--s3-endpoint",
            &s3.endpoint,
            "--s3-bucket",
            "records",
            "--s3-access-key",
            "ehr",
            "--s3-secret-key",
            "ehr-secret",
        ],
    );
    let w = seed(&node, tmp.path());
    let note = tmp.path().join("note.txt");
    let secret_text = "Patient reports chest pain radiating to left arm; troponin pending.";
    std::fs::write(&note, secret_text.repeat(2000)).unwrap();
    let put = cli(
        &node,
        &[
            "record",
            "put",
            "--as",
            s(&w.patient),
            "--patient",
            &w.patient_id,
            "--category",
            "DocumentReference/clinical-note",
            "--media-type",
            "text/plain",
            s(&note),
        ],
    )
    .expect_ok()
    .json();
    let record = put["record"].as_str().unwrap();
    let cid = put["cid"].as_str().unwrap();

    // The bucket holds the object under its CID, and only ciphertext.
    let objects = s3.objects();
    let object = objects
        .iter()
        .find(|p| p.to_string_lossy().contains(cid))
        .unwrap_or_else(|| panic!("no object for {cid} in {objects:?}"));
    let stored = std::fs::read(object).unwrap();
    assert!(
        !stored
            .windows(20)
            .any(|w| w == &secret_text.as_bytes()[..20]),
        "plaintext reached the object store"
    );
    assert!(
        !walk(&node.data)
            .iter()
            .any(|p| p.to_string_lossy().contains(cid)),
        "no local copy when the backend is S3"
    );

    let out = tmp.path().join("back.txt");
    cli(
        &node,
        &[
            "record",
            "get",
            "--as",
            s(&w.patient),
            "--record",
            record,
            "--out",
            s(&out),
        ],
    )
    .expect_ok();
    assert!(same_file(&note, &out));

    cli(
        &node,
        &["erase", "--as", s(&w.patient), "--record", record, "--wait"],
    )
    .expect_ok();
    assert!(
        !s3.objects()
            .iter()
            .any(|p| p.to_string_lossy().contains(cid)),
        "erasure deleted the object"
    );
}
