//! Executing a block: each verified transaction is checked against committed state and either
//! applied or rejected with a reason, deterministically. Returns the receipts, the state changes
//! to write atomically, and the roots for the header. No I/O, no clock: time is the block's.

use ehrchain_consent::{decide, decide_append, Decision, Facts, Reader, Request};
use ehrchain_crypto::{sha256, Hash, PublicKey};
use ehrchain_types::{
    ActorRef, AgentId, AgentState, AnchorRecord, AuditEntry, AuditEvent, BreakGlass,
    BreakGlassState, Canonical, Encoder, Genesis, Grant, GrantState, Grantee, Height, OrgId,
    OrganisationState, Outcome, PatientId, PatientState, Purpose, Receipt, RecordId, RecordState,
    RegisterAgent, RegisterOrganisation, RejectReason, Role, Timestamp, TxBody, VerifiedTx,
    MAX_BREAK_GLASS_SECS,
};

use crate::keys;
use crate::merkle;
use crate::state::{Overlay, StateChanges, StateError, StateRead, StateView};

/// Where a block sits: what the header will say before its roots are known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockContext {
    pub height: Height,
    pub time: Timestamp,
    pub prev_state_root: Hash,
}

/// The result of executing a block's transactions.
#[derive(Debug, Clone)]
pub struct Execution {
    pub receipts: Vec<Receipt>,
    pub changes: StateChanges,
    pub tx_root: Hash,
    pub receipts_root: Hash,
    pub state_root: Hash,
}

/// The state a genesis starts from (its validators) and that state's root.
pub fn genesis_state(genesis: &Genesis) -> (StateChanges, Hash) {
    let mut changes = StateChanges::new();
    for v in &genesis.validators {
        changes.insert(keys::validator(&v.key), Some(v.name.as_bytes().to_vec()));
    }
    let root = state_root(&genesis.chain_id(), Height(0), &changes);
    (changes, root)
}

/// Executes `txs` in order on top of `state`.
pub fn execute<S: StateRead + ?Sized>(
    state: &S,
    ctx: &BlockContext,
    txs: &[VerifiedTx],
) -> Result<Execution, StateError> {
    let mut overlay = Overlay::new(state);
    let mut receipts = Vec::with_capacity(txs.len());
    for (index, tx) in txs.iter().enumerate() {
        let index = u32::try_from(index).expect("block size is bounded");
        let outcome = apply_tx(&mut overlay, ctx, index, tx)?;
        receipts.push(Receipt {
            tx: tx.id(),
            outcome,
        });
    }
    let changes = overlay.into_changes();
    let tx_root = merkle::root(&txs.iter().map(|t| t.bytes()).collect::<Vec<_>>());
    let receipts_root = receipts_root(&receipts);
    let state_root = state_root(&ctx.prev_state_root, ctx.height, &changes);
    Ok(Execution {
        receipts,
        changes,
        tx_root,
        receipts_root,
        state_root,
    })
}

/// The Merkle root over receipts' canonical bytes.
pub fn receipts_root(receipts: &[Receipt]) -> Hash {
    merkle::root(&receipts.iter().map(|r| r.to_bytes()).collect::<Vec<_>>())
}

/// The state root after a block: the previous root chained with the Merkle root of this block's
/// sorted changes. It commits to the entire history of state writes, so two replicas with equal
/// roots hold byte-identical state.
pub fn state_root(prev: &Hash, height: Height, changes: &StateChanges) -> Hash {
    let leaves: Vec<Vec<u8>> = changes
        .iter()
        .map(|(k, v)| {
            let mut e = Encoder::with_capacity(k.len() + v.as_ref().map_or(0, Vec::len) + 9);
            e.bytes(k);
            e.option(v, |e, v| e.bytes(v));
            e.into_bytes()
        })
        .collect();
    let mut e = Encoder::with_capacity(80);
    e.fixed(b"ehrchain/state/v1");
    e.fixed(prev.as_bytes());
    e.u64(height.0);
    e.fixed(merkle::root(&leaves).as_bytes());
    sha256(&e.into_bytes())
}

type Verdict = Result<Outcome, StateError>;

fn reject(r: RejectReason) -> Verdict {
    Ok(Outcome::Rejected(r))
}

