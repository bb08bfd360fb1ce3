//! Issue 2, "what must hold" 1: the whole consent lifecycle through the real CLI against a real
//! node process: denial without a grant (audited), a category grant for treatment, revocation,
//! expiry by block time, break-glass for its duration only, erasure with its receipt; a 50 MB
//! imaging file stored and read with flat memory.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn consent_lifecycle_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let node = NodeProc::start(&tmp.path().join("node"));
    let w = seed(&node, tmp.path());
    let pid = w.patient_id.as_str();

    // The front desk keeps the patient's identifying data off the ledger and finds them again.
    cli(
        &node,
        &[
            "persona",
            "put",
            "--as",
            s(&w.doctor),
            "--patient",
            pid,
            "--name",
            "Meera Nair",
            "--birth-date",
            "1984-02-29",
            "--national-id",
            "9999 8888 7777",
        ],
    )
    .expect_ok();
    let found = cli(
        &node,
        &[
            "persona",
            "find",
            "--as",
            s(&w.doctor),
            "--national-id",
            "999988887777",
        ],
    )
    .expect_ok()
    .json();
    assert_eq!(found["patients"][0].as_str(), Some(pid));

    // The patient adds a lab result and a 50 MB imaging file.
    let lab = tmp.path().join("lab.json");
    std::fs::write(&lab, br#"{"resourceType":"Observation","code":{"text":"HbA1c"},"valueQuantity":{"value":6.1,"unit":"%"}}"#).unwrap();
    let image = tmp.path().join("ct.bin");
    random_file(&image, 50 * 1024 * 1024, 7);
    let rss_before = node.peak_rss_kib();
    let put = |file: &std::path::Path, category: &str| {
        let r = cli(
            &node,
            &[
                "record",
                "put",
                "--as",
                s(&w.patient),
                "--patient",
                pid,
                "--category",
                category,
                s(file),
            ],
        )
        .expect_ok();
        (r.json()["record"].as_str().unwrap().to_owned(), r.peak_kib)
    };
    let (lab_id, _) = put(&lab, "Observation/laboratory");
    let (img_id, put_peak) = put(&image, "ImagingStudy");
    // Memory stays flat: neither process holds the 50 MB file.
    assert!(
        put_peak < 40 * 1024,
        "CLI peak RSS {put_peak} KiB while storing 50 MB"
    );

    let out = tmp.path().join("out");
    let get = |who: &std::path::Path, rec: &str, purpose: &str| {
        cli(
            &node,
            &[
                "record",
                "get",
                "--as",
                s(who),
                "--record",
                rec,
                "--purpose",
                purpose,
                "--out",
                s(&out),
            ],
        )
    };

    // The owner reads the image back byte for byte, in constant memory.
    let r = get(&w.patient, &img_id, "treatment").expect_ok();
    assert!(same_file(&image, &out), "image round trip");
    assert!(
        r.peak_kib < 40 * 1024,
        "CLI peak RSS {} KiB while reading 50 MB",
        r.peak_kib
    );
    let node_growth = node.peak_rss_kib().saturating_sub(rss_before);
    assert!(
        node_growth < 40 * 1024,
        "node peak RSS grew by {node_growth} KiB over a 50 MB put and get"
    );

    // The doctor, without a grant, is denied, and the denial is in the patient's audit.
    let r = get(&w.doctor, &lab_id, "treatment");
    assert!(!r.ok);
    assert_eq!(r.code(), Some("access_denied"));
    let audit = cli(&node, &["audit", "--as", s(&w.patient)])
        .expect_ok()
        .json();
    let denied = audit["entries"].as_array().unwrap().iter().any(|e| {
        e["event"]["kind"] == "access"
            && e["event"]["reader"]["id"] == w.doctor_id.as_str()
            && e["event"]["outcome"]["status"] == "denied"
    });
    assert!(denied, "denial audited: {audit:#}");

    // Grant the doctor `laboratory` for treatment for one day.
    let g = cli(
        &node,
        &[
            "grant",
            "--as",
            s(&w.patient),
            "--to",
            &w.doctor_id,
            "--categories",
            "laboratory",
            "--purpose",
            "treatment",
            "--for",
            "1d",
        ],
    )
    .expect_ok()
    .json();
    assert_eq!(
        g["resealed"], 1,
        "the existing lab record's key was re-sealed to the doctor"
    );
    let grant_id = g["grant"].as_str().unwrap().to_owned();
    get(&w.doctor, &lab_id, "treatment").expect_ok();
    assert!(same_file(&lab, &out));
    assert_eq!(
        get(&w.doctor, &img_id, "treatment").code(),
        Some("access_denied"),
        "lab grant does not cover imaging"
    );
    assert_eq!(
        get(&w.doctor, &lab_id, "payment").code(),
        Some("access_denied"),
        "wrong purpose"
    );
    assert_eq!(
        get(&w.insurer, &lab_id, "payment").code(),
        Some("access_denied"),
        "insurer reads nothing"
    );
    assert_eq!(
        get(&w.insurer, &img_id, "treatment").code(),
        Some("access_denied")
    );

    // Revoke: denied again.
    let revoke = cli(
        &node,
        &["revoke", "--as", s(&w.patient), "--grant", &grant_id],
    )
    .expect_ok()
    .json();
    let revoke_tx = revoke["tx"].as_str().unwrap().to_owned();
    assert_eq!(
        get(&w.doctor, &lab_id, "treatment").code(),
        Some("access_denied")
    );

    // A grant expires by block time.
    cli(
        &node,
        &[
            "grant",
            "--as",
            s(&w.patient),
            "--to",
            &w.doctor_id,
            "--categories",
            "laboratory",
            "--for",
            "3s",
        ],
    )
    .expect_ok();
    get(&w.doctor, &lab_id, "treatment").expect_ok();
    std::thread::sleep(Duration::from_millis(3500));
    assert_eq!(
        get(&w.doctor, &lab_id, "treatment").code(),
        Some("access_denied"),
        "expired grant"
    );

    // Break-glass: the patient's standing emergency grant to the hospital lets keys reach the
    // emergency team; a doctor's break-glass opens reads for its duration only.
    cli(
        &node,
        &[
            "grant",
            "--as",
            s(&w.patient),
            "--to",
            &w.hospital,
            "--categories",
            "*",
            "--purpose",
            "emergency",
            "--for",
            "365d",
        ],
    )
    .expect_ok();
    assert_eq!(
        get(&w.doctor, &img_id, "emergency").code(),
        Some("access_denied"),
        "no break-glass yet"
    );
    assert_eq!(
        cli(
            &node,
            &[
                "break-glass",
                "--as",
                s(&w.insurer),
                "--patient",
                pid,
                "--reason",
                "curious",
                "--for",
                "5m"
            ]
        )
        .code(),
        Some("not_authorised")
    );
    cli(
        &node,
        &[
            "break-glass",
            "--as",
            s(&w.doctor),
            "--patient",
            pid,
            "--reason",
            "unconscious in ED",
            "--for",
            "4s",
        ],
    )
    .expect_ok();
    get(&w.doctor, &img_id, "emergency").expect_ok();
    assert!(same_file(&image, &out), "break-glass read of the image");
    std::thread::sleep(Duration::from_millis(4500));
    assert_eq!(
        get(&w.doctor, &img_id, "emergency").code(),
        Some("access_denied"),
        "break-glass over"
    );
    let audit = cli(&node, &["audit", "--as", s(&w.patient)])
        .expect_ok()
        .json();
    let entries = audit["entries"].as_array().unwrap();
    assert!(entries.iter().any(
        |e| e["event"]["kind"] == "break_glass" && e["event"]["reason"] == "unconscious in ED"
    ));
    assert!(entries.iter().any(|e| e["event"]["kind"] == "access"
        && e["event"]["outcome"]["basis"]["kind"] == "break_glass"));
    assert!(entries.iter().any(
        |e| e["event"]["kind"] == "access" && e["event"]["outcome"]["basis"]["kind"] == "grant"
    ));

    // Erasure deletes the ciphertext and every envelope; reads fail; the receipt is visible.
    let meta = cli(
        &node,
        &[
            "erase",
            "--as",
            s(&w.patient),
            "--record",
            &lab_id,
            "--wait",
        ],
    )
    .expect_ok()
    .json();
    assert_eq!(
        meta["erase_receipts"].as_array().unwrap().len(),
        1,
        "one validator, one receipt: {meta:#}"
    );
    let cid = meta["cid"].as_str().unwrap();
    let blobs = node.data.join("blobs");
    let leftover = walk(&blobs)
        .into_iter()
        .any(|p| p.to_string_lossy().contains(cid));
    assert!(!leftover, "ciphertext file deleted");
    assert_eq!(
        get(&w.patient, &lab_id, "treatment").code(),
        Some("access_denied")
    );
    assert_eq!(
        get(&w.doctor, &lab_id, "emergency").code(),
        Some("access_denied")
    );

    // Everything above is provable: the revocation's inclusion proof verifies offline against
    // the validator keys, and the whole chain checks.
    let proof = cli(&node, &["verify", "proof", "--tx", &revoke_tx])
        .expect_ok()
        .json();
    assert_eq!(proof["kind"], "revoke");
    let status = cli(&node, &["verify", "chain"]).expect_ok().json();
    assert!(status["problems"].as_array().unwrap().is_empty());
}
