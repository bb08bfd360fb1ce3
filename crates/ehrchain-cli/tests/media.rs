//! Issue 5, binary clinical data: the DICOM, ECG (DICOM waveform, WFDB) samples and a PDF and
//! a text report are classified on `record put` and read back byte for byte; a generated 1 GiB
//! file round-trips byte for byte with the memory of the CLI and the node flat.

mod common;

use std::path::Path;

use common::*;

fn put(node: &NodeProc, w: &World, file: &Path, category: Option<&str>) -> (String, Run) {
    let mut args = vec![
        "record",
        "put",
        "--as",
        s(&w.patient),
        "--patient",
        &w.patient_id,
    ];
    if let Some(c) = category {
        args.extend(["--category", c]);
    }
    args.push(s(file));
    let r = cli(node, &args).expect_ok();
    (r.json()["record"].as_str().unwrap().to_owned(), r)
}

fn get(node: &NodeProc, w: &World, record: &str, out: &Path) -> Run {
    cli(
        node,
        &[
            "record",
            "get",
            "--as",
            s(&w.patient),
            "--record",
            record,
            "--out",
            s(out),
        ],
    )
    .expect_ok()
}

#[test]
fn clinical_files_are_classified_and_round_trip_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let node = NodeProc::start(&tmp.path().join("node"));
    let w = seed(&node, tmp.path());
    let pdf = tmp.path().join("report.pdf");
    std::fs::write(&pdf, b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n").unwrap();
    let txt = tmp.path().join("note.txt");
    std::fs::write(&txt, "Echo: normal LV function.\n").unwrap();
    let (dicom, wfdb) = (data("dicom"), data("wfdb"));
    for (file, category, media_type) in [
        (
            dicom.join("CT_small.dcm"),
            "ImagingStudy/CT",
            "application/dicom",
        ),
        (
            dicom.join("MR_small.dcm"),
            "ImagingStudy/MR",
            "application/dicom",
        ),
        (
            dicom.join("waveform_ecg.dcm"),
            "Observation/ecg",
            "application/dicom",
        ),
        (
            dicom.join("test-SR.dcm"),
            "DiagnosticReport/SR",
            "application/dicom",
        ),
        (
            dicom.join("reportsi.dcm"),
            "DiagnosticReport/SR",
            "application/dicom",
        ),
        (
            wfdb.join("ecg12.hea"),
            "Observation/ecg",
            "text/x-wfdb-header",
        ),
        (
            wfdb.join("ecg12.dat"),
            "Observation/ecg",
            "application/x-wfdb-signal",
        ),
        (
            wfdb.join("ecg12_212.hea"),
            "Observation/ecg",
            "text/x-wfdb-header",
        ),
        (
            wfdb.join("ecg12_212.dat"),
            "Observation/ecg",
            "application/x-wfdb-signal",
        ),
        (pdf.clone(), "DocumentReference/report", "application/pdf"),
        (
            txt.clone(),
            "DocumentReference/clinical-note",
            "text/plain; charset=utf-8",
        ),
    ] {
        let (record, r) = put(&node, &w, &file, None);
        let j = r.json();
        assert_eq!(j["category"], category, "{file:?}");
        assert_eq!(j["media_type"], media_type, "{file:?}");
        let out = tmp.path().join("out");
        let g = get(&node, &w, &record, &out).json();
        assert_eq!(g["category"], category);
        assert!(same_file(&file, &out), "{file:?} did not round-trip");
    }
    // A file of no known kind needs its category named.
    let unknown = tmp.path().join("blob.bin");
    std::fs::write(&unknown, [0u8, 1, 2, 255]).unwrap();
    let r = cli(
        &node,
        &[
            "record",
            "put",
            "--as",
            s(&w.patient),
            "--patient",
            &w.patient_id,
            s(&unknown),
        ],
    );
    assert!(
        !r.ok && r.stderr.contains("give --category"),
        "{}",
        r.stderr
    );

    // The research copy of the ECG no longer carries the patient's id.
    let copy = tmp.path().join("ecg-research.dcm");
    cli(
        &node,
        &[
            "dicom",
            "research-copy",
            s(&dicom.join("waveform_ecg.dcm")),
            s(&copy),
        ],
    )
    .expect_ok();
    let original = std::fs::read(dicom.join("waveform_ecg.dcm")).unwrap();
    let stripped = std::fs::read(&copy).unwrap();
    assert!(stripped.len() < original.len() && stripped.len() > original.len() / 2);
}

#[test]
fn a_gibibyte_round_trips_with_flat_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let node = NodeProc::start(&tmp.path().join("node"));
    let w = seed(&node, tmp.path());
    let big = tmp.path().join("big.bin");
    random_file(&big, 1 << 30, 11);
    let rss_before = node.peak_rss_kib();
    let (record, r) = put(&node, &w, &big, Some("ImagingStudy/MR"));
    assert!(
        r.peak_kib < 40 * 1024,
        "CLI peak RSS {} KiB storing 1 GiB",
        r.peak_kib
    );
    let out = tmp.path().join("big.out");
    let g = get(&node, &w, &record, &out);
    assert!(
        g.peak_kib < 40 * 1024,
        "CLI peak RSS {} KiB reading 1 GiB",
        g.peak_kib
    );
    let growth = node.peak_rss_kib().saturating_sub(rss_before);
    assert!(
        growth < 40 * 1024,
        "node peak RSS grew by {growth} KiB over 1 GiB put and get"
    );
    eprintln!(
        "1 GiB: CLI peak RSS {} KiB put, {} KiB get; node peak RSS growth {growth} KiB",
        r.peak_kib, g.peak_kib
    );
    assert_eq!(std::fs::metadata(&out).unwrap().len(), 1 << 30);
    assert!(same_file(&big, &out), "1 GiB did not round-trip");
}