fn apply_tx<S: StateRead + ?Sized>(
    ov: &mut Overlay<'_, S>,
    ctx: &BlockContext,
    index: u32,
    tx: &VerifiedTx,
) -> Verdict {
    let tx_key = keys::tx(&tx.id());
    if ov.read(&tx_key)?.is_some() {
        return reject(RejectReason::Replay);
    }
    let mut loc = Vec::with_capacity(12);
    loc.extend_from_slice(&ctx.height.0.to_be_bytes());
    loc.extend_from_slice(&index.to_be_bytes());
    ov.put(tx_key, loc);

    let at = Audit {
        at: ctx.time,
        height: ctx.height,
        index,
        tx: tx.id(),
        item: None,
    };
    let signer = &tx.tx().signer;
    match &tx.tx().body {
        TxBody::RegisterOrganisation(b) => register_organisation(ov, ctx, signer, b),
        TxBody::RegisterAgent(b) => register_agent(ov, ctx, signer, b),
        TxBody::RevokeAgent { agent } => revoke_agent(ov, ctx, signer, agent),
        TxBody::RegisterPatient { encrypt_key } => {
            let id = PatientId::of(signer);
            if ov.patient(&id)?.is_some() {
                return reject(RejectReason::AlreadyExists);
            }
            let p = PatientState {
                id,
                sign_key: *signer,
                encrypt_key: *encrypt_key,
                registered: ctx.time,
            };
            ov.put(keys::patient(&id), p.to_bytes());
            Ok(Outcome::Applied)
        }
        TxBody::AnchorRecord(b) => anchor_record(ov, &at, signer, b),
        TxBody::AnchorBatch { anchors } => anchor_batch(ov, &at, signer, anchors),
        TxBody::Grant(g) => grant(ov, &at, signer, g),
        TxBody::Revoke { grant } => {
            let patient = PatientId::of(signer);
            let Some(mut g) = ov.grant(grant)?.filter(|g| g.patient == patient) else {
                return reject(RejectReason::UnknownGrant);
            };
            if g.revoked.is_some() {
                return reject(RejectReason::AlreadyRevoked);
            }
            g.revoked = Some(ctx.time);
            ov.put(keys::grant(grant), g.to_bytes());
            at.write(ov, &patient, AuditEvent::Revoke { grant: *grant });
            Ok(Outcome::Applied)
        }
        TxBody::BreakGlass(b) => break_glass(ov, &at, signer, b),
        TxBody::Access { record, purpose } => access(ov, &at, signer, record, *purpose),
        TxBody::EraseRequest { record } => {
            let patient = PatientId::of(signer);
            let Some(mut r) = ov.record(record)?.filter(|r| r.anchor.patient == patient) else {
                return reject(RejectReason::UnknownRecord);
            };
            if r.erased.is_some() {
                return reject(RejectReason::AlreadyErased);
            }
            r.erased = Some(ctx.time);
            ov.put(keys::record(record), r.to_bytes());
            at.write(ov, &patient, AuditEvent::EraseRequest { record: *record });
            Ok(Outcome::Applied)
        }
        TxBody::ReleaseAggregate(q) => crate::aggregate::apply(ov, &at, signer, q),
        TxBody::EraseReceipt { record } => {
            if !ov.is_validator(signer)? {
                return reject(RejectReason::UnknownSigner);
            }
            let Some(r) = ov.record(record)? else {
                return reject(RejectReason::UnknownRecord);
            };
            if r.erased.is_none() {
                return reject(RejectReason::NotErased);
            }
            let key = keys::erase_receipt(record, signer);
            if ov.read(&key)?.is_some() {
                return reject(RejectReason::AlreadyErased);
            }
            ov.put(key, Vec::new());
            at.write(
                ov,
                &r.anchor.patient,
                AuditEvent::EraseReceipt {
                    record: *record,
                    validator: *signer,
                },
            );
            Ok(Outcome::Applied)
        }
    }
}

/// Where an audit entry goes: block time, height, the transaction's index and id.
#[derive(Clone, Copy)]
pub(crate) struct Audit {
    pub(crate) at: Timestamp,
    height: Height,
    index: u32,
    pub(crate) tx: ehrchain_types::TxId,
    /// The position within a batch transaction, which writes one entry per item.
    item: Option<u32>,
}

impl Audit {
    pub(crate) fn write<S: StateRead + ?Sized>(
        &self,
        ov: &mut Overlay<'_, S>,
        patient: &PatientId,
        event: AuditEvent,
    ) {
        let entry = AuditEntry {
            at: self.at,
            height: self.height,
            tx: self.tx,
            event,
        };
        let key = match self.item {
            None => keys::audit(patient, self.height, self.index),
            Some(item) => keys::audit_item(patient, self.height, self.index, item),
        };
        ov.put(key, entry.to_bytes());
    }
}

