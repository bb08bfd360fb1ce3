//! The operations clients use beyond submitting transactions: store ciphertext and envelopes,
//! read a record (the access event is committed first, the decision is made again on committed
//! state, and only then are envelope and ciphertext released), personas, organisations.

use std::collections::BTreeSet;

use bytes::Bytes;
use ehrchain_blob::{BlobStream, Stored};
use ehrchain_consent::Decision;
use ehrchain_crypto::{envelope, EncryptionKey, Envelope, Identity, PublicKey};
use ehrchain_ledger::{decide_read, StateView};
use ehrchain_store::{EnvelopeEntry, Snapshot};
use ehrchain_types::{
    ActorRef, AgentId, Basis, Grantee, Mode, OrgId, OrgKind, OrganisationState, Outcome, PatientId,
    RecordId, RecordState, RegisterAgent, RegisterOrganisation, Role, SignedTx, Timestamp, Tx,
    TxBody,
};
use futures::Stream;
use rand::rngs::OsRng;
use rand::RngCore;

use crate::error::{NodeError, ReadError, SubmitError};
use crate::node::{Committed, Node};
use crate::persona::{name_index, national_id_index, Persona};

/// An envelope a client uploads: the data key of a record sealed to one recipient.
#[derive(Debug, Clone)]
pub struct EnvelopeUpload {
    pub recipient: EncryptionKey,
    pub sealed: Vec<u8>,
}

/// What a permitted read releases: the envelope now, the ciphertext on demand.
pub struct Release {
    pub record: RecordState,
    pub committed: Committed,
    pub basis: Basis,
    /// The record's data key sealed to the reader's encryption key.
    pub envelope: Vec<u8>,
    grant: ehrchain_consent::AccessGrant,
    blobs: ehrchain_blob::BlobStore,
}

impl Release {
    /// Opens the record's ciphertext with the read's consent token.
    pub async fn ciphertext(&self) -> Result<BlobStream, ReadError> {
        Ok(self.blobs.open(&self.grant).await?)
    }
}

impl Node {
    /// Stores a ciphertext, computing its CID as it streams (constant memory).
    pub async fn put_blob(
        &self,
        data: impl Stream<Item = Result<Bytes, std::io::Error>> + Send,
    ) -> Result<Stored, NodeError> {
        Ok(self
            .inner
            .blobs
            .put(data, self.inner.config.max_blob_bytes)
            .await?)
    }

    /// Stores envelopes for `record`, uploaded by `uploader` (authenticated by the caller). Only
    /// the record's patient or author may upload, and only to recipients entitled to the record.
    pub fn put_envelopes(
        &self,
        uploader: &PublicKey,
        record: &RecordId,
        uploads: &[EnvelopeUpload],
    ) -> Result<(), EnvelopeError> {
        let snapshot = self.snapshot()?;
        let Some(rec) = snapshot.record(record)?.filter(|r| r.erased.is_none()) else {
            return Err(EnvelopeError::NotAllowed);
        };
        let is_patient = PatientId::of(uploader) == rec.anchor.patient;
        let is_author = rec.author == ActorRef::Agent(AgentId::of(uploader));
        if !is_patient && !is_author {
            return Err(EnvelopeError::NotAllowed);
        }
        let now = self.tip()?.map_or(self.genesis().time, |h| h.time);
        let entitled = self.entitled_recipients(&snapshot, &rec, now)?;
        let mut entries = Vec::with_capacity(uploads.len());
        for u in uploads {
            if !entitled.contains(&u.recipient) {
                return Err(EnvelopeError::NotEntitled(u.recipient));
            }
            Envelope::from_bytes(&u.sealed).map_err(|_| EnvelopeError::Malformed)?;
            entries.push(EnvelopeEntry {
                recipient: u.recipient,
                sealed: u.sealed.clone(),
            });
        }
        self.inner.store.put_envelopes(record, &entries)?;
        Ok(())
    }

