//! The identifying part of a patient, as import takes it out of the FHIR data: the Patient's
//! identifying elements and the table of identifying strings that records refer to by
//! placeholder. It is stored, as JSON text, only in the node's persona store, sealed under the
//! node's persona key; never in a record and never on the ledger.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The Patient elements that identify the person. They leave the Patient resource at import.
pub const IDENTIFYING_ELEMENTS: &[&str] = &[
    "identifier",
    "name",
    "telecom",
    "address",
    "birthDate",
    "_birthDate",
    "photo",
    "contact",
    "text",
];

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Identifying {
    /// The Patient's id in the source system (it may be an MRN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_id: Option<String>,
    /// How the source referred to the patient (`urn:uuid:…`, `Patient/example`); export writes
    /// references to the pseudonym back in this form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The identifying elements taken out of the Patient resource.
    #[serde(default)]
    pub elements: Map<String, Value>,
    /// Identifying strings; records carry `⟦pii:N⟧` for the N-th. Only ever appended to, so
    /// placeholders in records imported earlier stay valid.
    #[serde(default)]
    pub tokens: Vec<String>,
}

/// The flat fields the persona store indexes (a returning patient is found by national id, or
/// by name and birth date).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PersonaFields {
    pub name: String,
    pub birth_date: String,
    pub national_id: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
}

impl Identifying {
    /// Adds `token` (and its lower- and upper-case forms) unless present or too short to be
    /// anything but noise.
    pub fn add_token(&mut self, token: &str) {
        let token = token.trim();
        if token.chars().count() < 2 {
            return;
        }
        for t in [token.to_owned(), token.to_lowercase(), token.to_uppercase()] {
            if !self.tokens.contains(&t) {
                self.tokens.push(t);
            }
        }
    }

    /// Moves the identifying elements of `patient` into `self` and learns their strings.
    pub fn take_from_patient(&mut self, patient: &mut Map<String, Value>) {
        for key in IDENTIFYING_ELEMENTS {
            if let Some(v) = patient.remove(*key) {
                self.elements.insert((*key).to_owned(), v);
            }
        }
        for s in identifying_strings(&self.elements) {
            self.add_token(&s);
        }
    }

    /// The flat persona fields, from the identifying elements.
    pub fn persona(&self) -> PersonaFields {
        let e = &self.elements;
        let list = |k: &str| {
            e.get(k)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        let names = list("name");
        let name = names
            .iter()
            .find(|n| n["use"] == "official")
            .or(names.first())
            .map(|n| {
                if let Some(t) = n["text"].as_str() {
                    return t.to_owned();
                }
                let mut parts: Vec<&str> = n["given"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                parts.extend(n["family"].as_str());
                parts.join(" ")
            })
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| "(no name given)".to_owned());
        let national_id = list("identifier")
            .iter()
            .find(|i| {
                i["system"] == "http://hl7.org/fhir/sid/us-ssn"
                    || i["type"]["coding"]
                        .as_array()
                        .is_some_and(|c| c.iter().any(|c| c["code"] == "SS" || c["code"] == "NI"))
            })
            .and_then(|i| i["value"].as_str().map(str::to_owned));
        let phone = list("telecom")
            .iter()
            .find(|t| t["system"] == "phone")
            .and_then(|t| t["value"].as_str().map(str::to_owned));
        let address = list("address").first().map(|a| {
            let mut parts: Vec<String> = a["line"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect();
            for k in ["city", "district", "state", "postalCode", "country"] {
                if let Some(v) = a[k].as_str() {
                    parts.push(v.to_owned());
                }
            }
            parts.join(", ")
        });
        PersonaFields {
            name: clip(&name),
            birth_date: e
                .get("birthDate")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            national_id: national_id.map(|s| clip(&s)),
            phone: phone.map(|s| clip(&s)),
            address: address.filter(|a| !a.is_empty()).map(|s| clip(&s)),
        }
    }

    /// Learns what an earlier import stored, keeping its token order.
    pub fn merge_prior(prior: Identifying, mut new: Identifying) -> Identifying {
        let mut out = prior;
        if out.source_id.is_none() {
            out.source_id = new.source_id.take();
        }
        if out.reference.is_none() {
            out.reference = new.reference.take();
        }
        for (k, v) in new.elements {
            out.elements.insert(k, v);
        }
        for t in new.tokens {
            if !out.tokens.contains(&t) {
                out.tokens.push(t);
            }
        }
        out
    }
}

/// The persona store takes at most 1,024 characters per field, without control characters.
fn clip(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(1024).collect()
}

/// Names (of the patient and contacts), identifier values, telecom values, address lines and
/// texts, and the birth date. City, state, postal code and country stay out of the token table:
/// on their own they are a region, which population counts use, not a person.
pub fn identifying_strings(elements: &Map<String, Value>) -> Vec<String> {
    let mut out = Vec::new();
    let strs = |v: &Value| -> Vec<String> {
        match v {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        }
    };
    let arr = |v: Option<&Value>| -> Vec<Value> {
        match v {
            Some(Value::Array(a)) => a.clone(),
            Some(o @ Value::Object(_)) => vec![o.clone()],
            _ => Vec::new(),
        }
    };
    let mut people = vec![Value::Object(elements.clone())];
    people.extend(arr(elements.get("contact")));
    for p in &people {
        for n in arr(p.get("name")) {
            for k in ["family", "given", "text"] {
                out.extend(strs(&n[k]));
            }
        }
        for i in arr(p.get("identifier"))
            .iter()
            .chain(&arr(p.get("telecom")))
        {
            out.extend(strs(&i["value"]));
        }
        for a in arr(p.get("address")) {
            out.extend(strs(&a["line"]));
            out.extend(strs(&a["text"]));
        }
    }
    if let Some(Value::String(b)) = elements.get("birthDate") {
        out.push(b.clone());
    }
    out
}