fn register_organisation<S: StateRead + ?Sized>(
    ov: &mut Overlay<'_, S>,
    ctx: &BlockContext,
    signer: &PublicKey,
    b: &RegisterOrganisation,
) -> Verdict {
    if !ov.is_validator(signer)? {
        return reject(RejectReason::NotAuthorised);
    }
    let id = OrgId::of(&b.sign_key);
    if ov.organisation(&id)?.is_some() {
        return reject(RejectReason::AlreadyExists);
    }
    let org = OrganisationState {
        id,
        name: b.name.clone(),
        kind: b.kind,
        sign_key: b.sign_key,
        encrypt_key: b.encrypt_key,
        registered: ctx.time,
    };
    ov.put(keys::organisation(&id), org.to_bytes());
    Ok(Outcome::Applied)
}

/// True if `signer` may administer `org`: the organisation's own key or an active org admin.
fn administers<S: StateRead + ?Sized>(
    ov: &Overlay<'_, S>,
    signer: &PublicKey,
    org: &OrgId,
) -> Result<bool, StateError> {
    if OrgId::of(signer) == *org {
        return Ok(true);
    }
    Ok(ov
        .agent(&AgentId::of(signer))?
        .is_some_and(|a| a.is_active() && a.role == Role::OrgAdmin && a.org == *org))
}

fn register_agent<S: StateRead + ?Sized>(
    ov: &mut Overlay<'_, S>,
    ctx: &BlockContext,
    signer: &PublicKey,
    b: &RegisterAgent,
) -> Verdict {
    if ov.organisation(&b.org)?.is_none() {
        return reject(RejectReason::UnknownOrganisation);
    }
    if !administers(ov, signer, &b.org)? {
        return reject(RejectReason::NotAuthorised);
    }
    let id = AgentId::of(&b.sign_key);
    if ov.agent(&id)?.is_some() {
        return reject(RejectReason::AlreadyExists);
    }
    let agent = AgentState {
        id,
        org: b.org,
        role: b.role,
        name: b.name.clone(),
        licence: b.licence.clone(),
        sign_key: b.sign_key,
        encrypt_key: b.encrypt_key,
        registered: ctx.time,
        revoked: None,
    };
    ov.put(keys::agent(&id), agent.to_bytes());
    Ok(Outcome::Applied)
}

fn revoke_agent<S: StateRead + ?Sized>(
    ov: &mut Overlay<'_, S>,
    ctx: &BlockContext,
    signer: &PublicKey,
    agent: &AgentId,
) -> Verdict {
    let Some(mut a) = ov.agent(agent)? else {
        return reject(RejectReason::UnknownAgent);
    };
    if !administers(ov, signer, &a.org)? {
        return reject(RejectReason::NotAuthorised);
    }
    if a.revoked.is_some() {
        return reject(RejectReason::AlreadyRevoked);
    }
    a.revoked = Some(ctx.time);
    ov.put(keys::agent(agent), a.to_bytes());
    Ok(Outcome::Applied)
}

fn anchor_record<S: StateRead + ?Sized>(
    ov: &mut Overlay<'_, S>,
    at: &Audit,
    signer: &PublicKey,
    b: &AnchorRecord,
) -> Verdict {
    let author = match check_anchor(ov, at, signer, b)? {
        Ok(author) => author,
        Err(r) => return reject(r),
    };
    write_anchor(ov, at, author, b)
}

