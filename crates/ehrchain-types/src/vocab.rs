//! The controlled vocabularies the ledger speaks: roles, organisation kinds, purposes of use,
//! access modes and record categories.

use std::fmt;
use std::str::FromStr;

use crate::codec::{limits, Canonical, DecodeError, Decoder, Encoder};

macro_rules! vocab {
    ($(#[$doc:meta])* $name:ident, $field:literal { $($variant:ident = $tag:literal, $text:literal;)+ }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownTerm;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownTerm {
                        field: $field,
                        expected: &[$($text),+],
                    }),
                }
            }
        }

        impl Canonical for $name {
            fn encode(&self, enc: &mut Encoder) {
                enc.u8(match self { $($name::$variant => $tag),+ });
            }
            fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
                match dec.u8($field)? {
                    $($tag => Ok($name::$variant),)+
                    tag => Err(DecodeError::UnknownTag { field: $field, tag }),
                }
            }
        }
    };
}

/// A word that is not in a vocabulary, with the words that are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {field}: expected one of {expected:?}")]
pub struct UnknownTerm {
    pub field: &'static str,
    pub expected: &'static [&'static str],
}

vocab!(
    /// A staff member's role at their organisation.
    Role, "role" {
        Doctor = 1, "doctor";
        Nurse = 2, "nurse";
        LabTechnician = 3, "lab-technician";
        Pharmacist = 4, "pharmacist";
        InsurerOfficer = 5, "insurer-officer";
        PublicHealthOfficer = 6, "public-health-officer";
        Researcher = 7, "researcher";
        OrgAdmin = 8, "org-admin";
        // A registered device (a monitor, a wearable's gateway): it writes what a patient's
        // append grant lets it write and never breaks glass.
        Device = 9, "device";
    }
);

impl Role {
    /// Clinical roles that may declare break-glass: the people who treat a patient in an
    /// emergency. Everyone else (insurers, researchers, administrators) never may.
    pub fn may_break_glass(self) -> bool {
        matches!(self, Role::Doctor | Role::Nurse)
    }
}

vocab!(
    /// What kind of organisation a consortium member is.
    OrgKind, "organisation kind" {
        Hospital = 1, "hospital";
        Clinic = 2, "clinic";
        Laboratory = 3, "laboratory";
        Pharmacy = 4, "pharmacy";
        Insurer = 5, "insurer";
        PublicHealthAgency = 6, "public-health-agency";
        ResearchInstitute = 7, "research-institute";
    }
);

vocab!(
    /// Why data is disclosed. A grant names one purpose and covers reads for that purpose only.
    Purpose, "purpose" {
        Treatment = 1, "treatment";
        Payment = 2, "payment";
        Research = 3, "research";
        PublicHealth = 4, "public-health";
        Emergency = 5, "emergency";
    }
);

vocab!(
    /// What a grant lets its grantee do with the covered records.
    Mode, "mode" {
        Read = 1, "read";
        Append = 2, "append";
    }
);

/// A record's category: a FHIR resource type, optionally with a category code, such as
/// `Observation/laboratory`, `ImagingStudy` or `DocumentReference/clinical-note`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Category(String);

/// Why a category or scope entry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid category `{0}`: expected `Type` or `Type/code` with letters, digits, `-`, `_`, `.` (at most 64 each)")]
pub struct InvalidCategory(pub String);

fn valid_part(part: &str) -> bool {
    !part.is_empty()
        && part.len() <= 64
        && part
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl Category {
    pub fn new(text: &str) -> Result<Self, InvalidCategory> {
        let ok = match text.split_once('/') {
            Some((ty, code)) => valid_part(ty) && valid_part(code),
            None => valid_part(text),
        };
        if ok {
            Ok(Category(text.to_owned()))
        } else {
            Err(InvalidCategory(text.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The resource type: `Observation` for `Observation/laboratory`.
    pub fn resource_type(&self) -> &str {
        self.0.split_once('/').map_or(&self.0, |(ty, _)| ty)
    }

    /// The category code: `laboratory` for `Observation/laboratory`.
    pub fn code(&self) -> Option<&str> {
        self.0.split_once('/').map(|(_, code)| code)
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Category {
    type Err = InvalidCategory;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Category::new(s)
    }
}

impl Canonical for Category {
    fn encode(&self, enc: &mut Encoder) {
        enc.str(&self.0);
    }
    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Category::new(dec.str(129, "category")?).map_err(|_| DecodeError::Invalid("category"))
    }
}

/// A category pattern in a grant's scope: `*` (everything), a whole category
/// (`Observation/laboratory`), a resource type (`Observation`) or a category code
/// (`laboratory`, which covers lab observations and lab reports alike).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct CategoryPattern(String);

impl CategoryPattern {
    pub fn new(text: &str) -> Result<Self, InvalidCategory> {
        if text == "*" || Category::new(text).is_ok() {
            Ok(CategoryPattern(text.to_owned()))
        } else {
            Err(InvalidCategory(text.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn covers(&self, category: &Category) -> bool {
        let p = self.0.as_str();
        p == "*"
            || p == category.as_str()
            || p == category.resource_type()
            || Some(p) == category.code()
    }
}

impl fmt::Display for CategoryPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for CategoryPattern {
    type Err = InvalidCategory;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CategoryPattern::new(s)
    }
}

impl Canonical for CategoryPattern {
    fn encode(&self, enc: &mut Encoder) {
        enc.str(&self.0);
    }
    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        CategoryPattern::new(dec.str(129, "category pattern")?)
            .map_err(|_| DecodeError::Invalid("category pattern"))
    }
}

/// Short free-text fields (names, licence numbers, media types): bounded, no control characters.
pub fn checked_text(
    dec: &mut Decoder<'_>,
    max: usize,
    field: &'static str,
) -> Result<String, DecodeError> {
    let s = dec.str(max, field)?;
    if s.chars().any(|c| c.is_control() && c != '\n') {
        return Err(DecodeError::Invalid(field));
    }
    Ok(s.to_owned())
}

/// The longest a short name may be; re-exported for builders that validate before signing.
pub const MAX_NAME: usize = limits::MAX_NAME;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_patterns() {
        let lab = Category::new("Observation/laboratory").unwrap();
        let img = Category::new("ImagingStudy").unwrap();
        // (pattern, covers lab, covers imaging)
        let table = [
            ("*", true, true),
            ("laboratory", true, false),
            ("Observation", true, false),
            ("Observation/laboratory", true, false),
            ("Observation/vital-signs", false, false),
            ("ImagingStudy", false, true),
            ("imaging", false, false),
        ];
        for (p, l, i) in table {
            let p = CategoryPattern::new(p).unwrap();
            assert_eq!(p.covers(&lab), l, "{p} vs lab");
            assert_eq!(p.covers(&img), i, "{p} vs imaging");
        }
    }

    #[test]
    fn bad_categories_are_refused() {
        for bad in ["", "/", "a/", "/b", "a/b/c", "a b", "é", &"x".repeat(65)] {
            assert!(Category::new(bad).is_err(), "{bad:?}");
        }
    }
}
