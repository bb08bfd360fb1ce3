//! FHIR search on the reader's side: the `date` parameter with its comparison prefixes, over the
//! date elements of the common clinical resources.

use serde_json::Value;

/// The elements holding a resource's clinically relevant date, first match wins.
const DATE_PATHS: &[&[&str]] = &[
    &["effectiveDateTime"],
    &["effectivePeriod", "start"],
    &["effectiveInstant"],
    &["onsetDateTime"],
    &["onsetPeriod", "start"],
    &["recordedDate"],
    &["performedDateTime"],
    &["performedPeriod", "start"],
    &["occurrenceDateTime"],
    &["authoredOn"],
    &["issued"],
    &["period", "start"],
    &["date"],
    &["started"],
];

/// The resource's date, as written (`2023-04-01`, `2023-04-01T10:00:00Z`, …).
pub fn date_of(resource: &Value) -> Option<&str> {
    DATE_PATHS.iter().find_map(|path| {
        path.iter()
            .try_fold(resource, |v, k| v.get(*k))
            .and_then(Value::as_str)
    })
}

/// Whether `resource` matches one `date` search value: an optional prefix (`eq`, `ne`, `gt`,
/// `lt`, `ge`, `le`) and a date or dateTime. Compared at the precision of the value given
/// (`ge2022` compares years), as text, which orders ISO 8601 dates in the same time zone
/// correctly. A resource without a date matches nothing.
pub fn matches_date(resource: &Value, param: &str) -> Result<bool, String> {
    let (prefix, value) = match param.get(..2) {
        Some(p @ ("eq" | "ne" | "gt" | "lt" | "ge" | "le")) => (p, &param[2..]),
        _ => ("eq", param),
    };
    let valid = value.len() >= 4
        && value.as_bytes()[..4].iter().all(u8::is_ascii_digit)
        && value
            .chars()
            .all(|c| c.is_ascii_digit() || "-:T.+Z".contains(c));
    if !valid {
        return Err(format!("{param:?} is not a FHIR date search value"));
    }
    let Some(date) = date_of(resource) else {
        return Ok(false);
    };
    let here = date.get(..value.len()).unwrap_or(date);
    Ok(match prefix {
        "eq" => here == value,
        "ne" => here != value,
        "gt" => here > value,
        "lt" => here < value,
        "ge" => here >= value,
        _ => here <= value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn date_prefixes_at_the_precision_given() {
        let obs =
            json!({"resourceType": "Observation", "effectiveDateTime": "2023-04-01T10:00:00Z"});
        for (param, want) in [
            ("2023", true),
            ("eq2023-04", true),
            ("2023-04-02", false),
            ("ge2023-01-01", true),
            ("gt2023-04-01", false),
            ("le2023-04-01", true),
            ("lt2023-04-01", false),
            ("ne2022", true),
            ("ge2024", false),
            ("le2022-12-31", false),
        ] {
            assert_eq!(matches_date(&obs, param), Ok(want), "{param}");
        }
        let condition = json!({"resourceType": "Condition", "onsetDateTime": "1999-01-01"});
        assert_eq!(matches_date(&condition, "lt2000"), Ok(true));
        assert_eq!(
            matches_date(&json!({"resourceType": "Patient"}), "ge1900"),
            Ok(false)
        );
        for bad in ["", "ge", "yesterday", "ge20x3", "2023-04-01'"] {
            assert!(matches_date(&obs, bad).is_err(), "{bad:?}");
        }
    }
}