    /// The keys that may hold an envelope of `rec` at `at`: the patient, the author, and the
    /// grantees (agents' keys; organisations' keys for organisation and role grants) of live
    /// read grants covering it.
    pub fn entitled_recipients(
        &self,
        snapshot: &Snapshot,
        rec: &RecordState,
        at: Timestamp,
    ) -> Result<BTreeSet<EncryptionKey>, NodeError> {
        let mut keys = BTreeSet::new();
        if let Some(p) = snapshot.patient(&rec.anchor.patient)? {
            keys.insert(p.encrypt_key);
        }
        if let ActorRef::Agent(a) = rec.author {
            if let Some(a) = snapshot.agent(&a)? {
                keys.insert(a.encrypt_key);
            }
        }
        for g in snapshot.grants_of(&rec.anchor.patient)? {
            let covers = g.grant.scope.records.contains(&rec.anchor.record)
                || g.grant
                    .scope
                    .categories
                    .iter()
                    .any(|c| c.covers(&rec.anchor.category));
            if !(g.is_live(at) && g.grant.mode == Mode::Read && covers) {
                continue;
            }
            match g.grant.grantee {
                Grantee::Agent(a) => {
                    if let Some(a) = snapshot.agent(&a)? {
                        keys.insert(a.encrypt_key);
                    }
                }
                Grantee::Organisation(o) | Grantee::Role { org: o, .. } => {
                    if let Some(o) = snapshot.organisation(&o)? {
                        keys.insert(o.encrypt_key);
                    }
                }
            }
        }
        Ok(keys)
    }

    /// Reads a record: commits the signed access event (permitted or denied), decides again on
    /// committed state, and releases the envelope and ciphertext only on a permit.
    pub async fn read(&self, access: SignedTx) -> Result<Release, ReadError> {
        let TxBody::Access { record, purpose } = access.tx.body else {
            return Err(ReadError::NotAccess);
        };
        let signer = access.tx.signer;
        let committed = self.submit(access).await?;
        match committed.outcome {
            Outcome::Permitted(_) => {}
            Outcome::Denied(r) => return Err(ReadError::Denied(r)),
            Outcome::Rejected(r) => return Err(ReadError::Rejected(r)),
            Outcome::Applied => return Err(ReadError::NotAccess),
        }
        let snapshot = self.snapshot().map_err(|e| match e {
            NodeError::Store(s) => ReadError::Store(s),
            other => ReadError::Damaged(other.to_string()),
        })?;
        let (decision, rec, reader) =
            decide_read(&snapshot, &signer, &record, purpose, committed.time)?;
        let grant = match decision {
            Decision::Permit(g) => g,
            Decision::Deny(r) => return Err(ReadError::Denied(r)),
        };
        let rec = rec.expect("a permit names an existing record");
        if self.is_quarantined(grant.cid()) {
            return Err(ReadError::Damaged(grant.cid().to_string()));
        }
        let reader_key = match &reader {
            ehrchain_ledger::ResolvedReader::Patient(p) => {
                snapshot.patient(p)?.map(|p| p.encrypt_key)
            }
            ehrchain_ledger::ResolvedReader::Agent(a) => Some(a.encrypt_key),
            ehrchain_ledger::ResolvedReader::Unknown => None,
        }
        .ok_or(ReadError::NoEnvelope)?;
        let envelope = match self.inner.store.release_envelope(&grant, &reader_key)? {
            Some(e) => e,
            None => {
                // Organisation and role grants, and break-glass under the patient's standing
                // emergency grant, seal to the organisation: this node re-seals for its staff.
                let ehrchain_ledger::ResolvedReader::Agent(agent) = &reader else {
                    return Err(ReadError::NoEnvelope);
                };
                self.reseal_from_org(&grant, agent.org, &reader_key, &snapshot)?
                    .ok_or(ReadError::NoEnvelope)?
            }
        };
        Ok(Release {
            record: rec,
            committed,
            basis: grant.basis(),
            envelope,
            grant,
            blobs: self.inner.blobs.clone(),
        })
    }

