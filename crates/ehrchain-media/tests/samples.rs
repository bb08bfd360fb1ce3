//! The shared DICOM and WFDB samples classify by their metadata, and a DICOM research copy
//! keeps the clinical content without the identifying attributes.

use std::path::PathBuf;

use dicom_dictionary_std::tags;
use ehrchain_media::{classify, research_copy};

/// The shared sample data: `$EHRCHAIN_SAMPLE_DATA` if set, else `shared/data` beside the
/// repository or beside any folder above it, else `/work/shared/data` (where this project's
/// machines keep it, wherever CI clones the repository).
fn sample_root() -> PathBuf {
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

fn data(sub: &str) -> PathBuf {
    let dir = sample_root().join(sub);
    assert!(
        dir.is_dir(),
        "sample data missing: {} (set EHRCHAIN_SAMPLE_DATA to the shared/data folder)",
        dir.display()
    );
    dir
}

#[test]
fn samples_classify_by_their_metadata() {
    let dicom = data("dicom");
    let wfdb = data("wfdb");
    for (path, category, media_type) in [
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
            wfdb.join("ecg12_212.dat"),
            "Observation/ecg",
            "application/x-wfdb-signal",
        ),
    ] {
        let c = classify(&path)
            .unwrap()
            .unwrap_or_else(|| panic!("{path:?} unclassified"));
        assert_eq!(
            (c.category.as_str(), c.media_type.as_str()),
            (category, media_type),
            "{path:?}: {}",
            c.summary
        );
    }
    let hea = classify(&wfdb.join("ecg12.hea")).unwrap().unwrap();
    assert!(
        hea.summary.contains("12 signals at 1000 Hz"),
        "{}",
        hea.summary
    );

    let tmp = tempfile::tempdir().unwrap();
    let pdf = tmp.path().join("r.pdf");
    std::fs::write(&pdf, b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n").unwrap();
    assert_eq!(
        classify(&pdf).unwrap().unwrap().category,
        "DocumentReference/report"
    );
    let txt = tmp.path().join("note.txt");
    std::fs::write(&txt, "Discharge summary: stable.\n").unwrap();
    assert_eq!(
        classify(&txt).unwrap().unwrap().category,
        "DocumentReference/clinical-note"
    );
    let bin = tmp.path().join("x.bin");
    std::fs::write(&bin, [0u8, 159, 146, 150, 0, 1]).unwrap();
    assert_eq!(classify(&bin).unwrap(), None);
}

#[test]
fn research_copy_drops_identifying_attributes_and_keeps_the_signal() {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["waveform_ecg.dcm", "CT_small.dcm", "MR_small.dcm"] {
        let input = data("dicom").join(name);
        let orig = dicom_object::open_file(&input).unwrap();
        let id = orig
            .element(tags::PATIENT_ID)
            .unwrap()
            .to_str()
            .unwrap()
            .trim()
            .to_owned();
        assert!(!id.is_empty(), "{name} carries a PatientID to strip");
        let out = tmp.path().join(name);
        let removed = research_copy(&input, &out).unwrap();
        assert!(removed >= 2, "{name}: {removed}");
        let copy = dicom_object::open_file(&out).unwrap();
        for tag in [
            tags::PATIENT_ID,
            tags::PATIENT_NAME,
            tags::PATIENT_BIRTH_DATE,
        ] {
            assert!(
                copy.element_opt(tag).unwrap().is_none(),
                "{name}: {tag} kept"
            );
        }
        let bytes = std::fs::read(&out).unwrap();
        assert!(
            !bytes.windows(id.len()).any(|w| w == id.as_bytes()),
            "{name}: {id} still in the bytes"
        );
        let same = |t| {
            (
                orig.element(t).unwrap().to_bytes().unwrap().to_vec(),
                copy.element(t).unwrap().to_bytes().unwrap().to_vec(),
            )
        };
        let (a, b) = same(tags::MODALITY);
        assert_eq!(a, b);
        let bulk = if name.starts_with("waveform") {
            tags::WAVEFORM_SEQUENCE
        } else {
            tags::PIXEL_DATA
        };
        assert!(copy.element(bulk).is_ok(), "{name}: bulk data lost");
        if bulk == tags::PIXEL_DATA {
            let (a, b) = same(bulk);
            assert_eq!(a, b, "{name}: pixel data changed");
        }
    }
}
