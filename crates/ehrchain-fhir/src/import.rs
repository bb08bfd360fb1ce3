//! Import planning: from a FHIR resource or Bundle to the records to store and the identifying
//! fragment for the persona store. Pure: the caller (the CLI) encrypts, uploads and anchors.
//!
//! - The first Patient is the subject. Its identifying elements move to [`Identifying`]; the
//!   rest of it is a record like any other.
//! - Every reference to the subject (`urn:uuid:…`, `Patient/x`, `…/Patient/x/_history/2`)
//!   becomes `Patient/<pseudonym>`; the display text beside it is identifying and joins the
//!   token table.
//! - Every identifying string anywhere in a record, text attachments included, becomes a
//!   placeholder (see [`crate::scrub`]).
//! - A record's id is derived from the pseudonym and the resource's type and id, so importing
//!   the same data again names the same records, and the caller skips those already anchored.
//! - An invalid entry is reported with its position and skipped; the valid ones go on.

use ehrchain_crypto::sha256;
use ehrchain_types::{Category, PatientId, RecordId};
use serde_json::Value;

use crate::category::category_of;
use crate::identity::Identifying;
use crate::scrub::{Matcher, OPEN};

/// One record to store.
#[derive(Clone, Debug)]
pub struct PlannedRecord {
    pub id: RecordId,
    /// Where it was in the input: `entry[12]` or `resource`.
    pub position: String,
    pub resource_type: String,
    pub category: Category,
    /// The de-identified resource as compact JSON.
    pub plaintext: Vec<u8>,
}

/// An entry that was not imported, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub position: String,
    pub message: String,
}

#[derive(Clone, Debug)]
pub struct Plan {
    pub identifying: Identifying,
    pub records: Vec<PlannedRecord>,
    pub problems: Vec<Problem>,
}