    fn reseal_from_org(
        &self,
        grant: &ehrchain_consent::AccessGrant,
        org: OrgId,
        reader_key: &EncryptionKey,
        snapshot: &Snapshot,
    ) -> Result<Option<Vec<u8>>, ReadError> {
        let keys = self.inner.keys.read().expect("keys lock");
        let Some(org_identity) = keys.orgs.get(&org) else {
            return Ok(None);
        };
        let Some(org_state) = snapshot.organisation(&org)? else {
            return Ok(None);
        };
        let Some(sealed) = self
            .inner
            .store
            .release_envelope(grant, &org_state.encrypt_key)?
        else {
            return Ok(None);
        };
        let context = grant.record();
        let Ok(env) = Envelope::from_bytes(&sealed) else {
            return Ok(None);
        };
        let Ok(data_key) = envelope::open(org_identity.decryption(), context.as_bytes(), &env)
        else {
            return Ok(None);
        };
        let resealed = envelope::seal(&mut OsRng, reader_key, context.as_bytes(), &data_key)
            .map_err(|e| ReadError::Damaged(e.to_string()))?;
        Ok(Some(resealed.to_bytes()))
    }

    /// Creates an organisation hosted by this node: generates its keys, keeps them sealed in the
    /// keystore, and registers it (signed by this node's validator key).
    pub async fn create_organisation(
        &self,
        name: &str,
        kind: OrgKind,
    ) -> Result<(OrganisationState, Committed), NodeError> {
        let identity = Identity::generate(&mut OsRng);
        let public = identity.public();
        let org = OrgId::of(&public.sign);
        self.inner.keystore.save_org(&org, &identity)?;
        self.inner
            .keys
            .write()
            .expect("keys lock")
            .orgs
            .insert(org, identity);
        let body = TxBody::RegisterOrganisation(RegisterOrganisation {
            name: name.to_owned(),
            kind,
            sign_key: public.sign,
            encrypt_key: public.encrypt,
        });
        let committed = self.sign_and_submit(None, body).await?;
        let state = self.snapshot()?.organisation(&org)?.ok_or_else(|| {
            NodeError::Invalid(format!(
                "organisation not registered: {:?}",
                committed.outcome
            ))
        })?;
        Ok((state, committed))
    }

    /// Registers a staff member of an organisation this node hosts, signed with its key.
    pub async fn register_agent_for(
        &self,
        org: OrgId,
        role: Role,
        name: &str,
        licence: &str,
        sign_key: PublicKey,
        encrypt_key: EncryptionKey,
    ) -> Result<Committed, NodeError> {
        let body = TxBody::RegisterAgent(RegisterAgent {
            org,
            role,
            name: name.to_owned(),
            licence: licence.to_owned(),
            sign_key,
            encrypt_key,
        });
        self.sign_and_submit(Some(org), body).await
    }

    /// Organisations whose keys this node holds.
    pub fn hosted_organisations(&self) -> Vec<OrgId> {
        let keys = self.inner.keys.read().expect("keys lock");
        let mut orgs: Vec<OrgId> = keys.orgs.keys().copied().collect();
        orgs.sort();
        orgs
    }

    async fn sign_and_submit(
        &self,
        org: Option<OrgId>,
        body: TxBody,
    ) -> Result<Committed, NodeError> {
        let key = {
            let keys = self.inner.keys.read().expect("keys lock");
            match org {
                None => keys.validator.signing().clone(),
                Some(o) => keys
                    .orgs
                    .get(&o)
                    .ok_or_else(|| {
                        NodeError::Invalid(format!("organisation {o} is not hosted here"))
                    })?
                    .signing()
                    .clone(),
            }
        };
        let tx = Tx {
            signer: key.public(),
            nonce: OsRng.next_u64(),
            body,
        }
        .sign(&key);
        self.submit(tx)
            .await
            .map_err(|e: SubmitError| NodeError::Invalid(e.to_string()))
    }

