//! Export: records back into FHIR, on the patient's side after decryption. [`restore`] undoes
//! import's de-identification with the persona fragment; [`bundle`] assembles a `collection`
//! Bundle of the restored resources and the ledger's view rendered by [`crate::ledger`].

use ehrchain_types::PatientId;
use serde_json::{json, Value};

use crate::identity::Identifying;
use crate::import::rewrite_references;
use crate::scrub::restore_value;

/// Puts the identifying data back into a record's resource: references to the pseudonym in the
/// source's form, placeholders by their strings, and a Patient's identifying elements and id.
pub fn restore(resource: &mut Value, ident: &Identifying, patient: &PatientId) {
    let pseudonym = format!("Patient/{patient}");
    if let Some(original) = ident.reference.as_deref() {
        rewrite_references(resource, &mut |r| {
            let rest = r.strip_prefix(pseudonym.as_str())?;
            (rest.is_empty() || rest.starts_with('/')).then(|| format!("{original}{rest}"))
        });
    }
    restore_value(resource, &ident.tokens);
    if resource["resourceType"] == "Patient" {
        if let Value::Object(map) = resource {
            if map.get("id").and_then(Value::as_str) == Some(patient.to_string().as_str()) {
                match &ident.source_id {
                    Some(id) => map.insert("id".into(), Value::String(id.clone())),
                    None => map.remove("id"),
                };
            }
            for (k, v) in &ident.elements {
                map.insert(k.clone(), v.clone());
            }
        }
    }
}

/// A `collection` Bundle of `resources`, each entry with a `fullUrl` of `Type/id` where it has
/// an id.
pub fn bundle(resources: Vec<Value>, timestamp: &str) -> Value {
    let entry: Vec<Value> = resources
        .into_iter()
        .map(|r| match (r["resourceType"].as_str(), r["id"].as_str()) {
            (Some(t), Some(id)) => json!({"fullUrl": format!("{t}/{id}"), "resource": r}),
            _ => json!({"resource": r}),
        })
        .collect();
    json!({
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": timestamp,
        "entry": entry,
    })
}
