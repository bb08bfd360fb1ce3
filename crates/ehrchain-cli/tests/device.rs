//! Issue 5, device feed: a registered device bound to a patient (by the patient's append grant
//! for vital signs) pushes readings; they are anchored in batches, one transaction per batch,
//! and the patient reads them back. An unbound device stores nothing.

mod common;

use std::collections::BTreeSet;

use common::*;
use serde_json::{json, Value};

fn readings(n: usize) -> Value {
    let obs: Vec<Value> = (0..n)
        .map(|i| {
            json!({"resourceType": "Observation", "id": format!("hr-{i}"), "status": "final",
                "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}],
                "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]},
                "effectiveDateTime": format!("2026-11-21T10:{:02}:{:02}Z", i / 60, i % 60),
                "valueQuantity": {"value": 60 + (i % 40), "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"}})
        })
        .collect();
    json!(obs)
}

#[test]
fn device_readings_are_anchored_in_batches() {
    let tmp = tempfile::tempdir().unwrap();
    let node = NodeProc::start(&tmp.path().join("node"));
    let w = seed(&node, tmp.path());
    let device = tmp.path().join("monitor.key");
    let dinfo = cli(&node, &["keys", "new", s(&device)]).expect_ok().json();
    let data = node.data.to_str().unwrap();
    cli(
        &node,
        &[
            "agent",
            "register",
            "--data-dir",
            data,
            "--org",
            &w.hospital,
            "--role",
            "device",
            "--name",
            "Bedside monitor 7",
            "--licence",
            "SN-0007",
            "--key",
            s(&device),
        ],
    )
    .expect_ok();
    let file = tmp.path().join("vitals.json");
    std::fs::write(&file, serde_json::to_vec(&readings(100)).unwrap()).unwrap();
    let push = |key: &std::path::Path| {
        cli(
            &node,
            &[
                "device",
                "push",
                "--as",
                s(key),
                "--patient",
                &w.patient_id,
                s(&file),
            ],
        )
    };

    // Not bound yet: the first batch is refused and nothing is anchored.
    let r = push(&device);
    assert!(!r.ok && r.code() == Some("not_authorised"), "{}", r.stderr);

    // The patient binds the device to their vital signs.
    cli(
        &node,
        &[
            "grant",
            "--as",
            s(&w.patient),
            "--to",
            dinfo["agent_id"].as_str().unwrap(),
            "--categories",
            "Observation/vital-signs",
            "--mode",
            "append",
            "--for",
            "1d",
        ],
    )
    .expect_ok();
    let r = push(&device).expect_ok().json();
    assert_eq!(r["records"], 100);
    assert_eq!(r["batches"], 2, "64 + 36: {r}");

    // The patient's audit: 100 anchors by the device, in exactly the two batch transactions.
    let audit = cli(&node, &["audit", "--as", s(&w.patient)])
        .expect_ok()
        .json();
    let anchors: Vec<&Value> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"]["kind"] == "anchor")
        .collect();
    assert_eq!(anchors.len(), 100);
    let txs: BTreeSet<&str> = anchors.iter().map(|e| e["tx"].as_str().unwrap()).collect();
    let batch_txs: BTreeSet<&str> = r["batch_txs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(txs, batch_txs);
    assert!(anchors
        .iter()
        .all(|e| e["event"]["author"]["id"] == dinfo["agent_id"]));

    // The patient reads a reading back.
    let out = tmp.path().join("hr.json");
    let record = anchors[0]["event"]["record"].as_str().unwrap();
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
    let got: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(got["code"]["coding"][0]["code"], "8867-4");

    // Pushing the same readings again is refused as a whole: their record ids exist.
    let again = push(&device);
    assert!(
        !again.ok && again.code() == Some("already_exists"),
        "{}",
        again.stderr
    );
}
