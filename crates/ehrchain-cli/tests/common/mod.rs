//! Test support: a real `ehrchain run` process on a loopback port with its own data folder, and
//! the real CLI binary run against it.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_ehrchain");
pub const NODE_PASS: &str = "node-test-passphrase";
pub const PASS: &str = "person-test-passphrase";

/// A node process. Killed (SIGKILL) on drop.
pub struct NodeProc {
    pub child: Child,
    pub url: String,
    pub data: PathBuf,
}

impl NodeProc {
    /// Starts `ehrchain run` on `data` and waits until it listens.
    pub fn start(data: &Path) -> NodeProc {
        Self::start_with(data, &[])
    }

    pub fn start_with(data: &Path, extra: &[&str]) -> NodeProc {
        Self::start_on(data, "127.0.0.1:0", extra)
    }

    /// Starts `ehrchain run` listening on `listen` (a consortium member's API address).
    pub fn start_on(data: &Path, listen: &str, extra: &[&str]) -> NodeProc {
        let mut child = Command::new(BIN)
            .args(["run", "--data-dir"])
            .arg(data)
            .args(["--listen", listen])
            .args(extra)
            .env("EHRCHAIN_NODE_PASSPHRASE", NODE_PASS)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn node");
        let url = banner_url(&mut child, "node");
        NodeProc {
            child,
            url,
            data: data.to_owned(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, no chance to clean up.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Peak resident memory of the node so far, in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        peak_rss_kib(self.pid()).expect("node /proc status")
    }

    pub fn get(&self, path: &str) -> Value {
        let resp = reqwest::blocking::get(format!("{}{}", self.url, path)).expect("GET");
        resp.json().expect("json")
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The result of one CLI run.
pub struct Run {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
    /// Peak resident memory seen while it ran (sampled), in KiB.
    pub peak_kib: u64,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", self.stdout, self.stderr))
    }

    /// The API error code printed on failure.
    pub fn code(&self) -> Option<&str> {
        self.stderr.lines().find_map(|l| l.strip_prefix("code: "))
    }

    #[track_caller]
    pub fn expect_ok(self) -> Run {
        assert!(
            self.ok,
            "command failed:\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }
}

/// Runs the CLI against `node` with `--json`, sampling its memory while it runs.
/// The URL a server process prints at the end of its first line of standard output.
pub fn banner_url(child: &mut std::process::Child, what: &str) -> String {
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read banner");
    line.trim()
        .rsplit(' ')
        .next()
        .filter(|u| u.starts_with("http://"))
        .unwrap_or_else(|| panic!("{what} did not start: {line:?}"))
        .to_owned()
}

/// The height of the block holding committed transaction `tx`, and the transaction's signature
/// bytes (which a test can find, and damage, in the node's block log).
pub fn block_of(node: &NodeProc, tx: &str) -> (u64, Vec<u8>) {
    use base64::Engine as _;
    use ehrchain_types::Canonical as _;
    let proof = node.get(&format!("/v1/tx/{tx}/proof"));
    let height = proof["height"].as_u64().unwrap();
    let proof = ehrchain_ledger::InclusionProof::from_bytes(
        &base64::engine::general_purpose::STANDARD
            .decode(proof["proof"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    (height, proof.tx.signature.to_bytes().to_vec())
}

pub fn cli(node: &NodeProc, args: &[&str]) -> Run {
    let mut child = Command::new(BIN)
        .arg("--json")
        .args(args)
        .env("EHRCHAIN_NODE", &node.url)
        .env("EHRCHAIN_PASSPHRASE", PASS)
        .env("EHRCHAIN_NODE_PASSPHRASE", NODE_PASS)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn cli");
    let pid = child.id();
    let mut peak = 0;
    let started = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if let Some(k) = peak_rss_kib(pid) {
            peak = peak.max(k);
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "cli timed out: {args:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let out: Output = child.wait_with_output().expect("output");
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        peak_kib: peak,
    }
}

/// Writes `len` pseudo-random bytes to `path` in constant memory.
pub fn random_file(path: &Path, len: usize, seed: u64) {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    let mut x = seed | 1;
    let mut buf = vec![0u8; 1 << 16];
    let mut left = len;
    while left > 0 {
        for b in buf.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        let n = left.min(buf.len());
        f.write_all(&buf[..n]).expect("write");
        left -= n;
    }
}

/// True if two files have the same bytes (read in chunks).
pub fn same_file(a: &Path, b: &Path) -> bool {
    use std::io::Read;
    let (mut fa, mut fb) = (
        std::fs::File::open(a).unwrap(),
        std::fs::File::open(b).unwrap(),
    );
    let (mut ba, mut bb) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let na = fa.read(&mut ba).unwrap();
        let mut filled = 0;
        while filled < na {
            let n = fb.read(&mut bb[filled..na]).unwrap();
            if n == 0 {
                return false;
            }
            filled += n;
        }
        if na == 0 {
            return fb.read(&mut bb).unwrap() == 0;
        }
        if ba[..na] != bb[..na] {
            return false;
        }
    }
}

/// A consortium seeded through the CLI: a hospital with a doctor, an insurer with an officer,
/// and a patient.
pub struct World {
    pub dir: PathBuf,
    pub hospital: String,
    pub insurer_org: String,
    pub doctor: PathBuf,
    pub doctor_id: String,
    pub insurer: PathBuf,
    pub patient: PathBuf,
    pub patient_id: String,
}

/// Creates an organisation hosted by `node`; its id.
pub fn create_org(node: &NodeProc, name: &str, kind: &str) -> String {
    let data = node.data.to_str().unwrap();
    let r = cli(
        node,
        &[
            "org",
            "create",
            "--data-dir",
            data,
            "--name",
            name,
            "--kind",
            kind,
        ],
    )
    .expect_ok();
    r.json()["organisation"]["id"].as_str().unwrap().to_owned()
}

/// Registers the holder of `key` as staff of `org` in `role`.
pub fn register_agent(node: &NodeProc, org: &str, role: &str, key: &Path) {
    let data = node.data.to_str().unwrap();
    cli(
        node,
        &[
            "agent",
            "register",
            "--data-dir",
            data,
            "--org",
            org,
            "--role",
            role,
            "--name",
            "Staff",
            "--licence",
            "L-1",
            "--key",
            key.to_str().unwrap(),
        ],
    )
    .expect_ok();
}

pub fn seed(node: &NodeProc, dir: &Path) -> World {
    let hospital = create_org(node, "St Mary's Hospital", "hospital");
    let insurer_org = create_org(node, "Acme Insurance", "insurer");
    let key = |name: &str| -> (PathBuf, Value) {
        let p = dir.join(name);
        let r = cli(node, &["keys", "new", p.to_str().unwrap()]).expect_ok();
        (p, r.json())
    };
    let (doctor, dinfo) = key("doctor.key");
    let (insurer, _) = key("insurer.key");
    let (patient, pinfo) = key("patient.key");
    register_agent(node, &hospital, "doctor", &doctor);
    register_agent(node, &insurer_org, "insurer-officer", &insurer);
    cli(
        node,
        &["patient", "register", "--key", patient.to_str().unwrap()],
    )
    .expect_ok();
    World {
        dir: dir.to_owned(),
        hospital,
        insurer_org,
        doctor,
        doctor_id: dinfo["agent_id"].as_str().unwrap().to_owned(),
        insurer,
        patient,
        patient_id: pinfo["patient_id"].as_str().unwrap().to_owned(),
    }
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Every file under `dir`, recursively.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// The shared sample data: `$EHRCHAIN_SAMPLE_DATA` if set, else `shared/data` beside the
/// repository or beside any folder above it, else `/work/shared/data` (where this project's
/// machines keep it, wherever CI clones the repository).
pub fn sample_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("EHRCHAIN_SAMPLE_DATA") {
        return PathBuf::from(dir);
    }
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .map(|a| a.join("shared/data"))
        .find(|d| d.is_dir())
        .unwrap_or_else(|| PathBuf::from("/work/shared/data"))
}

pub fn data(sub: &str) -> PathBuf {
    let dir = sample_root().join(sub);
    assert!(
        dir.is_dir(),
        "sample data missing: {} (set EHRCHAIN_SAMPLE_DATA to the shared/data folder)",
        dir.display()
    );
    dir
}
