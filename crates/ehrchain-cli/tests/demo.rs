//! `ehrchain demo` seeds a small consortium, serves it, and prints steps that work.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::*;

#[test]
fn demo_seeds_a_consortium_and_serves_it() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("demo");
    let mut child = Command::new(BIN)
        .args(["demo", "--data-dir"])
        .arg(&data)
        .args(["--listen", "127.0.0.1:0"])
        .env("EHRCHAIN_NODE_PASSPHRASE", NODE_PASS)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut printed = String::new();
    let mut url = None;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        printed.push_str(&line);
        printed.push('\n');
        if let Some(u) = line.strip_prefix("ehrchain node listening on ") {
            url = Some(u.to_owned());
            break;
        }
    }
    let url = url.unwrap_or_else(|| panic!("demo did not start:\n{printed}"));
    let orgs: serde_json::Value = reqwest::blocking::get(format!("{url}/v1/organisations"))
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(orgs["organisations"].as_array().unwrap().len(), 2, "{orgs}");
    assert!(
        printed.contains("ehrchain grant"),
        "prints what to try next:\n{printed}"
    );
    // The printed key files and ids are real: the demo patient can list its (empty) records.
    let node = NodeProc {
        child,
        url,
        data: data.clone(),
    };
    let patient = data.join("demo-keys/patient.key");
    let pid = serde_json::from_slice::<serde_json::Value>(
        &std::fs::read(data.join("demo-keys/patient.key.pub.json")).unwrap(),
    )
    .unwrap()["patient_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let run = std::process::Command::new(BIN)
        .args(["--json", "record", "list", "--as"])
        .arg(&patient)
        .args(["--patient", &pid])
        .env("EHRCHAIN_NODE", &node.url)
        .env("EHRCHAIN_PASSPHRASE", "demo")
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    // And the node checks itself on request.
    let verify = cli(
        &node,
        &["verify", "blobs", "--data-dir", data.to_str().unwrap()],
    )
    .expect_ok()
    .json();
    assert!(verify["alerts"].as_array().unwrap().is_empty());
}

#[test]
fn init_creates_keys_and_genesis_and_is_idempotent() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("n");
    let init = || {
        let out = Command::new(BIN)
            .args(["--json", "init", "--data-dir"])
            .arg(&data)
            .env("EHRCHAIN_NODE_PASSPHRASE", NODE_PASS)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let first = init();
    assert!(data.join("keys/validator.key").exists() && data.join("genesis.bin").exists());
    let second = init();
    assert_eq!(
        first["chain_id"], second["chain_id"],
        "re-running init keeps the chain"
    );
    assert_eq!(first["validator_key"], second["validator_key"]);
    // A wrong passphrase is a clear error, not a new key.
    let out = Command::new(BIN)
        .args(["init", "--data-dir"])
        .arg(&data)
        .env("EHRCHAIN_NODE_PASSPHRASE", "wrong")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("passphrase"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