/// Plans the import of `input` (a resource or a Bundle) for `patient`. `prior` is what earlier
/// imports stored in the persona store, whose token numbering must be kept.
pub fn plan(input: &Value, patient: &PatientId, prior: Option<&Identifying>) -> Plan {
    let mut problems = Vec::new();
    let mut entries: Vec<(String, Value)> = Vec::new();
    let mut full_urls: Vec<Option<String>> = Vec::new();
    if input["resourceType"] == "Bundle" {
        match input["entry"].as_array() {
            Some(list) => {
                for (i, e) in list.iter().enumerate() {
                    let position = format!("entry[{i}]");
                    match e.get("resource") {
                        Some(r) => match check(r) {
                            Ok(()) => {
                                entries.push((position, r.clone()));
                                full_urls.push(e["fullUrl"].as_str().map(str::to_owned));
                            }
                            Err(m) => problems.push(Problem {
                                position,
                                message: m,
                            }),
                        },
                        None => problems.push(Problem {
                            position,
                            message: format!(
                                "no resource (a {} request): nothing to import",
                                e["request"]["method"].as_str().unwrap_or("bare")
                            ),
                        }),
                    }
                }
            }
            None => problems.push(Problem {
                position: "entry".into(),
                message: "a Bundle without entries".into(),
            }),
        }
    } else {
        match check(input) {
            Ok(()) => {
                entries.push(("resource".into(), input.clone()));
                full_urls.push(None);
            }
            Err(m) => problems.push(Problem {
                position: "resource".into(),
                message: m,
            }),
        }
    }

    // The subject: the first Patient, or else the patient the first resource is about.
    let mut ident = Identifying::default();
    let mut forms: Vec<String> = Vec::new();
    let mut patient_at = None;
    for (i, (position, r)) in entries.iter().enumerate() {
        if r["resourceType"] != "Patient" {
            continue;
        }
        if patient_at.is_some() {
            problems.push(Problem {
                position: position.clone(),
                message: "a second Patient: one import carries one patient's data".into(),
            });
            continue;
        }
        patient_at = Some(i);
        if let Some(id) = r["id"].as_str() {
            ident.source_id = Some(id.to_owned());
            forms.push(format!("Patient/{id}"));
        }
        if let Some(u) = &full_urls[i] {
            forms.push(u.clone());
        }
    }
    let second_patients: Vec<usize> = entries
        .iter()
        .enumerate()
        .filter(|(i, (_, r))| r["resourceType"] == "Patient" && Some(*i) != patient_at)
        .map(|(i, _)| i)
        .collect();
    // Without a Patient, a later import follows the first one's subject; a first one takes the
    // patient its first resource is about.
    if patient_at.is_none() && prior.is_none_or(|p| p.source_id.is_none() && p.reference.is_none())
    {
        if let Some(reference) = entries.iter().find_map(|(_, r)| subject_reference(r)) {
            let base = strip_history(&reference);
            ident.source_id = base.rsplit('/').next().map(str::to_owned);
            forms.push(base.to_owned());
        }
    }
    if let Some(p) = prior {
        if let Some(id) = &p.source_id {
            forms.push(format!("Patient/{id}"));
        }
        forms.extend(p.reference.clone());
    }
    let pseudonym = format!("Patient/{patient}");
    let is_subject = |reference: &str| -> Option<String> {
        forms.iter().find_map(|f| {
            let rest = reference.strip_prefix(f.as_str())?;
            (rest.is_empty() || rest.starts_with('/')).then(|| rest.to_owned())
        })
    };

    // First pass: how the subject is referred to, and the display texts beside the references.
    for (_, r) in &entries {
        visit_references(r, &mut |reference, display| {
            if let Some(rest) = is_subject(reference) {
                if ident.reference.is_none() {
                    ident.reference = reference.strip_suffix(rest.as_str()).map(str::to_owned);
                }
                if let Some(d) = display {
                    ident.add_token(d);
                }
            }
        });
    }
    let mut patient_resource = patient_at.map(|i| entries[i].1.clone());
    if let Some(Value::Object(p)) = patient_resource.as_mut() {
        ident.take_from_patient(p);
        if p.contains_key("id") {
            p.insert("id".into(), Value::String(patient.to_string()));
        }
    }
    let ident = match prior {
        Some(p) => Identifying::merge_prior(p.clone(), ident),
        None => ident,
    };

    let matcher = Matcher::new(&ident.tokens);
    let mut records = Vec::with_capacity(entries.len());
    for (i, (position, original)) in entries.iter().enumerate() {
        if second_patients.contains(&i) {
            continue;
        }
        let mut r = if Some(i) == patient_at {
            patient_resource.clone().expect("taken above")
        } else {
            original.clone()
        };
        rewrite_references(&mut r, &mut |reference| {
            is_subject(reference).map(|rest| format!("{pseudonym}{rest}"))
        });
        matcher.scrub_value(&mut r);
        let ty = original["resourceType"].as_str().unwrap_or_default();
        let Some(category) = category_of(&r) else {
            problems.push(Problem {
                position: position.clone(),
                message: format!("resource type {ty:?} cannot name a category"),
            });
            continue;
        };
        let key = match original["id"].as_str() {
            Some(id) => format!("{ty}/{id}"),
            None => format!("{ty}#{position}"),
        };
        records.push(PlannedRecord {
            id: record_id(patient, &key),
            position: position.clone(),
            resource_type: ty.to_owned(),
            category,
            plaintext: serde_json::to_vec(&r).expect("a Value serialises"),
        });
    }
    Plan {
        identifying: ident,
        records,
        problems,
    }
}

/// The record id of a resource: SHA-256 over a namespace, the pseudonym and `Type/id` (or, for a
/// resource without an id, its type and position), cut to 16 bytes. The ledger sees it; it
/// hashes no health data (resource ids are the source system's opaque identifiers).
pub fn record_id(patient: &PatientId, key: &str) -> RecordId {
    let mut input = b"ehrchain/fhir/record-id/v1\0".to_vec();
    input.extend_from_slice(patient.as_bytes());
    input.extend_from_slice(key.as_bytes());
    let h = sha256(&input);
    let mut id = [0u8; 16];
    id.copy_from_slice(&h.as_bytes()[..16]);
    RecordId::from_bytes(id)
}

/// Elements a resource of these types cannot be without (FHIR R4 cardinality 1..1). Choice
/// elements end in `[x]`.
const REQUIRED: &[(&str, &[&str])] = &[
    ("Observation", &["status", "code"]),
    ("Condition", &["subject"]),
    ("Encounter", &["status", "class"]),
    ("Procedure", &["status", "subject"]),
    ("DiagnosticReport", &["status", "code"]),
    (
        "MedicationRequest",
        &["status", "intent", "subject", "medication[x]"],
    ),
    (
        "Immunization",
        &["status", "vaccineCode", "patient", "occurrence[x]"],
    ),
    ("DocumentReference", &["status", "content"]),
    (
        "Claim",
        &[
            "status",
            "type",
            "use",
            "patient",
            "created",
            "provider",
            "priority",
            "insurance",
        ],
    ),
];

