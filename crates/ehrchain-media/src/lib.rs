//! Binary clinical data on the client side, before it is encrypted: what kind of record a file
//! is (its category and media type), read from a bounded prefix or, for DICOM, from its
//! metadata with dicom-rs without reading pixel or waveform data; and a research copy of a DICOM
//! file without the attributes that identify the patient. The bytes of a record are never
//! changed: a record round-trips byte for byte, whatever it is.

pub mod classify;
pub mod research;

pub use classify::{classify, Classified};
pub use research::{research_copy, IDENTIFYING_TAGS};

/// Why a file could not be classified or copied.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("reading {0}: {1}")]
    Io(String, std::io::Error),
    #[error("not a DICOM file this reader understands: {0}")]
    Dicom(String),
}
