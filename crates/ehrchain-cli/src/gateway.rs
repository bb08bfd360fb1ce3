//! The FHIR gateway's source (`ehrchain fhir serve`): FHIR read and search for an EHR app,
//! answered on the reader's side. Each record is read through the node like any other read (a
//! signed access transaction, committed and audited, decided by the patient's grants) and
//! decrypted here with the reader's key; the app's SMART scopes narrow what it may ask for.

use anyhow::Result;
use ehrchain_api::fhir::{params_by_name, FhirError, FhirSource};
use ehrchain_crypto::Identity;
use ehrchain_fhir::smart::{any_permits, Interaction, Scope};
use ehrchain_fhir::FHIR_JSON;
use ehrchain_types::{Category, PatientId, Purpose, RecordId};
use serde_json::Value;
use zeroize::Zeroizing;

use crate::client::{code_of, Client};
use crate::records;

/// Search parameters the gateway understands.
pub const SEARCH_PARAMS: &[&str] = &["patient", "category", "date"];

/// Resource types `metadata` advertises (any type the records hold can be read).
const ADVERTISED: &[&str] = &[
    "Observation",
    "Condition",
    "DiagnosticReport",
    "DocumentReference",
    "MedicationRequest",
    "Procedure",
    "Immunization",
    "AllergyIntolerance",
    "Encounter",
    "CarePlan",
    "ImagingStudy",
];

/// Reads for one reader, within an app's SMART scopes.
pub struct Gateway {
    client: Client,
    reader: Identity,
    /// The patient in context: required by `patient/` scopes and by reads by id.
    patient: Option<PatientId>,
    scopes: Vec<Scope>,
    purpose: Purpose,
}

impl Gateway {
    pub fn new(
        client: Client,
        reader: Identity,
        patient: Option<PatientId>,
        scopes: Vec<Scope>,
        purpose: Purpose,
    ) -> Result<Gateway> {
        anyhow::ensure!(!scopes.is_empty(), "give the app at least one SMART scope");
        let needs_patient = scopes
            .iter()
            .any(|s| s.context == ehrchain_fhir::smart::Context::Patient);
        anyhow::ensure!(
            !needs_patient || patient.is_some(),
            "patient/ scopes need the patient in context (--patient)"
        );
        Ok(Gateway {
            client,
            reader,
            patient,
            scopes,
            purpose,
        })
    }

    /// The record's metadata, as the node shows it to this reader (through the consent
    /// decision); a denial and a missing record look alike.
    fn meta(&self, record: &RecordId) -> Result<Value, FhirError> {
        let path = format!("/v1/records/{record}?purpose={}", self.purpose.as_str());
        self.client
            .signed_get(self.reader.signing(), &path)
            .map_err(|e| match code_of(&e) {
                Some("access_denied" | "not_found") => FhirError::NotFound,
                _ => FhirError::Upstream(e.to_string()),
            })
    }

    /// Reads and decrypts one record: a committed, audited access on the ledger.
    fn fetch(&self, record: &RecordId) -> Result<Value, FhirError> {
        let mut plain = Zeroizing::new(Vec::new());
        records::fetch(
            &self.client,
            &self.reader,
            record,
            self.purpose,
            &mut *plain,
            false,
        )
        .map_err(|e| match code_of(&e) {
            Some("access_denied") => {
                FhirError::Forbidden("the patient's grants do not cover this read".into())
            }
            _ => FhirError::Upstream(e.to_string()),
        })?;
        serde_json::from_slice(&plain)
            .map_err(|_| FhirError::Upstream(format!("record {record} is not FHIR JSON")))
    }

    fn category_of(meta: &Value) -> Result<Category, FhirError> {
        meta["category"]
            .as_str()
            .and_then(|c| Category::new(c).ok())
            .ok_or_else(|| FhirError::Upstream("record metadata without a category".into()))
    }

    /// The patient a search is about: the `patient` parameter, which must be the patient in
    /// context when there is one.
    fn search_patient(&self, given: Option<&str>) -> Result<PatientId, FhirError> {
        let given = given
            .map(|p| p.trim_start_matches("Patient/"))
            .map(|p| {
                p.parse::<PatientId>()
                    .map_err(|_| FhirError::BadRequest(format!("{p:?} is not a patient id")))
            })
            .transpose()?;
        match (given, self.patient) {
            (Some(g), Some(c)) if g != c => Err(FhirError::Forbidden(
                "the app's patient/ scopes cover the patient in context only".into(),
            )),
            (Some(g), _) => Ok(g),
            (None, Some(c)) => Ok(c),
            (None, None) => Err(FhirError::BadRequest(
                "search needs a patient parameter".into(),
            )),
        }
    }
}

