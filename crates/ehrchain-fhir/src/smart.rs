//! SMART App Launch v2 scopes (`patient/Observation.rs?category=laboratory`), and how they map
//! onto ehrchain grants. A scope says which resource types (and, optionally, which category)
//! an app may create, read, update, delete or search, for the patient in context (`patient/`),
//! for whatever the user may see (`user/`) or as a system (`system/`). v1 forms (`.read`,
//! `.write`, `.*`) are accepted too.
//!
//! Scopes restrict what an app may ask for; they never widen what the patient granted. The
//! FHIR endpoint checks both: the scope here, and the patient's grants through the consent
//! decision on the ledger, for every read.

use std::fmt;
use std::str::FromStr;

use ehrchain_types::{Category, CategoryPattern, Mode};

/// Whose data a scope is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    /// The patient in context (the launch patient).
    Patient,
    /// Whatever the user may access.
    User,
    /// A backend service.
    System,
}

/// What a request does, in SMART's letters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interaction {
    Create,
    Read,
    Update,
    Delete,
    Search,
}

/// One parsed scope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    pub context: Context,
    /// `None` for `*`.
    pub resource: Option<String>,
    create: bool,
    read: bool,
    update: bool,
    delete: bool,
    search: bool,
    /// The category code a `?category=` parameter restricts to (the code of `system|code`).
    pub category: Option<String>,
}

/// Why a scope string was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a SMART scope {scope:?}: {why}")]
pub struct ScopeError {
    pub scope: String,
    pub why: &'static str,
}

impl FromStr for Scope {
    type Err = ScopeError;

    fn from_str(text: &str) -> Result<Self, ScopeError> {
        let err = |why| ScopeError {
            scope: text.to_owned(),
            why,
        };
        let (context, rest) = text
            .split_once('/')
            .ok_or_else(|| err("expected patient/, user/ or system/"))?;
        let context = match context {
            "patient" => Context::Patient,
            "user" => Context::User,
            "system" => Context::System,
            _ => return Err(err("expected patient/, user/ or system/")),
        };
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        let (resource, permissions) = rest
            .split_once('.')
            .ok_or_else(|| err("expected Resource.permissions, e.g. Observation.rs"))?;
        let resource = match resource {
            "*" => None,
            r if Category::new(r).is_ok() && r.chars().next().is_some_and(char::is_uppercase) => {
                Some(r.to_owned())
            }
            _ => return Err(err("expected a FHIR resource type or *")),
        };
        let mut scope = Scope {
            context,
            resource,
            create: false,
            read: false,
            update: false,
            delete: false,
            search: false,
            category: None,
        };
        match permissions {
            // SMART v1.
            "read" => (scope.read, scope.search) = (true, true),
            "write" => (scope.create, scope.update, scope.delete) = (true, true, true),
            "*" => {
                (
                    scope.create,
                    scope.read,
                    scope.update,
                    scope.delete,
                    scope.search,
                ) = (true, true, true, true, true)
            }
            // SMART v2: a non-empty subsequence of c, r, u, d, s, in that order.
            letters => {
                let mut last = 0;
                for ch in letters.chars() {
                    let (slot, rank) = match ch {
                        'c' => (&mut scope.create, 1),
                        'r' => (&mut scope.read, 2),
                        'u' => (&mut scope.update, 3),
                        'd' => (&mut scope.delete, 4),
                        's' => (&mut scope.search, 5),
                        _ => return Err(err("permissions are c, r, u, d, s (in that order)")),
                    };
                    if rank <= last {
                        return Err(err("permissions are c, r, u, d, s (in that order)"));
                    }
                    last = rank;
                    *slot = true;
                }
                if last == 0 {
                    return Err(err("no permissions"));
                }
            }
        }
        if let Some(query) = query {
            for pair in query.split('&') {
                let (name, value) = pair
                    .split_once('=')
                    .ok_or_else(|| err("parameters are name=value"))?;
                if name != "category" {
                    return Err(err("only the category parameter is supported"));
                }
                let code = value.rsplit('|').next().unwrap_or(value);
                if code.is_empty() || scope.category.is_some() {
                    return Err(err("one non-empty category"));
                }
                if code.contains('/') || Category::new(code).is_err() {
                    return Err(err("a category code is a single token such as laboratory"));
                }
                scope.category = Some(code.to_owned());
            }
        }
        Ok(scope)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let context = match self.context {
            Context::Patient => "patient",
            Context::User => "user",
            Context::System => "system",
        };
        let letters: String = [
            (self.create, 'c'),
            (self.read, 'r'),
            (self.update, 'u'),
            (self.delete, 'd'),
            (self.search, 's'),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, c)| *c)
        .collect();
        write!(
            f,
            "{context}/{}.{letters}",
            self.resource.as_deref().unwrap_or("*")
        )?;
        if let Some(c) = &self.category {
            write!(f, "?category={c}")?;
        }
        Ok(())
    }
}