    /// Stores a patient's identifying data, sealed, with its blind indexes. `registrar` must be
    /// an active agent (the front desk).
    pub fn put_persona(
        &self,
        registrar: &PublicKey,
        patient: &PatientId,
        persona: &Persona,
    ) -> Result<(), EnvelopeError> {
        let snapshot = self.snapshot()?;
        let is_agent = snapshot
            .agent(&AgentId::of(registrar))?
            .is_some_and(|a| a.is_active());
        if !is_agent || snapshot.patient(patient)?.is_none() {
            return Err(EnvelopeError::NotAllowed);
        }
        if !crate::persona::check(persona) {
            return Err(EnvelopeError::Malformed);
        }
        let keys = self.inner.keys.read().expect("keys lock");
        let plain = ehrchain_types::Canonical::to_bytes(persona);
        let sealed = ehrchain_crypto::small::seal_value(
            &keys.persona,
            &mut OsRng,
            patient.as_bytes(),
            &plain,
        );
        let indexes = persona.blind_indexes(&keys.persona);
        self.inner.store.put_persona(patient, &sealed, &indexes)?;
        Ok(())
    }

    /// Finds patients by national id, or by name and birth date. `requester` must be an active
    /// agent.
    pub fn find_persona(
        &self,
        requester: &PublicKey,
        national_id: Option<&str>,
        name_birth: Option<(&str, &str)>,
    ) -> Result<Vec<PatientId>, EnvelopeError> {
        let snapshot = self.snapshot()?;
        if !snapshot
            .agent(&AgentId::of(requester))?
            .is_some_and(|a| a.is_active())
        {
            return Err(EnvelopeError::NotAllowed);
        }
        let keys = self.inner.keys.read().expect("keys lock");
        let index = match (national_id, name_birth) {
            (Some(id), _) => national_id_index(&keys.persona, id),
            (None, Some((n, b))) => name_index(&keys.persona, n, b),
            (None, None) => return Ok(Vec::new()),
        };
        Ok(self.inner.store.find_persona(&index)?)
    }

    /// Opens a patient's persona for the patient or an active agent.
    pub fn persona(
        &self,
        requester: &PublicKey,
        patient: &PatientId,
    ) -> Result<Option<Persona>, EnvelopeError> {
        let snapshot = self.snapshot()?;
        let allowed = PatientId::of(requester) == *patient
            || snapshot
                .agent(&AgentId::of(requester))?
                .is_some_and(|a| a.is_active());
        if !allowed {
            return Err(EnvelopeError::NotAllowed);
        }
        self.open_persona(patient)
    }

    /// The patient's persona as this node holds it, unsealed; the caller has decided that it
    /// may be used.
    pub(crate) fn open_persona(
        &self,
        patient: &PatientId,
    ) -> Result<Option<Persona>, EnvelopeError> {
        let Some(sealed) = self.inner.store.persona(patient)? else {
            return Ok(None);
        };
        let keys = self.inner.keys.read().expect("keys lock");
        let plain = ehrchain_crypto::small::open_value(&keys.persona, patient.as_bytes(), &sealed)
            .map_err(|_| EnvelopeError::Malformed)?;
        <Persona as ehrchain_types::Canonical>::from_bytes(plain.expose())
            .map(Some)
            .map_err(|_| EnvelopeError::Malformed)
    }
}

/// Why envelopes or a persona were not stored or released.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error("not allowed")]
    NotAllowed,
    #[error(
        "recipient {0} is not entitled to this record (not the patient, author, or a live grantee)"
    )]
    NotEntitled(EncryptionKey),
    #[error("malformed envelope or persona")]
    Malformed,
    #[error(transparent)]
    Node(#[from] NodeError),
    #[error(transparent)]
    Store(#[from] ehrchain_store::StoreError),
    #[error(transparent)]
    State(#[from] ehrchain_ledger::StateError),
}
