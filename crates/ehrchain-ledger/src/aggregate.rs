//! Population counts on the ledger: who may release them, the privacy budget each release is
//! charged to, which patients a release may count (fixed by the ledger, and written into each
//! of their audit trails), and which of their records (through the one consent decision).

use std::collections::BTreeSet;

use ehrchain_consent::{decide, AccessGrant, Decision, Facts, Request};
use ehrchain_crypto::PublicKey;
use ehrchain_types::{
    AgentId, AgentState, AggregateQuery, AuditEvent, Canonical, Category, GrantState, Grantee,
    Mode, Outcome, PatientId, Purpose, RejectReason, Role, Timestamp, TxId,
    MAX_RELEASE_EPSILON_MILLI, PRIVACY_BUDGET_MILLI,
};

use crate::execute::{resolve_reader, Audit, ResolvedReader};
use crate::keys;
use crate::state::{Overlay, StateError, StateRead, StateView, MAX_SCAN};

/// Applies a `ReleaseAggregate`: an active public-health officer or researcher, for the
/// purpose of public health or research, within the per-release epsilon and the budget left.
/// Fixes the cohort (see [`cohort`]) under the transaction's id and tells each of its patients,
/// in their audit trail, that they were counted.
pub(crate) fn apply<S: StateRead + ?Sized>(
    ov: &mut Overlay<'_, S>,
    at: &Audit,
    signer: &PublicKey,
    query: &AggregateQuery,
) -> Result<Outcome, StateError> {
    let rejected = |r| Ok(Outcome::Rejected(r));
    let id = AgentId::of(signer);
    let Some(agent) = ov.agent(&id)?.filter(|a| a.is_active()) else {
        return rejected(RejectReason::UnknownSigner);
    };
    let allowed = matches!(agent.role, Role::PublicHealthOfficer | Role::Researcher)
        && matches!(query.purpose, Purpose::PublicHealth | Purpose::Research);
    if !allowed {
        return rejected(RejectReason::NotAuthorised);
    }
    if query.epsilon_milli == 0 || query.epsilon_milli > MAX_RELEASE_EPSILON_MILLI {
        return rejected(RejectReason::BadEpsilon);
    }
    let spent = privacy_spent(ov, &id)? + u64::from(query.epsilon_milli);
    if spent > PRIVACY_BUDGET_MILLI {
        return rejected(RejectReason::PrivacyBudgetExhausted);
    }
    ov.put(keys::privacy_spent(&id), spent.to_be_bytes().to_vec());
    let patients = cohort(ov, &agent, query.purpose, at.at)?;
    let mut fixed = Vec::with_capacity(patients.len() * 16);
    for p in &patients {
        fixed.extend_from_slice(p.as_bytes());
        let event = AuditEvent::Counted {
            requester: id,
            purpose: query.purpose,
        };
        at.write(ov, p, event);
    }
    ov.put(keys::release_cohort(&at.tx), fixed);
    Ok(Outcome::Applied)
}

/// The patients a release by `agent` for `purpose` at `at` may count: those with a live read
/// grant for that purpose, covering conditions, to the agent's organisation (or to the agent's
/// role there).
///
/// Grants to an individual agent let that agent read, not count: their envelopes are sealed to
/// the agent's own key, which the organisation's node does not hold, and an aggregate that
/// silently dropped those patients would be biased.
pub fn cohort<S: StateRead + ?Sized>(
    state: &S,
    agent: &AgentState,
    purpose: Purpose,
    at: Timestamp,
) -> Result<BTreeSet<PatientId>, StateError> {
    let condition = Category::new("Condition").expect("a valid category");
    let mut out = BTreeSet::new();
    for (_, v) in state.scan(&[keys::GRANT], MAX_SCAN)? {
        let g = GrantState::from_trusted_bytes(&v)
            .map_err(|e| StateError(format!("corrupt grant: {e}")))?;
        let to_org = match g.grant.grantee {
            Grantee::Organisation(o) => o == agent.org,
            Grantee::Role { org, role } => org == agent.org && role == agent.role,
            Grantee::Agent(_) => false,
        };
        // `*`, `Condition`, or one kind of condition (`Condition/encounter-diagnosis`).
        let covers = g
            .grant
            .scope
            .categories
            .iter()
            .any(|c| c.covers(&condition) || c.as_str().starts_with("Condition/"));
        let live = g.grant.purpose == purpose && g.grant.mode == Mode::Read && g.is_live(at);
        if to_org && covers && live {
            out.insert(g.patient);
        }
    }
    Ok(out)
}

/// The cohort the ledger fixed for the release `tx` (empty if there is none).
pub fn release_cohort<S: StateRead + ?Sized>(
    state: &S,
    tx: &TxId,
) -> Result<Vec<PatientId>, StateError> {
    let Some(v) = state.read(&keys::release_cohort(tx))? else {
        return Ok(Vec::new());
    };
    if v.len() % 16 != 0 {
        return Err(StateError("corrupt release cohort".into()));
    }
    Ok(v.chunks_exact(16)
        .map(|c| PatientId::from_bytes(c.try_into().expect("16-byte chunks")))
        .collect())
}

/// The epsilon (in thousandths) `agent` has spent on releases so far.
pub fn privacy_spent<S: StateRead + ?Sized>(state: &S, agent: &AgentId) -> Result<u64, StateError> {
    match state.read(&keys::privacy_spent(agent))? {
        None => Ok(0),
        Some(v) => v
            .try_into()
            .map(u64::from_be_bytes)
            .map_err(|_| StateError("corrupt privacy budget entry".into())),
    }
}

/// What the release `tx` by `signer` for `purpose`, committed at `at`, may count: each patient
/// of the cohort the ledger fixed for it, with the consent decision's tokens for their
/// Condition records at that time.
pub fn aggregate_sources<S: StateRead + ?Sized>(
    state: &S,
    tx: &TxId,
    signer: &PublicKey,
    purpose: Purpose,
    at: Timestamp,
) -> Result<Vec<(PatientId, Vec<AccessGrant>)>, StateError> {
    let reader = resolve_reader(state, signer)?;
    if !matches!(reader, ResolvedReader::Agent(_)) {
        return Ok(Vec::new());
    }
    let patients = release_cohort(state, tx)?;
    let mut out = Vec::with_capacity(patients.len());
    for patient in patients {
        let grants = state.grants_of(&patient)?;
        let mut tokens = Vec::new();
        for rec in state.records_of(&patient)? {
            if rec.anchor.category.resource_type() != "Condition" {
                continue;
            }
            let facts = Facts {
                record: Some(&rec),
                grants: &grants,
                break_glass: None,
            };
            if let Decision::Permit(t) = decide(reader.as_reader(), Request { purpose }, facts, at)
            {
                tokens.push(t);
            }
        }
        out.push((patient, tokens));
    }
    Ok(out)
}
