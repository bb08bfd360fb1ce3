//! A record's category (on the ledger, in grants) from a FHIR resource: its type and, where the
//! resource has one, its first category code: `Observation/laboratory`, `Condition/problem-list-item`,
//! `DocumentReference/clinical-note`, or just `Encounter`.

use ehrchain_types::Category;
use serde_json::Value;

pub fn category_of(resource: &Value) -> Option<Category> {
    let ty = resource.get("resourceType")?.as_str()?;
    let code = resource.get("category").and_then(|c| {
        let first = match c {
            Value::Array(a) => a.first()?,
            other => other,
        };
        match first {
            Value::String(s) => Some(s.as_str()),
            Value::Object(_) => first["coding"]
                .as_array()
                .and_then(|cs| cs.iter().find_map(|c| c["code"].as_str())),
            _ => None,
        }
    });
    code.and_then(|c| Category::new(&format!("{ty}/{c}")).ok())
        .or_else(|| Category::new(ty).ok())
}

#[cfg(test)]
mod tests {
    use super::category_of;
    use serde_json::json;

    #[test]
    fn type_and_first_category_code() {
        for (resource, want) in [
            (
                json!({"resourceType": "Observation", "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}]}),
                Some("Observation/vital-signs"),
            ),
            (json!({"resourceType": "Encounter"}), Some("Encounter")),
            (
                json!({"resourceType": "AllergyIntolerance", "category": ["food"]}),
                Some("AllergyIntolerance/food"),
            ),
            // A code the ledger's vocabulary cannot carry falls back to the type alone.
            (
                json!({"resourceType": "Condition", "category": [{"coding": [{"code": "has space"}]}]}),
                Some("Condition"),
            ),
            (json!({"resourceType": "not a type!"}), None),
        ] {
            assert_eq!(
                category_of(&resource).as_ref().map(|c| c.as_str()),
                want,
                "{resource}"
            );
        }
    }
}
