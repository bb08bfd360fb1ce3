//! Population counts for public health and research: how many patients have a condition, in
//! total, per age band, per region or per condition code, released with differential privacy.
//!
//! The cells are named by the query, never by the data: a cell that appeared because somebody
//! has a rare code would disclose it. Each count gets Laplace noise of scale
//! `sensitivity / epsilon` (a patient changes at most `sensitivity` cells by one), is rounded
//! and clamped at zero, and a cell whose noisy count is under [`SUPPRESS_BELOW`] is suppressed.
//! Suppressing on the noisy value is post-processing, so it spends no privacy; suppressing on
//! the true value would leak whether a cell is small. True counts never leave this module except
//! through [`true_counts`], which exists for tests and the node's own checks.
//!
//! Pure: the facts are loaded, and the randomness drawn, by the caller.

use std::collections::BTreeSet;

use ehrchain_types::{AggregateQuery, GroupBy, Timestamp};
use serde_json::Value;

/// By default, cells whose noisy count is below this are reported as suppressed (a node may
/// set its own threshold).
pub const SUPPRESS_BELOW: u64 = 10;

/// The age bands of [`GroupBy::AgeBand`], as (label, lowest age, highest age).
pub const AGE_BANDS: &[(&str, u32, u32)] = &[
    ("0-17", 0, 17),
    ("18-44", 18, 44),
    ("45-64", 45, 64),
    ("65+", 65, u32::MAX),
];

/// The label of patients whose birth date the node does not hold.
pub const UNKNOWN_AGE: &str = "unknown";

/// The SNOMED CT system URI.
pub const SNOMED: &str = "http://snomed.info/sct";

/// What is known of one patient whose grants let the requester count them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PatientFacts {
    /// SNOMED codes of the patient's `Condition` records the requester may use.
    pub conditions: BTreeSet<String>,
    /// `YYYY-MM-DD`, from the persona store, if this node holds the patient's persona.
    pub birth_date: Option<String>,
    /// The state or province of the patient's address, from the persona store.
    pub region: Option<String>,
}

/// One released cell: its label and its noisy count, or `None` if suppressed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cell {
    pub label: String,
    pub count: Option<u64>,
}

/// A release: the cells, and the noise scale that was used (so a reader can judge them).
#[derive(Clone, Debug, PartialEq)]
pub struct Release {
    pub cells: Vec<Cell>,
    /// The Laplace scale b = sensitivity / epsilon.
    pub scale: f64,
    pub sensitivity: u32,
}

/// The SNOMED codes of a `Condition` resource (its `code.coding`), or nothing if the bytes are
/// not a Condition.
pub fn condition_codes(plaintext: &[u8]) -> Vec<String> {
    let Ok(v) = serde_json::from_slice::<Value>(plaintext) else {
        return Vec::new();
    };
    if v["resourceType"] != "Condition" {
        return Vec::new();
    }
    v["code"]["coding"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["system"] == SNOMED)
        .filter_map(|c| c["code"].as_str().map(str::to_owned))
        .collect()
}

