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
