//! FHIR R4, pure (no I/O, no clock, no HTTP). Import splits a patient's
//! resources into de-identified record plaintexts and an identifying fragment for the node's
//! persona store; export puts them back together and renders the ledger's grants, access events
//! and anchors as `Consent`, `AuditEvent` and `Provenance`. `population` computes the noisy,
//! suppressed population counts a node releases to public health and research; `smart` parses
//! SMART scopes and maps them onto grants, and `search` is the date search of the FHIR gateway.
//!
//! We handle the few resources we interpret with our own code over `serde_json::Value` rather
//! than a typed FHIR model: every other resource passes through untouched, and must come back
//! JSON-equal, which a typed model that drops unknown elements would not guarantee.

pub mod category;
pub mod export;
pub mod identity;
pub mod import;
pub mod ledger;
pub mod population;
pub mod scrub;
pub mod search;
pub mod smart;
pub mod time;

pub use category::category_of;
pub use export::{bundle, restore};
pub use identity::Identifying;
pub use import::{plan, Plan, PlannedRecord, Problem};

/// The media type of FHIR JSON records.
pub const FHIR_JSON: &str = "application/fhir+json";