/// Structural checks on one resource; the message names what is wrong.
pub fn check(r: &Value) -> Result<(), String> {
    let Some(map) = r.as_object() else {
        return Err("not a JSON object".into());
    };
    let ty = match map.get("resourceType") {
        Some(Value::String(t)) => t,
        Some(_) => return Err("resourceType is not a string".into()),
        None => return Err("no resourceType".into()),
    };
    let valid_type = ty.len() <= 64
        && ty.starts_with(|c: char| c.is_ascii_uppercase())
        && ty.chars().all(|c| c.is_ascii_alphabetic());
    if !valid_type {
        return Err(format!("resourceType {ty:?} is not a FHIR type name"));
    }
    match map.get("id") {
        None => {}
        Some(Value::String(id))
            if !id.is_empty()
                && id.len() <= 64
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.') => {}
        Some(other) => return Err(format!("{ty}.id {other} is not a FHIR id")),
    }
    if let Some((_, required)) = REQUIRED.iter().find(|(t, _)| t == ty) {
        for field in *required {
            let present = match field.strip_suffix("[x]") {
                Some(stem) => map.keys().any(|k| {
                    k.strip_prefix(stem)
                        .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_uppercase()))
                }),
                None => map.get(*field).is_some_and(|v| !v.is_null()),
            };
            if !present {
                return Err(format!("{ty} without its required element {field}"));
            }
        }
    }
    let mut bad_reference = None;
    visit_all_references(r, &mut |v| {
        if !v.is_string() && bad_reference.is_none() {
            bad_reference = Some(v.to_string());
        }
    });
    if let Some(b) = bad_reference {
        return Err(format!("a reference that is not a string: {b}"));
    }
    if crate::scrub::contains(r, OPEN) {
        return Err(format!("contains the placeholder marker {OPEN}"));
    }
    Ok(())
}

/// The patient a resource is about: `subject`, `patient` or `beneficiary`, or else the first
/// reference to a Patient anywhere in it.
fn subject_reference(r: &Value) -> Option<String> {
    for k in ["subject", "patient", "beneficiary"] {
        if let Some(s) = r[k]["reference"].as_str() {
            if s.starts_with("Patient/") || s.contains("/Patient/") {
                return Some(s.to_owned());
            }
        }
    }
    let mut found = None;
    visit_references(r, &mut |reference, _| {
        if found.is_none() && (reference.starts_with("Patient/") || reference.contains("/Patient/"))
        {
            found = Some(reference.to_owned());
        }
    });
    found
}

fn strip_history(reference: &str) -> &str {
    reference
        .find("/_history/")
        .map_or(reference, |at| &reference[..at])
}

/// Calls `f(reference, display)` for every Reference (an object with a string `reference`).
pub(crate) fn visit_references(v: &Value, f: &mut dyn FnMut(&str, Option<&str>)) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("reference") {
                f(r, m.get("display").and_then(Value::as_str));
            }
            m.values().for_each(|c| visit_references(c, f));
        }
        Value::Array(a) => a.iter().for_each(|c| visit_references(c, f)),
        _ => {}
    }
}

fn visit_all_references(v: &Value, f: &mut dyn FnMut(&Value)) {
    match v {
        Value::Object(m) => {
            if let Some(r) = m.get("reference") {
                // `reference` is also an element name inside a few non-Reference types; only
                // objects that look like a Reference are held to it.
                if m.contains_key("display") || m.contains_key("type") || m.len() == 1 {
                    f(r);
                }
            }
            m.values().for_each(|c| visit_all_references(c, f));
        }
        Value::Array(a) => a.iter().for_each(|c| visit_all_references(c, f)),
        _ => {}
    }
}

/// Replaces each Reference's `reference` for which `f` answers.
pub(crate) fn rewrite_references(v: &mut Value, f: &mut dyn FnMut(&str) -> Option<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get_mut("reference") {
                if let Some(new) = f(r) {
                    *r = new;
                }
            }
            m.values_mut().for_each(|c| rewrite_references(c, f));
        }
        Value::Array(a) => a.iter_mut().for_each(|c| rewrite_references(c, f)),
        _ => {}
    }
}
