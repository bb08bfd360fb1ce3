//! JSON shapes of the API. Ids print in their prefixed text form (`pt_…`, `rec_…`), keys and
//! hashes as hex, times as Unix milliseconds.

use ehrchain_node::Committed;
use ehrchain_types::{
    ActorRef, AgentState, AuditEntry, AuditEvent, Basis, BlockHeader, Certificate, GrantState,
    Grantee, OrganisationState, Outcome, PatientState, RecordState,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub fn actor(a: &ActorRef) -> Value {
    match a {
        ActorRef::Patient(p) => json!({"kind": "patient", "id": p.to_string()}),
        ActorRef::Agent(x) => json!({"kind": "agent", "id": x.to_string()}),
        ActorRef::Organisation(o) => json!({"kind": "organisation", "id": o.to_string()}),
        ActorRef::Key(k) => json!({"kind": "key", "id": k.to_string()}),
    }
}

pub fn basis(b: &Basis) -> Value {
    match b {
        Basis::Owner => json!({"kind": "owner"}),
        Basis::Author => json!({"kind": "author"}),
        Basis::Grant(g) => json!({"kind": "grant", "grant": g.to_string()}),
        Basis::BreakGlass { until } => json!({"kind": "break_glass", "until": until.0}),
    }
}

pub fn outcome(o: &Outcome) -> Value {
    match o {
        Outcome::Applied => json!({"status": "applied"}),
        Outcome::Permitted(b) => json!({"status": "permitted", "basis": basis(b)}),
        Outcome::Denied(r) => json!({"status": "denied", "code": r.code()}),
        Outcome::Rejected(r) => json!({"status": "rejected", "code": r.code()}),
    }
}

pub fn committed(c: &Committed) -> Value {
    json!({
        "tx": c.tx.to_string(),
        "height": c.height.0,
        "index": c.index,
        "time": c.time.0,
        "outcome": outcome(&c.outcome),
    })
}

/// A block's certificate: the engine's finalization (hex of its encoding; empty when the block
/// was finalized through a descendant's certificate) or ed25519 votes.
pub fn certificate(c: &Certificate) -> Value {
    match c {
        Certificate::Engine(bytes) => json!({"kind": "engine", "finalization": hex::encode(bytes)}),
        Certificate::Votes(votes) => json!({
            "kind": "votes",
            "votes": votes.iter().map(|v| json!({"validator": v.validator.to_string(), "signature": hex::encode(v.signature.to_bytes())})).collect::<Vec<_>>(),
        }),
    }
}

pub fn header(h: &BlockHeader) -> Value {
    json!({
        "height": h.height.0,
        "hash": h.hash().to_string(),
        "prev": h.prev.to_string(),
        "time": h.time.0,
        "tx_count": h.tx_count,
        "tx_root": h.tx_root.to_string(),
        "receipts_root": h.receipts_root.to_string(),
        "state_root": h.state_root.to_string(),
        "proposer": h.proposer.to_string(),
    })
}

pub fn grantee(g: &Grantee) -> Value {
    match g {
        Grantee::Agent(a) => json!({"kind": "agent", "id": a.to_string()}),
        Grantee::Organisation(o) => json!({"kind": "organisation", "id": o.to_string()}),
        Grantee::Role { org, role } => {
            json!({"kind": "role", "organisation": org.to_string(), "role": role.as_str()})
        }
    }
}

pub fn grant(g: &GrantState, now: u64) -> Value {
    json!({
        "id": g.grant.grant.to_string(),
        "patient": g.patient.to_string(),
        "grantee": grantee(&g.grant.grantee),
        "categories": g.grant.scope.categories.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
        "records": g.grant.scope.records.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
        "mode": g.grant.mode.as_str(),
        "purpose": g.grant.purpose.as_str(),
        "not_before": g.grant.not_before.0,
        "expires": g.grant.expires.0,
        "granted": g.granted.0,
        "revoked": g.revoked.map(|t| t.0),
        "live": g.is_live(ehrchain_types::Timestamp(now)),
    })
}

pub fn record(r: &RecordState, erase_receipts: &[ehrchain_crypto::PublicKey]) -> Value {
    json!({
        "id": r.anchor.record.to_string(),
        "patient": r.anchor.patient.to_string(),
        "category": r.anchor.category.as_str(),
        "media_type": r.anchor.media_type,
        "size": r.anchor.size,
        "cid": r.anchor.cid.to_string(),
        "author": actor(&r.author),
        "anchored": r.anchored.0,
        "height": r.height.0,
        "supersedes": r.anchor.supersedes.map(|s| s.to_string()),
        "superseded_by": r.superseded_by.map(|s| s.to_string()),
        "erased": r.erased.map(|t| t.0),
        "erase_receipts": erase_receipts.iter().map(|k| k.to_string()).collect::<Vec<_>>(),
    })
}

pub fn audit(e: &AuditEntry) -> Value {
    let event = match &e.event {
        AuditEvent::Access {
            reader,
            record,
            purpose,
            outcome: o,
        } => json!({
            "kind": "access", "reader": actor(reader), "record": record.to_string(),
            "purpose": purpose.as_str(), "outcome": outcome(o),
        }),
        AuditEvent::BreakGlass {
            agent,
            reason,
            until,
        } => json!({
            "kind": "break_glass", "agent": agent.to_string(), "reason": reason, "until": until.0,
        }),
        AuditEvent::Anchor { record, author } => {
            json!({"kind": "anchor", "record": record.to_string(), "author": actor(author)})
        }
        AuditEvent::Grant { grant } => json!({"kind": "grant", "grant": grant.to_string()}),
        AuditEvent::Revoke { grant } => json!({"kind": "revoke", "grant": grant.to_string()}),
        AuditEvent::EraseRequest { record } => {
            json!({"kind": "erase_request", "record": record.to_string()})
        }
        AuditEvent::EraseReceipt { record, validator } => {
            json!({"kind": "erase_receipt", "record": record.to_string(), "validator": validator.to_string()})
        }
        AuditEvent::Counted { requester, purpose } => {
            json!({"kind": "counted", "requester": requester.to_string(), "purpose": purpose.as_str()})
        }
    };
    json!({"at": e.at.0, "height": e.height.0, "tx": e.tx.to_string(), "event": event})
}

pub fn agent(a: &AgentState) -> Value {
    json!({
        "id": a.id.to_string(), "organisation": a.org.to_string(), "role": a.role.as_str(),
        "name": a.name, "licence": a.licence, "sign_key": a.sign_key.to_string(),
        "encrypt_key": a.encrypt_key.to_string(), "registered": a.registered.0,
        "revoked": a.revoked.map(|t| t.0),
    })
}

pub fn organisation(o: &OrganisationState) -> Value {
    json!({
        "id": o.id.to_string(), "name": o.name, "kind": o.kind.as_str(),
        "sign_key": o.sign_key.to_string(), "encrypt_key": o.encrypt_key.to_string(),
        "registered": o.registered.0,
    })
}

pub fn patient(p: &PatientState) -> Value {
    json!({
        "id": p.id.to_string(), "sign_key": p.sign_key.to_string(),
        "encrypt_key": p.encrypt_key.to_string(), "registered": p.registered.0,
    })
}

#[derive(Debug, Deserialize, Serialize)]
pub struct EnvelopeIn {
    /// Hex X25519 public key of the recipient.
    pub recipient: String,
    /// Base64 of the 80-byte HPKE envelope.
    pub sealed: String,
}

#[derive(Debug, Deserialize, Serialize)]
pub struct EnvelopesIn {
    pub envelopes: Vec<EnvelopeIn>,
}

#[derive(Debug, Deserialize, Serialize)]
pub struct NewOrganisation {
    pub name: String,
    pub kind: String,
}

#[derive(Debug, Deserialize, Serialize)]
pub struct NewAgent {
    pub role: String,
    pub name: String,
    pub licence: String,
    pub sign_key: String,
    pub encrypt_key: String,
}

#[derive(Debug, Deserialize, Serialize)]
pub struct PersonaIn {
    pub patient: String,
    pub persona: ehrchain_node::Persona,
}

/// A release of population counts: cells (a suppressed cell has `count: null`), the noise, the
/// requester's budget, and the committed release transaction.
pub fn aggregate(r: &ehrchain_node::AggregateRelease) -> Value {
    let cells: Vec<Value> = r
        .release
        .cells
        .iter()
        .map(|c| json!({"label": c.label, "count": c.count, "suppressed": c.count.is_none()}))
        .collect();
    json!({
        "tx": r.committed.tx.to_string(),
        "height": r.committed.height.0,
        "time": r.committed.time.0,
        "cells": cells,
        "noise": {
            "mechanism": "laplace",
            "scale": r.release.scale,
            "sensitivity": r.release.sensitivity,
            "suppress_below": r.suppress_below,
        },
        "budget": {
            "spent_epsilon": r.spent_milli as f64 / 1000.0,
            "total_epsilon": r.budget_milli as f64 / 1000.0,
        },
    })
}
