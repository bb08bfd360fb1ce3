//! The ledger's view of a patient as FHIR: grants as `Consent`, access events as `AuditEvent`
//! (in the spirit of IHE Basic Audit Log Patterns: a patient entity, the reader as the
//! requesting agent, the purpose of use, the outcome), record anchors as `Provenance`.
//! Ledger actors are not FHIR resources here: they are named by identifier
//! (`urn:ehrchain:agent` and so on), as the ledger names them.

use serde_json::{json, Value};

use crate::time::instant;

/// A grant as the ledger holds it.
#[derive(Clone, Debug)]
pub struct GrantView {
    pub id: String,
    /// `agent`, `organisation` or `role`.
    pub grantee_kind: String,
    pub grantee: String,
    pub role: Option<String>,
    pub categories: Vec<String>,
    pub records: Vec<String>,
    pub mode: String,
    pub purpose: String,
    pub not_before: u64,
    pub expires: u64,
    pub granted: u64,
    pub revoked: Option<u64>,
    pub live: bool,
}

/// One access event from the patient's audit trail.
#[derive(Clone, Debug)]
pub struct AccessView {
    pub tx: String,
    pub at: u64,
    pub height: u64,
    pub reader_kind: String,
    pub reader: String,
    pub record: String,
    pub purpose: String,
    pub permitted: bool,
    /// The basis (`owner`, `grant gr_…`) or the denial code.
    pub detail: String,
}

/// One record anchor.
#[derive(Clone, Debug)]
pub struct AnchorView {
    pub record: String,
    pub tx: String,
    pub at: u64,
    pub author_kind: String,
    pub author: String,
    pub cid: String,
    pub category: String,
    /// The exported resource it stands for (`Observation/abc`), if there is one.
    pub target: Option<String>,
}

fn ident(kind: &str, value: &str) -> Value {
    json!({"identifier": {"system": format!("urn:ehrchain:{kind}"), "value": value}})
}

/// A ledger purpose as a v3 ActReason purpose-of-use code.
pub fn purpose_of_use(purpose: &str) -> Value {
    let (code, display) = match purpose {
        "treatment" => ("TREAT", "treatment"),
        "payment" => ("HPAYMT", "healthcare payment"),
        "research" => ("HRESCH", "healthcare research"),
        "public-health" => ("PUBHLTH", "public health"),
        "emergency" => ("ETREAT", "emergency treatment"),
        other => (other, other),
    };
    json!({"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": code, "display": display})
}

pub fn consent(g: &GrantView, patient_ref: &str) -> Value {
    let status = if g.revoked.is_some() || !g.live {
        "inactive"
    } else {
        "active"
    };
    let mut actor = ident(&g.grantee_kind, &g.grantee);
    if let Some(role) = &g.role {
        actor["display"] = json!(format!("role {role} at {}", g.grantee));
    }
    let action = if g.mode == "read" {
        "access"
    } else {
        "collect"
    };
    json!({
        "resourceType": "Consent",
        "id": format!("ehrchain-{}", g.id),
        "identifier": [{"system": "urn:ehrchain:grant", "value": g.id}],
        "status": status,
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0", "display": "Patient Consent"}]}],
        "patient": {"reference": patient_ref},
        "dateTime": instant(g.granted),
        "policyRule": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}]},
        "provision": {
            "type": "permit",
            "period": {"start": instant(g.not_before), "end": instant(g.revoked.map_or(g.expires, |r| r.min(g.expires)))},
            "actor": [{
                "role": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "IRCP", "display": "information recipient"}]},
                "reference": actor,
            }],
            "action": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentaction", "code": action}]}],
            "purpose": [purpose_of_use(&g.purpose)],
            "class": g.categories.iter().map(|c| json!({"system": "urn:ehrchain:category", "code": c})).collect::<Vec<_>>(),
            "data": g.records.iter().map(|r| json!({"meaning": "instance", "reference": ident("record", r)})).collect::<Vec<_>>(),
        },
    })
}

pub fn audit_event(a: &AccessView, patient_ref: &str) -> Value {
    json!({
        "resourceType": "AuditEvent",
        "id": format!("ehrchain-{}", a.tx),
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest", "display": "Restful Operation"},
        "subtype": [{"system": "http://hl7.org/fhir/restful-interaction", "code": "read", "display": "read"}],
        "action": "R",
        "recorded": instant(a.at),
        // 0: success; 4: minor failure (the request was refused).
        "outcome": if a.permitted { "0" } else { "4" },
        "outcomeDesc": a.detail,
        "purposeOfEvent": [{"coding": [purpose_of_use(&a.purpose)]}],
        "agent": [{
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/extra-security-role-type", "code": "humanuser"}]},
            "who": ident(&a.reader_kind, &a.reader),
            "requestor": true,
            "purposeOfUse": [{"coding": [purpose_of_use(&a.purpose)]}],
        }],
        "source": {
            "observer": {"display": "ehrchain ledger"},
            "type": [{"system": "http://terminology.hl7.org/CodeSystem/security-source-type", "code": "4", "display": "Application Server"}],
        },
        "entity": [
            {"what": {"reference": patient_ref}, "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1", "display": "Person"}, "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1", "display": "Patient"}},
            {"what": ident("record", &a.record), "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2", "display": "System Object"}, "detail": [
                {"type": "ledger-transaction", "valueString": a.tx},
                {"type": "ledger-height", "valueString": a.height.to_string()},
            ]},
        ],
    })
}

pub fn provenance(a: &AnchorView) -> Value {
    let target = match &a.target {
        Some(t) => json!({"reference": t}),
        None => ident("record", &a.record),
    };
    json!({
        "resourceType": "Provenance",
        "id": format!("ehrchain-{}", a.tx),
        "target": [target],
        "recorded": instant(a.at),
        "activity": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-DataOperation", "code": "CREATE"}]},
        "agent": [{
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type", "code": "author"}]},
            "who": ident(&a.author_kind, &a.author),
        }],
        "entity": [{
            "role": "source",
            "what": {"identifier": {"system": "urn:ehrchain:cid", "value": a.cid}, "display": format!("record {} ({}), anchored in ledger transaction {}", a.record, a.category, a.tx)},
        }],
    })
}
