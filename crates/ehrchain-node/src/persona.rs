//! The persona store's values: a patient's identifying data, sealed under the node's persona key
//! and found again through keyed blind indexes. None of it ever reaches the ledger.

use ehrchain_crypto::small::blind_index;
use ehrchain_crypto::{Hash, LocalKey};
use ehrchain_types::{Canonical, DecodeError, Decoder, Encoder};
use serde::{Deserialize, Serialize};

/// Identifying data the front desk records for a patient.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Persona {
    pub name: String,
    /// ISO 8601 date, `YYYY-MM-DD`.
    pub birth_date: String,
    /// A national identifier such as an Aadhaar or social-security number.
    #[serde(default)]
    pub national_id: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
    /// The identifying elements of an imported FHIR Patient, as the JSON text `ehrchain-fhir`
    /// writes (names, identifiers, telecom, address, birth date, and the identifying strings
    /// replaced by placeholders in records), so that an export can put them back. Opaque here:
    /// the node knows no JSON.
    #[serde(default)]
    pub fhir: Option<String>,
}

impl std::fmt::Debug for Persona {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Persona([REDACTED])")
    }
}

impl Persona {
    /// Blind indexes under which a returning patient is found: the national id, and the name
    /// with the birth date. Normalised so spacing and case do not matter.
    pub fn blind_indexes(&self, key: &LocalKey) -> Vec<Hash> {
        let mut out = Vec::new();
        if let Some(id) = &self.national_id {
            out.push(national_id_index(key, id));
        }
        out.push(name_index(key, &self.name, &self.birth_date));
        out
    }
}

pub fn national_id_index(key: &LocalKey, id: &str) -> Hash {
    let norm: String = id
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect::<String>()
        .to_uppercase();
    blind_index(key, b"ehrchain/persona/national-id", norm.as_bytes())
}

pub fn name_index(key: &LocalKey, name: &str, birth_date: &str) -> Hash {
    let norm = name
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    let value = format!("{norm}\n{}", birth_date.trim());
    blind_index(key, b"ehrchain/persona/name-birth", value.as_bytes())
}

/// Sealed personas use the canonical encoding, not JSON: the node knows no JSON.
impl Canonical for Persona {
    fn encode(&self, enc: &mut Encoder) {
        enc.str(&self.name);
        enc.str(&self.birth_date);
        enc.option(&self.national_id, |e, v| e.str(v));
        enc.option(&self.phone, |e, v| e.str(v));
        enc.option(&self.address, |e, v| e.str(v));
        enc.option(&self.fhir, |e, v| e.str(v));
    }
    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let text = |d: &mut Decoder<'_>, f| d.str(1024, f).map(str::to_owned);
        Ok(Persona {
            name: text(dec, "name")?,
            birth_date: text(dec, "birth date")?,
            national_id: dec.option("national id", |d| text(d, "national id"))?,
            phone: dec.option("phone", |d| text(d, "phone"))?,
            address: dec.option("address", |d| text(d, "address"))?,
            // Personas sealed before FHIR import existed end here.
            fhir: if dec.remaining() == 0 {
                None
            } else {
                dec.option("fhir", |d| d.str(MAX_FHIR_BYTES, "fhir").map(str::to_owned))?
            },
        })
    }
}

/// The largest FHIR identifying fragment a persona may carry.
pub const MAX_FHIR_BYTES: usize = 64 * 1024;

/// Refuses personas whose fields would not fit the store's limits.
pub fn check(p: &Persona) -> bool {
    let ok = |s: &str| s.len() <= 1024 && !s.chars().any(char::is_control);
    let fhir_ok = p
        .fhir
        .as_deref()
        .is_none_or(|f| f.len() <= MAX_FHIR_BYTES && !f.chars().any(char::is_control));
    fhir_ok
        && !p.name.trim().is_empty()
        && ok(&p.name)
        && ok(&p.birth_date)
        && [&p.national_id, &p.phone, &p.address]
            .iter()
            .all(|f| f.as_deref().is_none_or(ok))
}