/// The region (state or province) of the first address in a persona's stored FHIR identifying
/// elements (the JSON text import writes), if any.
pub fn region_of(persona_fhir: &str) -> Option<String> {
    let v: Value = serde_json::from_str(persona_fhir).ok()?;
    let address = &v["elements"]["address"];
    let first = address
        .as_array()
        .and_then(|a| a.first())
        .unwrap_or(address);
    first["state"]
        .as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The labels of the query's cells, in release order.
pub fn labels(query: &AggregateQuery) -> Vec<String> {
    match &query.group_by {
        GroupBy::Total => vec!["all".to_owned()],
        GroupBy::AgeBand => AGE_BANDS
            .iter()
            .map(|(l, _, _)| (*l).to_owned())
            .chain([UNKNOWN_AGE.to_owned()])
            .collect(),
        GroupBy::Region(regions) => regions.clone(),
        GroupBy::Condition(codes) => codes.clone(),
    }
}

/// How many cells one patient can change: each patient is in one cell, except when grouping by
/// condition, where a patient counts once in every listed code they have.
pub fn sensitivity(query: &AggregateQuery) -> u32 {
    match &query.group_by {
        GroupBy::Condition(codes) => u32::try_from(codes.len()).unwrap_or(u32::MAX).max(1),
        _ => 1,
    }
}

/// The exact counts per cell, in the order of [`labels`]. Never released as such.
pub fn true_counts(query: &AggregateQuery, patients: &[PatientFacts], at: Timestamp) -> Vec<u64> {
    let labels = labels(query);
    let mut counts = vec![0u64; labels.len()];
    for p in patients {
        if let Some(code) = &query.condition {
            if !p.conditions.contains(code) {
                continue;
            }
        }
        match &query.group_by {
            GroupBy::Total => counts[0] += 1,
            GroupBy::AgeBand => {
                let band = p
                    .birth_date
                    .as_deref()
                    .and_then(|b| age_at(b, at))
                    .and_then(|age| {
                        AGE_BANDS
                            .iter()
                            .position(|(_, lo, hi)| (*lo..=*hi).contains(&age))
                    })
                    .unwrap_or(AGE_BANDS.len());
                counts[band] += 1;
            }
            GroupBy::Region(regions) => {
                if let Some(i) = p.region.as_deref().and_then(|r| {
                    regions
                        .iter()
                        .position(|x| x.eq_ignore_ascii_case(r.trim()))
                }) {
                    counts[i] += 1;
                }
            }
            GroupBy::Condition(codes) => {
                for (i, code) in codes.iter().enumerate() {
                    if p.conditions.contains(code) {
                        counts[i] += 1;
                    }
                }
            }
        }
    }
    counts
}

/// Releases the query's counts over `patients` at block time `at`: Laplace noise of scale
/// `sensitivity / epsilon` from `uniform` (a source of uniformly random `u64`s), rounded, clamped
/// at zero, and suppressed under `suppress_below` (usually [`SUPPRESS_BELOW`]).
pub fn release(
    query: &AggregateQuery,
    patients: &[PatientFacts],
    at: Timestamp,
    suppress_below: u64,
    uniform: &mut dyn FnMut() -> u64,
) -> Release {
    let sensitivity = sensitivity(query);
    let epsilon = f64::from(query.epsilon_milli.max(1)) / 1000.0;
    let scale = f64::from(sensitivity) / epsilon;
    let cells = labels(query)
        .into_iter()
        .zip(true_counts(query, patients, at))
        .map(|(label, n)| {
            let noisy = (n as f64 + laplace(scale, uniform())).round().max(0.0) as u64;
            Cell {
                label,
                count: (noisy >= suppress_below).then_some(noisy),
            }
        })
        .collect();
    Release {
        cells,
        scale,
        sensitivity,
    }
}

/// A Laplace(0, `scale`) sample from one uniformly random `u64`, by inverting the CDF. The
/// caller rounds the result to an integer, which also blunts the floating-point attack on the
/// low bits of textbook Laplace samples (Mironov, CCS 2012).
pub fn laplace(scale: f64, random: u64) -> f64 {
    // A uniform in the open interval (0, 1): 52 random bits, offset by half a step. (With 53
    // bits the top value plus a half rounds up to 2^53, giving u = 1 and an infinite sample.)
    let u = ((random >> 12) as f64 + 0.5) / (1u64 << 52) as f64;
    let centred = u - 0.5;
    -scale * centred.signum() * (1.0 - 2.0 * centred.abs()).ln()
}

/// Whole years from `birth_date` (`YYYY-MM-DD`) to the day of `at`, or `None` if the date does
/// not parse or lies after `at`.
pub fn age_at(birth_date: &str, at: Timestamp) -> Option<u32> {
    let mut parts = birth_date.get(..10)?.split('-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: u32 = parts.next()?.parse().ok()?;
    let d: u32 = parts.next()?.parse().ok()?;
    let (ty, tm, td) = crate::time::date(at.0);
    let mut age = ty - y;
    if (tm, td) < (m, d) {
        age -= 1;
    }
    u32::try_from(age).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ehrchain_types::Purpose;

    const DAY: u64 = 86_400_000;
    // 2026-01-01T00:00:00Z
    const AT: Timestamp = Timestamp(20_454 * DAY);

    fn query(group_by: GroupBy, condition: Option<&str>, epsilon_milli: u32) -> AggregateQuery {
        AggregateQuery {
            purpose: Purpose::PublicHealth,
            condition: condition.map(str::to_owned),
            group_by,
            epsilon_milli,
        }
    }

    fn patient(codes: &[&str], birth: Option<&str>, region: Option<&str>) -> PatientFacts {
        PatientFacts {
            conditions: codes.iter().map(|c| (*c).to_owned()).collect(),
            birth_date: birth.map(str::to_owned),
            region: region.map(str::to_owned),
        }
    }

    /// A deterministic stand-in for the node's random source (splitmix64).
    fn seeded(mut state: u64) -> impl FnMut() -> u64 {
        move || {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }
    }

    #[test]
    fn ages_are_whole_years_on_the_release_day() {
        assert_eq!(age_at("2008-01-01", AT), Some(18));
        assert_eq!(age_at("2008-01-02", AT), Some(17));
        assert_eq!(age_at("1960-05-26", AT), Some(65));
        assert_eq!(age_at("2030-01-01", AT), None);
        assert_eq!(age_at("not a date", AT), None);
    }

    #[test]
    fn true_counts_follow_the_query_table() {
        let people = vec![
            patient(
                &["44054006", "38341003"],
                Some("1960-05-26"),
                Some("Massachusetts"),
            ),
            patient(&["44054006"], Some("2010-03-01"), Some("massachusetts")),
            patient(&["38341003"], Some("1990-07-07"), Some("Ohio")),
            patient(&[], None, None),
        ];
        let region = GroupBy::Region(vec!["Massachusetts".into(), "Texas".into()]);
        let codes = GroupBy::Condition(vec!["44054006".into(), "38341003".into(), "1".into()]);
        for (q, want) in [
            (query(GroupBy::Total, None, 500), vec![4]),
            (query(GroupBy::Total, Some("44054006"), 500), vec![2]),
            (query(GroupBy::AgeBand, None, 500), vec![1, 1, 0, 1, 1]),
            (
                query(GroupBy::AgeBand, Some("38341003"), 500),
                vec![0, 1, 0, 1, 0],
            ),
            (query(region, None, 500), vec![2, 0]),
            (query(codes, None, 500), vec![2, 2, 0]),
        ] {
            assert_eq!(true_counts(&q, &people, AT), want, "{q:?}");
            assert_eq!(labels(&q).len(), want.len());
        }
    }

    #[test]
    fn laplace_samples_have_the_right_spread() {
        // Mean |X| of Laplace(0, b) is b; 20,000 samples put the estimate within a few percent.
        let mut next = seeded(7);
        let n = 20_000;
        let mean_abs: f64 = (0..n).map(|_| laplace(4.0, next()).abs()).sum::<f64>() / n as f64;
        assert!((mean_abs - 4.0).abs() < 0.2, "{mean_abs}");
        // The extremes of the random source give finite samples.
        assert!(laplace(1.0, 0).is_finite() && laplace(1.0, u64::MAX).is_finite());
    }

    #[test]
    fn releases_stay_within_the_noise_bound_and_small_cells_are_suppressed() {
        let mut people = Vec::new();
        for i in 0..200u32 {
            let code = if i % 4 == 0 { "38341003" } else { "44054006" };
            let birth = format!("{}-06-15", 1940 + i % 80);
            people.push(patient(&[code], Some(&birth), Some("Massachusetts")));
        }
        people.push(patient(&["1234567"], None, Some("Vermont")));
        let q = query(
            GroupBy::Condition(vec!["44054006".into(), "38341003".into(), "1234567".into()]),
            None,
            1000,
        );
        let truth = true_counts(&q, &people, AT);
        assert_eq!(truth, vec![150, 50, 1]);
        for seed in 0..200 {
            let r = release(&q, &people, AT, SUPPRESS_BELOW, &mut seeded(seed));
            assert_eq!(r.sensitivity, 3);
            assert!((r.scale - 3.0).abs() < 1e-9);
            // P(|X| > 25 b) = e^-25 per cell: never, in practice, for an honest sampler.
            for (cell, n) in r.cells.iter().zip(&truth) {
                match cell.count {
                    Some(c) => {
                        assert!(c >= SUPPRESS_BELOW, "{cell:?}");
                        assert!(
                            (c as f64 - *n as f64).abs() <= 25.0 * r.scale,
                            "{cell:?} vs {n}"
                        );
                    }
                    None => assert!(*n as f64 <= SUPPRESS_BELOW as f64 + 25.0 * r.scale),
                }
            }
        }
        // Noise is really added: releases differ between seeds.
        let a = release(&q, &people, AT, SUPPRESS_BELOW, &mut seeded(1));
        let b = release(&q, &people, AT, SUPPRESS_BELOW, &mut seeded(2));
        assert_ne!(a.cells, b.cells);
    }

    #[test]
    fn conditions_and_regions_are_read_from_fhir() {
        let condition = br#"{"resourceType":"Condition","code":{"coding":[
            {"system":"http://snomed.info/sct","code":"44054006","display":"Diabetes"},
            {"system":"http://hl7.org/fhir/sid/icd-10","code":"E11"}]}}"#;
        assert_eq!(condition_codes(condition), vec!["44054006".to_owned()]);
        assert!(condition_codes(br#"{"resourceType":"Observation","code":{}}"#).is_empty());
        assert!(condition_codes(b"not json").is_empty());
        let persona =
            r#"{"elements":{"address":[{"line":["1 Main St"],"state":"Massachusetts"}]}}"#;
        assert_eq!(region_of(persona).as_deref(), Some("Massachusetts"));
        assert_eq!(region_of(r#"{"elements":{}}"#), None);
    }
}
