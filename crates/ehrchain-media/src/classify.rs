//! Classification. DICOM: by Modality and SOP class (images → `ImagingStudy/<modality>`,
//! waveforms such as 12-lead ECG → `Observation/ecg`, structured and text reports →
//! `DiagnosticReport/<modality>`, encapsulated documents → `DocumentReference/report`). WFDB
//! headers and signal files → `Observation/ecg`. PDF → `DocumentReference/report`. UTF-8 text
//! → `DocumentReference/clinical-note`. Anything else is not guessed.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use dicom_dictionary_std::tags;
use dicom_object::OpenFileOptions;

use crate::MediaError;

/// What a file is, as a record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Classified {
    /// A record category, `Type` or `Type/code`.
    pub category: String,
    pub media_type: String,
    /// A human-readable line: modality, SOP class, leads, sampling rate.
    pub summary: String,
}

const PREFIX: usize = 8192;

/// Classifies `path`, reading at most its first 8 KiB, or for DICOM its attributes up to the
/// bulk data. `None`: not a kind this knows.
pub fn classify(path: &Path) -> Result<Option<Classified>, MediaError> {
    let io = |e| MediaError::Io(path.display().to_string(), e);
    let mut head = Vec::with_capacity(PREFIX);
    File::open(path)
        .map_err(io)?
        .take(PREFIX as u64)
        .read_to_end(&mut head)
        .map_err(io)?;
    if head.len() >= 132 && &head[128..132] == b"DICM" {
        return dicom(path).map(Some);
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if ext == "hea" {
        if let Some(summary) = wfdb_header(&head) {
            return Ok(Some(Classified {
                category: "Observation/ecg".into(),
                media_type: "text/x-wfdb-header".into(),
                summary,
            }));
        }
    }
    if ext == "dat" && path.with_extension("hea").is_file() {
        let header = std::fs::read(path.with_extension("hea")).map_err(io)?;
        if let Some(summary) = wfdb_header(&header) {
            return Ok(Some(Classified {
                category: "Observation/ecg".into(),
                media_type: "application/x-wfdb-signal".into(),
                summary: format!("signal file of {summary}"),
            }));
        }
    }
    if head.starts_with(b"%PDF-") {
        return Ok(Some(Classified {
            category: "DocumentReference/report".into(),
            media_type: "application/pdf".into(),
            summary: "PDF document".into(),
        }));
    }
    if !head.is_empty() && !head.contains(&0) && utf8_prefix(&head) {
        return Ok(Some(Classified {
            category: "DocumentReference/clinical-note".into(),
            media_type: "text/plain; charset=utf-8".into(),
            summary: "text".into(),
        }));
    }
    Ok(None)
}

/// Valid UTF-8, allowing a character cut at the end of the prefix.
fn utf8_prefix(b: &[u8]) -> bool {
    match std::str::from_utf8(b) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none() && b.len() == PREFIX,
    }
}

/// `ecg12: 12 signals at 1000 Hz, 10000 samples` from a WFDB header's record line.
fn wfdb_header(head: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(head).ok()?;
    let line = text
        .lines()
        .find(|l| !l.trim().is_empty() && !l.starts_with('#'))?;
    let mut f = line.split_whitespace();
    let name = f.next()?;
    let signals: u32 = f.next()?.parse().ok()?;
    let freq = f.next().unwrap_or("250").split('/').next()?.to_owned();
    let samples = f
        .next()
        .map(|s| format!(", {s} samples"))
        .unwrap_or_default();
    Some(format!(
        "WFDB record {name}: {signals} signals at {freq} Hz{samples}"
    ))
}

fn dicom(path: &Path) -> Result<Classified, MediaError> {
    // Stop before waveform or pixel data: the metadata is all classification needs, and
    // memory stays flat whatever the file's size.
    let obj = OpenFileOptions::new()
        .read_until(tags::WAVEFORM_SEQUENCE)
        .open_file(path)
        .map_err(|e| MediaError::Dicom(e.to_string()))?;
    let text = |tag| {
        obj.element_opt(tag)
            .ok()
            .flatten()
            .and_then(|e| e.to_str().ok())
            .map(|s| s.trim().trim_end_matches('\0').to_owned())
            .unwrap_or_default()
    };
    let modality = text(tags::MODALITY).to_ascii_uppercase();
    let sop = obj
        .meta()
        .media_storage_sop_class_uid()
        .trim_end_matches('\0')
        .to_owned();
    let code = if modality.is_empty() {
        "OT".to_owned()
    } else {
        modality.clone()
    };
    let category = if sop.starts_with("1.2.840.10008.5.1.4.1.1.9.") || modality == "ECG" {
        "Observation/ecg".to_owned()
    } else if sop.starts_with("1.2.840.10008.5.1.4.1.1.88.") || modality == "SR" {
        format!("DiagnosticReport/{code}")
    } else if sop.starts_with("1.2.840.10008.5.1.4.1.1.104.") || modality == "DOC" {
        "DocumentReference/report".to_owned()
    } else {
        format!("ImagingStudy/{code}")
    };
    Ok(Classified {
        category,
        media_type: "application/dicom".into(),
        summary: format!(
            "DICOM {} (SOP class {sop}){}",
            if modality.is_empty() {
                "without modality"
            } else {
                &modality
            },
            match text(tags::STUDY_DESCRIPTION) {
                d if d.is_empty() => String::new(),
                d => format!(": {d}"),
            }
        ),
    })
}