impl Scope {
    /// True if this scope lets an app do `interaction` on a record of `category`.
    pub fn permits(&self, interaction: Interaction, category: &Category) -> bool {
        let allowed = match interaction {
            Interaction::Create => self.create,
            Interaction::Read => self.read,
            Interaction::Update => self.update,
            Interaction::Delete => self.delete,
            Interaction::Search => self.search,
        };
        allowed
            && self
                .resource
                .as_deref()
                .is_none_or(|r| r == category.resource_type())
            && self
                .category
                .as_deref()
                .is_none_or(|c| Some(c) == category.code())
    }

    /// True if this scope lets an app search `resource_type` at all (whatever the category).
    pub fn may_search(&self, resource_type: &str) -> bool {
        self.search && self.resource.as_deref().is_none_or(|r| r == resource_type)
    }

    /// The grant this scope corresponds to: the category pattern it covers, and the grant
    /// modes it needs (read for r and s, append for c; updates and deletes have no grant, since
    /// nothing on the ledger is rewritten: a correction is a new record, which is an append).
    pub fn grant(&self) -> (CategoryPattern, Vec<Mode>) {
        let pattern = match (&self.resource, &self.category) {
            (Some(r), Some(c)) => format!("{r}/{c}"),
            (Some(r), None) => r.clone(),
            (None, Some(c)) => c.clone(),
            (None, None) => "*".to_owned(),
        };
        let mut modes = Vec::new();
        if self.read || self.search {
            modes.push(Mode::Read);
        }
        if self.create || self.update {
            modes.push(Mode::Append);
        }
        (
            CategoryPattern::new(&pattern).expect("resource and category were checked"),
            modes,
        )
    }
}

/// True if any of `scopes` permits `interaction` on a record of `category`.
pub fn any_permits(scopes: &[Scope], interaction: Interaction, category: &Category) -> bool {
    scopes.iter().any(|s| s.permits(interaction, category))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_map_to_grants_and_permit() {
        let lab = Category::new("Observation/laboratory").unwrap();
        let vitals = Category::new("Observation/vital-signs").unwrap();
        let dx = Category::new("Condition/encounter-diagnosis").unwrap();
        // scope, its grant pattern, modes, and whether it lets an app read lab / vitals / dx.
        for (text, pattern, modes, reads) in [
            (
                "patient/Observation.rs?category=laboratory",
                "Observation/laboratory",
                vec![Mode::Read],
                [true, false, false],
            ),
            (
                "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory",
                "Observation/laboratory",
                vec![Mode::Read],
                [true, false, false],
            ),
            ("user/Observation.rs", "Observation", vec![Mode::Read], [true, true, false]),
            ("patient/*.read", "*", vec![Mode::Read], [true, true, true]),
            ("patient/Condition.cruds", "Condition", vec![Mode::Read, Mode::Append], [false, false, true]),
            ("system/*.c", "*", vec![Mode::Append], [false, false, false]),
            ("patient/*.s?category=laboratory", "laboratory", vec![Mode::Read], [false, false, false]),
        ] {
            let s: Scope = text.parse().unwrap_or_else(|e| panic!("{e}"));
            let (p, m) = s.grant();
            assert_eq!(p.as_str(), pattern, "{text}");
            assert_eq!(m, modes, "{text}");
            let got = [&lab, &vitals, &dx].map(|c| s.permits(Interaction::Read, c));
            assert_eq!(got, reads, "{text}");
            // Display gives a scope that parses back to the same thing.
            assert_eq!(s.to_string().parse::<Scope>().unwrap(), s, "{text}");
        }
        let search_lab: Scope = "patient/*.s?category=laboratory".parse().unwrap();
        assert!(search_lab.permits(Interaction::Search, &lab));
        assert!(!search_lab.permits(Interaction::Search, &vitals));
        assert!(search_lab.may_search("Observation"));
    }

    #[test]
    fn malformed_scopes_are_refused() {
        for bad in [
            "",
            "openid",
            "launch/patient",
            "patient/Observation",
            "patient/Observation.",
            "patient/Observation.sr",
            "patient/Observation.rr",
            "patient/Observation.x",
            "patient/observation.rs",
            "doctor/Observation.rs",
            "patient/Observation.rs?code=123",
            "patient/Observation.rs?category=",
            "patient/Observation.rs?category=a&category=b",
            "patient/Observation.rs?category=a/b",
        ] {
            assert!(bad.parse::<Scope>().is_err(), "{bad:?} parsed");
        }
    }
}
