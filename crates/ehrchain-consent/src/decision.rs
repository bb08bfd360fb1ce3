//! The decision: owner, author, a live grant covering reader, record, purpose and mode, or a
//! committed break-glass for an emergency read. Anything else is denied. A standing emergency
//! grant never permits a read by itself: it only lets keys reach the emergency team.

use ehrchain_types::{
    ActorRef, AgentState, Basis, BreakGlassState, Category, DenyReason, GrantState, Grantee, Mode,
    PatientId, Purpose, RecordState, Timestamp,
};

use crate::token::{AccessGrant, Decision};

/// Who asks, as resolved from committed state by the caller.
#[derive(Debug, Clone, Copy)]
pub enum Reader<'a> {
    Patient(PatientId),
    Agent(&'a AgentState),
    /// The signer is not a registered patient or agent.
    Unknown,
}

/// What is asked: a read of one record for one purpose.
#[derive(Debug, Clone, Copy)]
pub struct Request {
    pub purpose: Purpose,
}

/// The committed facts the decision needs, loaded by the caller for this request.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// The record, if it exists.
    pub record: Option<&'a RecordState>,
    /// Every grant of the record's patient (live or not; the decision checks).
    pub grants: &'a [GrantState],
    /// The reader's break-glass declaration for this patient, if any.
    pub break_glass: Option<&'a BreakGlassState>,
}

/// Decides a read at block time `at`. Every disclosure path calls this.
pub fn decide(reader: Reader<'_>, request: Request, facts: Facts<'_>, at: Timestamp) -> Decision {
    let Some(record) = facts.record.filter(|r| r.erased.is_none()) else {
        return Decision::Deny(DenyReason::NotFound);
    };
    let patient = record.anchor.patient;
    let (actor, basis) = match reader {
        Reader::Unknown => return Decision::Deny(DenyReason::UnknownReader),
        Reader::Patient(p) if p == patient => (ActorRef::Patient(p), Some(Basis::Owner)),
        Reader::Patient(p) => (ActorRef::Patient(p), None),
        Reader::Agent(agent) if !agent.is_active() => {
            return Decision::Deny(DenyReason::UnknownReader)
        }
        Reader::Agent(agent) => (
            ActorRef::Agent(agent.id),
            agent_basis(agent, record, request.purpose, Mode::Read, facts, at),
        ),
    };
    match basis {
        Some(basis) => Decision::Permit(AccessGrant::mint(
            record.anchor.record,
            patient,
            record.anchor.cid,
            actor,
            request.purpose,
            basis,
            at,
        )),
        None => Decision::Deny(DenyReason::NoGrant),
    }
}

/// Decides whether an agent may add a record of `category` for the patient whose grants and
/// break-glass are in `facts` (`facts.record` is ignored): an append grant or a break-glass.
pub fn decide_append(
    agent: &AgentState,
    category: &Category,
    purpose: Purpose,
    facts: Facts<'_>,
    at: Timestamp,
) -> Result<Basis, DenyReason> {
    if !agent.is_active() {
        return Err(DenyReason::UnknownReader);
    }
    if let Some(grant) = facts.grants.iter().find(|g| {
        g.is_live(at)
            && g.grant.mode == Mode::Append
            && g.grant.purpose == purpose
            && grantee_matches(&g.grant.grantee, agent)
            && g.grant.scope.categories.iter().any(|p| p.covers(category))
    }) {
        return Ok(Basis::Grant(grant.grant.grant));
    }
    break_glass_basis(agent, facts.break_glass, at).ok_or(DenyReason::NoGrant)
}

fn agent_basis(
    agent: &AgentState,
    record: &RecordState,
    purpose: Purpose,
    mode: Mode,
    facts: Facts<'_>,
    at: Timestamp,
) -> Option<Basis> {
    if record.author == ActorRef::Agent(agent.id) {
        return Some(Basis::Author);
    }
    // A grant for the emergency purpose is the patient's standing emergency grant: it lets keys
    // reach the emergency team, but reading under it needs a committed break-glass.
    let covering = facts.grants.iter().find(|g| {
        g.grant.purpose != Purpose::Emergency
            && g.patient == record.anchor.patient
            && g.is_live(at)
            && g.grant.mode == mode
            && g.grant.purpose == purpose
            && grantee_matches(&g.grant.grantee, agent)
            && (g.grant.scope.records.contains(&record.anchor.record)
                || g.grant
                    .scope
                    .categories
                    .iter()
                    .any(|p| p.covers(&record.anchor.category)))
    });
    if let Some(g) = covering {
        return Some(Basis::Grant(g.grant.grant));
    }
    if purpose == Purpose::Emergency {
        return break_glass_basis(agent, facts.break_glass, at);
    }
    None
}

fn break_glass_basis(
    agent: &AgentState,
    break_glass: Option<&BreakGlassState>,
    at: Timestamp,
) -> Option<Basis> {
    let bg = break_glass?;
    (bg.agent == agent.id && agent.role.may_break_glass() && bg.from <= at && at < bg.until)
        .then_some(Basis::BreakGlass { until: bg.until })
}

fn grantee_matches(grantee: &Grantee, agent: &AgentState) -> bool {
    match *grantee {
        Grantee::Agent(id) => id == agent.id,
        Grantee::Organisation(org) => org == agent.org,
        Grantee::Role { org, role } => org == agent.org && role == agent.role,
    }
}

#[cfg(test)]
mod tests;
