//! Issue 2, "what must hold" 2: flipping one byte of a stored block or blob is detected with an
//! alert naming it, and the damaged item is not served.

mod common;

use common::*;

fn flip_all(path: &std::path::Path, needle: &[u8]) -> usize {
    let mut bytes = std::fs::read(path).unwrap();
    let mut hits = 0;
    let mut i = 0;
    while i + needle.len() <= bytes.len() {
        if &bytes[i..i + needle.len()] == needle {
            bytes[i + needle.len() / 2] ^= 0x01;
            hits += 1;
            i += needle.len();
        } else {
            i += 1;
        }
    }
    std::fs::write(path, bytes).unwrap();
    hits
}

#[test]
fn flipped_bytes_in_blob_and_block_are_detected_and_not_served() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("node");
    let mut node = NodeProc::start(&data);
    let w = seed(&node, tmp.path());
    let file = tmp.path().join("report.pdf");
    random_file(&file, 300_000, 3);
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
            s(&file),
        ],
    )
    .expect_ok()
    .json();
    let record = put["record"].as_str().unwrap().to_owned();
    let cid = put["cid"].as_str().unwrap().to_owned();
    let anchor_tx = put["anchor_tx"].as_str().unwrap().to_owned();
    let (height, signature) = block_of(&node, &anchor_tx);
    assert!(node.get("/v1/alerts")["alerts"]
        .as_array()
        .unwrap()
        .is_empty());
    node.kill9();

    // One byte of the ciphertext file, and one byte of the block's copy of the transaction.
    let blob_file = walk(&data.join("blobs"))
        .into_iter()
        .find(|p| p.to_string_lossy().contains(&cid))
        .expect("blob file");
    let mut bytes = std::fs::read(&blob_file).unwrap();
    bytes[1000] ^= 0x40;
    std::fs::write(&blob_file, bytes).unwrap();
    let hits = flip_all(&data.join("ledger.redb.blocks"), &signature);
    assert!(
        hits >= 1,
        "the transaction's signature is in the block store"
    );

    let node = NodeProc::start(&data);
    let alerts = node.get("/v1/alerts")["alerts"].as_array().unwrap().clone();
    assert!(
        alerts.iter().any(|a| a["kind"] == "blob_damaged"
            && a["cid"] == cid.as_str()
            && a["record"] == record.as_str()),
        "blob alert names the CID and record: {alerts:#?}"
    );
    assert!(
        alerts
            .iter()
            .any(|a| a["kind"] == "block_damaged" && a["height"] == height),
        "block alert names the height: {alerts:#?}"
    );
    // Not served: the record read refuses, and so do the block and the proof from it.
    let r = cli(
        &node,
        &[
            "record",
            "get",
            "--as",
            s(&w.patient),
            "--record",
            &record,
            "--out",
            s(&tmp.path().join("o")),
        ],
    );
    assert_eq!(r.code(), Some("blob_damaged"), "{}", r.stderr);
    let resp = reqwest::blocking::get(format!("{}/v1/blocks/{height}", node.url)).unwrap();
    assert_eq!(resp.status().as_u16(), 503);
    let body: serde_json::Value = resp.json().unwrap();
    assert_eq!(body["error"]["code"], "block_damaged");
    assert!(
        !cli(&node, &["verify", "chain"]).ok,
        "a client's chain check fails too"
    );
    // Other blocks are still served.
    let ok = reqwest::blocking::get(format!("{}/v1/blocks/1", node.url)).unwrap();
    assert!(height == 1 || ok.status().is_success());
}