/// A batch is all or none: every anchor is checked before any is written. No batch may
/// correct a record (`supersedes`), or name a record twice.
fn anchor_batch<S: StateRead + ?Sized>(
    ov: &mut Overlay<'_, S>,
    at: &Audit,
    signer: &PublicKey,
    anchors: &[AnchorRecord],
) -> Verdict {
    if anchors.is_empty() {
        return reject(RejectReason::EmptyScope);
    }
    if anchors.iter().any(|a| a.supersedes.is_some()) {
        return reject(RejectReason::SupersedeMismatch);
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut authors = Vec::with_capacity(anchors.len());
    for a in anchors {
        if !seen.insert(a.record) {
            return reject(RejectReason::AlreadyExists);
        }
        match check_anchor(ov, at, signer, a)? {
            Ok(author) => authors.push(author),
            Err(r) => return reject(r),
        }
    }
    for (item, (a, author)) in anchors.iter().zip(authors).enumerate() {
        // One audit entry per anchored record, each under its own key.
        let at = Audit {
            item: Some(item as u32),
            ..*at
        };
        write_anchor(ov, &at, author, a)?;
    }
    Ok(Outcome::Applied)
}

/// Who may anchor `b`: the patient, or an agent under an append grant or a break-glass.
fn check_anchor<S: StateRead + ?Sized>(
    ov: &mut Overlay<'_, S>,
    at: &Audit,
    signer: &PublicKey,
    b: &AnchorRecord,
) -> Result<Result<ActorRef, RejectReason>, StateError> {
    if ov.patient(&b.patient)?.is_none() {
        return Ok(Err(RejectReason::UnknownPatient));
    }
    if ov.record(&b.record)?.is_some() {
        return Ok(Err(RejectReason::AlreadyExists));
    }
    let author = if PatientId::of(signer) == b.patient {
        ActorRef::Patient(b.patient)
    } else {
        let Some(agent) = ov.agent(&AgentId::of(signer))? else {
            return Ok(Err(RejectReason::UnknownSigner));
        };
        let grants = ov.grants_of(&b.patient)?;
        let bg = ov.break_glass(&agent.id, &b.patient)?;
        let facts = Facts {
            record: None,
            grants: &grants,
            break_glass: bg.as_ref(),
        };
        // An agent writes for treatment under an append grant, or in an emergency.
        let allowed = decide_append(&agent, &b.category, Purpose::Treatment, facts, at.at)
            .or_else(|_| decide_append(&agent, &b.category, Purpose::Emergency, facts, at.at));
        if allowed.is_err() {
            return Ok(Err(RejectReason::NotAuthorised));
        }
        ActorRef::Agent(agent.id)
    };
    if let Some(old_id) = &b.supersedes {
        let Some(old) = ov.record(old_id)? else {
            return Ok(Err(RejectReason::UnknownRecord));
        };
        if old.anchor.patient != b.patient || old.superseded_by.is_some() {
            return Ok(Err(RejectReason::SupersedeMismatch));
        }
    }
    Ok(Ok(author))
}

fn write_anchor<S: StateRead + ?Sized>(
    ov: &mut Overlay<'_, S>,
    at: &Audit,
    author: ActorRef,
    b: &AnchorRecord,
) -> Verdict {
    if let Some(old_id) = &b.supersedes {
        let mut old = ov.record(old_id)?.expect("checked by check_anchor");
        old.superseded_by = Some(b.record);
        ov.put(keys::record(old_id), old.to_bytes());
    }
    let record = RecordState {
        anchor: b.clone(),
        author,
        anchored: at.at,
        height: at.height,
        superseded_by: None,
        erased: None,
    };
    ov.put(keys::record(&b.record), record.to_bytes());
    ov.put(keys::patient_record(&b.patient, &b.record), Vec::new());
    at.write(
        ov,
        &b.patient,
        AuditEvent::Anchor {
            record: b.record,
            author,
        },
    );
    Ok(Outcome::Applied)
}

fn grant<S: StateRead + ?Sized>(
    ov: &mut Overlay<'_, S>,
    at: &Audit,
    signer: &PublicKey,
    g: &Grant,
) -> Verdict {
    let patient = PatientId::of(signer);
    if ov.patient(&patient)?.is_none() {
        return reject(RejectReason::UnknownSigner);
    }
    if ov.grant(&g.grant)?.is_some() {
        return reject(RejectReason::AlreadyExists);
    }
    if g.expires <= g.not_before || g.expires <= at.at {
        return reject(RejectReason::BadTimeWindow);
    }
    if g.scope.categories.is_empty() && g.scope.records.is_empty() {
        return reject(RejectReason::EmptyScope);
    }
    match g.grantee {
        Grantee::Agent(a) => {
            if ov.agent(&a)?.is_none_or(|a| !a.is_active()) {
                return reject(RejectReason::UnknownAgent);
            }
        }
        Grantee::Organisation(o) | Grantee::Role { org: o, .. } => {
            if ov.organisation(&o)?.is_none() {
                return reject(RejectReason::UnknownOrganisation);
            }
        }
    }
    let state = GrantState {
        patient,
        grant: g.clone(),
        granted: at.at,
        revoked: None,
    };
    ov.put(keys::grant(&g.grant), state.to_bytes());
    ov.put(keys::patient_grant(&patient, &g.grant), Vec::new());
    at.write(ov, &patient, AuditEvent::Grant { grant: g.grant });
    Ok(Outcome::Applied)
}

fn break_glass<S: StateRead + ?Sized>(
    ov: &mut Overlay<'_, S>,
    at: &Audit,
    signer: &PublicKey,
    b: &BreakGlass,
) -> Verdict {
    let Some(agent) = ov
        .agent(&AgentId::of(signer))?
        .filter(AgentState::is_active)
    else {
        return reject(RejectReason::UnknownSigner);
    };
    if !agent.role.may_break_glass() {
        return reject(RejectReason::NotAuthorised);
    }
    if ov.patient(&b.patient)?.is_none() {
        return reject(RejectReason::UnknownPatient);
    }
    if b.duration_secs == 0 || b.duration_secs > MAX_BREAK_GLASS_SECS {
        return reject(RejectReason::BadDuration);
    }
    let until = at.at.plus_secs(u64::from(b.duration_secs));
    let state = BreakGlassState {
        agent: agent.id,
        patient: b.patient,
        reason: b.reason.clone(),
        from: at.at,
        until,
    };
    ov.put(keys::break_glass(&agent.id, &b.patient), state.to_bytes());
    at.write(
        ov,
        &b.patient,
        AuditEvent::BreakGlass {
            agent: agent.id,
            reason: b.reason.clone(),
            until,
        },
    );
    Ok(Outcome::Applied)
}

/// Resolves who signed: a registered patient, or a registered agent (active or not).
pub fn resolve_reader<S: StateRead + ?Sized>(
    state: &S,
    signer: &PublicKey,
) -> Result<ResolvedReader, StateError> {
    let pid = PatientId::of(signer);
    if state.patient(&pid)?.is_some() {
        return Ok(ResolvedReader::Patient(pid));
    }
    Ok(match state.agent(&AgentId::of(signer))? {
        Some(a) => ResolvedReader::Agent(Box::new(a)),
        None => ResolvedReader::Unknown,
    })
}

/// An owned [`Reader`].
#[derive(Debug, Clone)]
pub enum ResolvedReader {
    Patient(PatientId),
    Agent(Box<AgentState>),
    Unknown,
}

impl ResolvedReader {
    pub fn as_reader(&self) -> Reader<'_> {
        match self {
            ResolvedReader::Patient(p) => Reader::Patient(*p),
            ResolvedReader::Agent(a) => Reader::Agent(a),
            ResolvedReader::Unknown => Reader::Unknown,
        }
    }

    pub fn actor(&self, signer: &PublicKey) -> ActorRef {
        match self {
            ResolvedReader::Patient(p) => ActorRef::Patient(*p),
            ResolvedReader::Agent(a) => ActorRef::Agent(a.id),
            ResolvedReader::Unknown => ActorRef::Key(*signer),
        }
    }
}