impl FhirSource for Gateway {
    fn read(&self, resource_type: &str, id: &str) -> Result<Value, FhirError> {
        let patient = self.patient.ok_or_else(|| {
            FhirError::BadRequest(
                "a read by id needs the patient in context (ehrchain fhir serve --patient)".into(),
            )
        })?;
        let record = ehrchain_fhir::import::record_id(&patient, &format!("{resource_type}/{id}"));
        let meta = self.meta(&record)?;
        let category = Self::category_of(&meta)?;
        // The scope is checked before the read, so a read outside it leaves no access event.
        if !any_permits(&self.scopes, Interaction::Read, &category) {
            return Err(FhirError::Forbidden(format!(
                "{category} is outside the app's SMART scopes"
            )));
        }
        let v = self.fetch(&record)?;
        if v["resourceType"] != resource_type || v["id"] != id {
            return Err(FhirError::NotFound);
        }
        Ok(v)
    }

    fn search(
        &self,
        resource_type: &str,
        params: &[(String, String)],
    ) -> Result<Vec<Value>, FhirError> {
        let by_name = params_by_name(params);
        if let Some(unknown) = by_name.keys().find(|k| !SEARCH_PARAMS.contains(k)) {
            return Err(FhirError::BadRequest(format!(
                "unsupported search parameter {unknown:?} (supported: {})",
                SEARCH_PARAMS.join(", ")
            )));
        }
        if !self.scopes.iter().any(|s| s.may_search(resource_type)) {
            return Err(FhirError::Forbidden(format!(
                "searching {resource_type} is outside the app's SMART scopes"
            )));
        }
        let one = |name: &str| -> Result<Option<&str>, FhirError> {
            match by_name.get(name).map(Vec::as_slice) {
                None => Ok(None),
                Some([v]) => Ok(Some(*v)),
                Some(_) => Err(FhirError::BadRequest(format!("{name} given twice"))),
            }
        };
        let patient = self.search_patient(one("patient")?)?;
        let category = one("category")?.map(|c| c.rsplit('|').next().unwrap_or(c));
        let dates = by_name.get("date").cloned().unwrap_or_default();
        // Bad dates are refused before any record is read (each read is an audited access).
        for d in &dates {
            ehrchain_fhir::search::matches_date(&Value::Null, d).map_err(FhirError::BadRequest)?;
        }
        let path = format!(
            "/v1/patients/{patient}/records?purpose={}",
            self.purpose.as_str()
        );
        let listed = self
            .client
            .signed_get(self.reader.signing(), &path)
            .map_err(|e| FhirError::Upstream(e.to_string()))?;
        let mut found = Vec::new();
        for meta in listed["records"].as_array().into_iter().flatten() {
            let live = meta["erased"].is_null() && meta["superseded_by"].is_null();
            if !live || meta["media_type"] != FHIR_JSON {
                continue;
            }
            let cat = Self::category_of(meta)?;
            let wanted = cat.resource_type() == resource_type
                && category.is_none_or(|c| cat.code() == Some(c))
                && any_permits(&self.scopes, Interaction::Search, &cat);
            if !wanted {
                continue;
            }
            let record: RecordId = meta["id"]
                .as_str()
                .and_then(|r| r.parse().ok())
                .ok_or_else(|| FhirError::Upstream("record metadata without an id".into()))?;
            let v = self.fetch(&record)?;
            let mut matches = true;
            for d in &dates {
                matches &=
                    ehrchain_fhir::search::matches_date(&v, d).map_err(FhirError::BadRequest)?;
            }
            if matches {
                found.push(v);
            }
        }
        Ok(found)
    }

    fn capabilities(&self) -> Vec<(String, Vec<String>)> {
        ADVERTISED
            .iter()
            .filter(|t| self.scopes.iter().any(|s| s.may_search(t)))
            .map(|t| {
                (
                    (*t).to_owned(),
                    SEARCH_PARAMS.iter().map(|p| (*p).to_owned()).collect(),
                )
            })
            .collect()
    }
}
