//! A research copy of a DICOM file: the attributes that identify the patient (names, ids,
//! birth date, address, phone, institution and staff names, free-text comments) removed, after
//! the spirit of DICOM PS3.15's basic profile; the patient's sex and age, the study's
//! modality and the pixel or waveform data stay. The copy is a new file: the record itself is
//! never altered. It loads the object in memory (dicom-rs's writer needs the whole object), so
//! unlike storing and reading records it is not constant-memory.

use std::path::Path;

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::open_file;

use crate::MediaError;

/// Removed from a research copy.
pub const IDENTIFYING_TAGS: &[Tag] = &[
    tags::PATIENT_NAME,
    tags::PATIENT_ID,
    tags::ISSUER_OF_PATIENT_ID,
    // Other Patient IDs (retired, still found in older files).
    Tag(0x0010, 0x1000),
    tags::OTHER_PATIENT_NAMES,
    tags::OTHER_PATIENT_I_DS_SEQUENCE,
    tags::PATIENT_BIRTH_DATE,
    tags::PATIENT_BIRTH_TIME,
    tags::PATIENT_BIRTH_NAME,
    tags::PATIENT_MOTHER_BIRTH_NAME,
    tags::PATIENT_ADDRESS,
    tags::PATIENT_TELEPHONE_NUMBERS,
    // Medical Record Locator (retired).
    Tag(0x0010, 0x1090),
    tags::PATIENT_COMMENTS,
    tags::REFERRING_PHYSICIAN_NAME,
    tags::PERFORMING_PHYSICIAN_NAME,
    tags::OPERATORS_NAME,
    tags::PHYSICIANS_OF_RECORD,
    tags::NAME_OF_PHYSICIANS_READING_STUDY,
    tags::INSTITUTION_NAME,
    tags::INSTITUTION_ADDRESS,
    tags::ACCESSION_NUMBER,
    tags::STUDY_ID,
];

/// Writes a research copy of `input` to `output`; returns how many attributes were removed.
pub fn research_copy(input: &Path, output: &Path) -> Result<usize, MediaError> {
    let mut obj = open_file(input).map_err(|e| MediaError::Dicom(e.to_string()))?;
    let mut removed = 0;
    for tag in IDENTIFYING_TAGS {
        if obj.remove_element(*tag) {
            removed += 1;
        }
    }
    obj.write_to_file(output)
        .map_err(|e| MediaError::Dicom(e.to_string()))?;
    Ok(removed)
}