/// The consent decision for `signer` reading `record` for `purpose` at `at`, over committed
/// state. The ledger and the node's release path both call this, so they cannot disagree.
pub fn decide_read<S: StateRead + ?Sized>(
    state: &S,
    signer: &PublicKey,
    record: &RecordId,
    purpose: Purpose,
    at: Timestamp,
) -> Result<(Decision, Option<RecordState>, ResolvedReader), StateError> {
    let reader = resolve_reader(state, signer)?;
    let rec = state.record(record)?;
    let (grants, bg) = match (&rec, &reader) {
        (Some(r), ResolvedReader::Agent(a)) => (
            state.grants_of(&r.anchor.patient)?,
            state.break_glass(&a.id, &r.anchor.patient)?,
        ),
        _ => (Vec::new(), None),
    };
    let facts = Facts {
        record: rec.as_ref(),
        grants: &grants,
        break_glass: bg.as_ref(),
    };
    let decision = decide(reader.as_reader(), Request { purpose }, facts, at);
    Ok((decision, rec, reader))
}

fn access<S: StateRead + ?Sized>(
    ov: &mut Overlay<'_, S>,
    at: &Audit,
    signer: &PublicKey,
    record: &RecordId,
    purpose: Purpose,
) -> Verdict {
    let (decision, rec, reader) = decide_read(ov, signer, record, purpose, at.at)?;
    let outcome = match decision {
        Decision::Permit(g) => Outcome::Permitted(g.basis()),
        Decision::Deny(r) => Outcome::Denied(r),
    };
    if let Some(rec) = rec {
        at.write(
            ov,
            &rec.anchor.patient,
            AuditEvent::Access {
                reader: reader.actor(signer),
                record: *record,
                purpose,
                outcome,
            },
        );
    }
    Ok(outcome)
}
