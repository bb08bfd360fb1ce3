//! Population counts. A public-health officer's or researcher's signed `ReleaseAggregate` is
//! committed first: the ledger checks the role, the purpose and the requester's privacy budget,
//! and records the release. Only then does this node count, on committed state at that block's
//! time, over the Condition records that the consent decision lets the requester's organisation
//! use, opening them with the organisation's key, and it hands back noisy, suppressed cells only.

use ehrchain_consent::AccessGrant;
use ehrchain_crypto::{envelope, DecryptionKey, Envelope};
use ehrchain_fhir::population::{self, PatientFacts, Release};
use ehrchain_ledger::StateView;
use ehrchain_types::{AgentId, Outcome, RejectReason, SignedTx, TxBody};
use futures::StreamExt;
use rand::rngs::OsRng;
use rand::RngCore;
use zeroize::Zeroizing;

use crate::error::{NodeError, SubmitError};
use crate::node::{Committed, Node};

/// The largest Condition record a count reads; larger ones are skipped (a Condition resource
/// is a few kilobytes).
pub const MAX_CONDITION_BYTES: usize = 1 << 20;

/// What a committed release hands back.
#[derive(Debug)]
pub struct AggregateRelease {
    pub committed: Committed,
    pub release: Release,
    /// The requester's privacy budget spent so far, this release included, in thousandths of
    /// epsilon, and the whole budget.
    pub spent_milli: u64,
    pub budget_milli: u64,
    /// Cells whose noisy count fell below this were suppressed.
    pub suppress_below: u64,
}

/// Why no counts were released.
#[derive(Debug, thiserror::Error)]
pub enum AggregateError {
    #[error(transparent)]
    Submit(#[from] SubmitError),
    #[error("the transaction is not a release of population counts")]
    NotAggregate,
    #[error(
        "the requester's organisation is not hosted on this node, which therefore holds none of \
         its keys; ask the organisation's own node"
    )]
    NotHosted,
    #[error("release refused by the ledger: {}", .0.code())]
    Rejected(RejectReason),
    #[error(transparent)]
    Node(#[from] NodeError),
    #[error(transparent)]
    Store(#[from] ehrchain_store::StoreError),
    #[error(transparent)]
    State(#[from] ehrchain_ledger::StateError),
    #[error(transparent)]
    Blob(#[from] ehrchain_blob::BlobError),
    #[error(transparent)]
    Persona(#[from] crate::flows::EnvelopeError),
}

impl Node {
    /// Commits a signed `ReleaseAggregate` and, once the ledger applied it, computes the
    /// release it describes.
    pub async fn aggregate(&self, tx: SignedTx) -> Result<AggregateRelease, AggregateError> {
        let TxBody::ReleaseAggregate(query) = &tx.tx.body else {
            return Err(AggregateError::NotAggregate);
        };
        let query = query.clone();
        let signer = tx.tx.signer;
        let requester = AgentId::of(&signer);
        // Refuse before any budget is spent if this node cannot open the organisation's keys.
        // An unknown requester is left to the ledger, which rejects it with a receipt.
        if let Some(agent) = self.snapshot()?.agent(&requester)? {
            if !self.hosted_organisations().contains(&agent.org) {
                return Err(AggregateError::NotHosted);
            }
        }
        let committed = self.submit(tx).await?;
        match committed.outcome {
            Outcome::Applied => {}
            Outcome::Rejected(r) => return Err(AggregateError::Rejected(r)),
            Outcome::Permitted(_) | Outcome::Denied(_) => return Err(AggregateError::NotAggregate),
        }
        let snapshot = self.snapshot()?;
        let agent = snapshot
            .agent(&requester)?
            .ok_or_else(|| NodeError::Invalid("an applied release names no agent".into()))?;
        let org = snapshot.organisation(&agent.org)?.ok_or_else(|| {
            NodeError::Invalid("the agent's organisation is not registered".into())
        })?;
        let org_key = self
            .org_decryption_key(&org.id)
            .ok_or(AggregateError::NotHosted)?;
        let sources = ehrchain_ledger::aggregate_sources(
            &snapshot,
            &committed.tx,
            &signer,
            query.purpose,
            committed.time,
        )?;
        let mut patients = Vec::with_capacity(sources.len());
        for (patient, tokens) in sources {
            let mut facts = PatientFacts::default();
            for token in &tokens {
                if let Some(plain) = self
                    .open_with_org_key(token, &org.encrypt_key, &org_key)
                    .await?
                {
                    facts.conditions.extend(population::condition_codes(&plain));
                }
            }
            if let Some(persona) = self.open_persona(&patient)? {
                facts.birth_date = Some(persona.birth_date).filter(|b| !b.is_empty());
                facts.region = persona.fhir.as_deref().and_then(population::region_of);
            }
            patients.push(facts);
        }
        let suppress_below = self.inner.config.suppress_below;
        let release = population::release(
            &query,
            &patients,
            committed.time,
            suppress_below,
            &mut || OsRng.next_u64(),
        );
        let spent_milli = ehrchain_ledger::privacy_spent(&snapshot, &requester)?;
        Ok(AggregateRelease {
            committed,
            release,
            spent_milli,
            budget_milli: ehrchain_types::PRIVACY_BUDGET_MILLI,
            suppress_below,
        })
    }

    /// The organisation's decryption key, if this node hosts it.
    fn org_decryption_key(&self, org: &ehrchain_types::OrgId) -> Option<DecryptionKey> {
        let keys = self.inner.keys.read().expect("keys lock");
        keys.orgs
            .get(org)
            .map(|identity| DecryptionKey::from_bytes(&identity.decryption().to_bytes()))
    }

    /// A record's plaintext, opened with the organisation's envelope under the decision's
    /// token; `None` if there is no envelope for the organisation, the record is quarantined
    /// or too large, or it does not decrypt.
    async fn open_with_org_key(
        &self,
        token: &AccessGrant,
        org_public: &ehrchain_crypto::EncryptionKey,
        org_key: &DecryptionKey,
    ) -> Result<Option<Zeroizing<Vec<u8>>>, AggregateError> {
        if self.is_quarantined(token.cid()) {
            return Ok(None);
        }
        let Some(sealed) = self.inner.store.release_envelope(token, org_public)? else {
            return Ok(None);
        };
        let context = token.record();
        let Ok(data_key) = Envelope::from_bytes(&sealed)
            .and_then(|env| envelope::open(org_key, context.as_bytes(), &env))
        else {
            return Ok(None);
        };
        let mut stream = self.inner.blobs.open(token).await?;
        let mut ciphertext = Vec::new();
        while let Some(chunk) = stream.next().await {
            ciphertext.extend_from_slice(&chunk?);
            if ciphertext.len() as u64
                > ehrchain_crypto::stream::ciphertext_len(MAX_CONDITION_BYTES as u64)
            {
                return Ok(None);
            }
        }
        let mut plain = Zeroizing::new(Vec::new());
        match ehrchain_crypto::stream::decrypt(&data_key, &ciphertext[..], &mut *plain) {
            Ok(_) => Ok(Some(plain)),
            Err(_) => Ok(None),
        }
    }
}
