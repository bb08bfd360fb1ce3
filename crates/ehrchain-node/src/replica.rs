//! Replication between validators. Every node keeps every live record's ciphertext and key
//! envelopes: both are encrypted, and every validator is trusted to hold them. A node asks its
//! peers for what it lacks (a record's ciphertext, missing or quarantined, and the envelopes of
//! recipients the ledger entitles), checks the ciphertext against the CID anchored on the
//! ledger before keeping it, and keeps only envelopes of entitled recipients. A quarantined blob
//! restored this way raises an alert naming the peer; a peer that sends the wrong bytes is named
//! too. Fetching is the caller's (it knows the peers and speaks HTTP); this module decides and
//! stores.

use std::collections::BTreeSet;

use bytes::Bytes;
use ehrchain_blob::BlobStream;
use ehrchain_consent::{replicate, ReplicaGrant};
use ehrchain_crypto::{Envelope, PublicKey};
use ehrchain_ledger::{keys, StateRead, StateView};
use ehrchain_store::EnvelopeEntry;

use crate::flows::EnvelopeUpload;
use ehrchain_types::{Canonical, RecordId, RecordState};
use futures::Stream;

use crate::error::NodeError;
use crate::integrity::AlertKind;
use crate::node::Node;

/// What this node lacks of one live record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaNeed {
    pub record: RecordId,
    /// The ciphertext is missing or quarantined here.
    pub ciphertext: bool,
    /// Entitled recipients whose envelope this node does not hold.
    pub envelopes: usize,
}

/// Why a replication request or answer was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReplicaError {
    #[error("only validators of this consortium may replicate, and only live records")]
    NotAllowed,
    #[error("this node does not hold a good copy of that ciphertext")]
    NotHeld,
    #[error("peer {peer} sent bytes that are not the record's ciphertext ({detail})")]
    Corrupt { peer: String, detail: String },
    #[error(transparent)]
    Node(#[from] NodeError),
    #[error(transparent)]
    Store(#[from] ehrchain_store::StoreError),
    #[error(transparent)]
    State(#[from] ehrchain_ledger::StateError),
    #[error(transparent)]
    Blob(#[from] ehrchain_blob::BlobError),
}

impl Node {
    /// A record's ciphertext, for another validator.
    pub async fn replica_ciphertext(
        &self,
        requester: &PublicKey,
        record: &RecordId,
    ) -> Result<BlobStream, ReplicaError> {
        let token = self.replica_grant(requester, record)?;
        if self.is_quarantined(token.cid()) {
            return Err(ReplicaError::NotHeld);
        }
        self.inner.blobs.open(&token).await.map_err(|e| match e {
            ehrchain_blob::BlobError::NotFound(_) => ReplicaError::NotHeld,
            other => other.into(),
        })
    }

    /// Block `height` as this node stores it (checked first), for another validator whose copy
    /// is damaged.
    pub fn replica_block(
        &self,
        requester: &PublicKey,
        height: u64,
    ) -> Result<Vec<u8>, ReplicaError> {
        if !self.snapshot()?.is_validator(requester)? {
            return Err(ReplicaError::NotAllowed);
        }
        match self.block(height) {
            Ok(Some(b)) => Ok(b.to_bytes()),
            _ => Err(ReplicaError::NotHeld),
        }
    }

    /// Keeps `bytes` from `peer` as block `height` if this node's copy is damaged and they are
    /// the committed block.
    pub fn accept_replica_block(
        &self,
        height: u64,
        peer: &str,
        bytes: &[u8],
    ) -> Result<(), ReplicaError> {
        self.repair_block(height, peer, bytes)
            .map_err(|detail| ReplicaError::Corrupt {
                peer: peer.to_owned(),
                detail,
            })
    }

    /// A record's sealed key envelopes, for another validator.
    pub fn replica_envelopes(
        &self,
        requester: &PublicKey,
        record: &RecordId,
    ) -> Result<Vec<EnvelopeUpload>, ReplicaError> {
        let token = self.replica_grant(requester, record)?;
        Ok(self
            .inner
            .store
            .replica_envelopes(&token)?
            .into_iter()
            .map(|e| EnvelopeUpload {
                recipient: e.recipient,
                sealed: e.sealed,
            })
            .collect())
    }

    fn replica_grant(
        &self,
        requester: &PublicKey,
        record: &RecordId,
    ) -> Result<ReplicaGrant, ReplicaError> {
        let snapshot = self.snapshot()?;
        let rec = snapshot.record(record)?;
        let is_validator = snapshot.is_validator(requester)?;
        replicate(rec.as_ref(), is_validator).ok_or(ReplicaError::NotAllowed)
    }

    /// What this node lacks: every live record whose ciphertext is missing or quarantined here,
    /// or whose entitled recipients' envelopes are not all held here.
    pub async fn replication_needs(&self) -> Result<Vec<ReplicaNeed>, NodeError> {
        let snapshot = self.snapshot()?;
        let now = self.tip()?.map_or(self.genesis().time, |h| h.time);
        let mut out = Vec::new();
        for (_, v) in snapshot.scan(&[keys::RECORD], ehrchain_ledger::state::MAX_SCAN)? {
            let rec = RecordState::from_trusted_bytes(&v)
                .map_err(|e| NodeError::Invalid(format!("corrupt record state: {e}")))?;
            if rec.erased.is_some() {
                continue;
            }
            let cid = rec.anchor.cid;
            let ciphertext = self.is_quarantined(&cid) || !self.inner.blobs.contains(&cid).await?;
            let held: BTreeSet<_> = self
                .inner
                .store
                .envelope_recipients(&rec.anchor.record)?
                .into_iter()
                .collect();
            let entitled = self.entitled_recipients(&snapshot, &rec, now)?;
            let envelopes = entitled.difference(&held).count();
            if ciphertext || envelopes > 0 {
                out.push(ReplicaNeed {
                    record: rec.anchor.record,
                    ciphertext,
                    envelopes,
                });
            }
        }
        Ok(out)
    }

    /// Keeps a record's ciphertext sent by `peer`, if it hashes to the CID on the ledger. A
    /// quarantined copy is replaced, released from quarantine, and the repair is alerted.
    pub async fn accept_replica_ciphertext(
        &self,
        record: &RecordId,
        peer: &str,
        data: impl Stream<Item = Result<Bytes, std::io::Error>> + Send,
    ) -> Result<(), ReplicaError> {
        let rec = self
            .snapshot()?
            .record(record)?
            .filter(|r| r.erased.is_none())
            .ok_or(ReplicaError::NotAllowed)?;
        let cid = rec.anchor.cid;
        let max = self.inner.config.max_blob_bytes;
        match self.inner.blobs.put_expected(data, max, &cid).await {
            Ok(_) => {}
            Err(ehrchain_blob::BlobError::Mismatch { got, .. }) => {
                self.raise(
                    AlertKind::PeerSentBadBlob {
                        cid: cid.to_string(),
                        record: record.to_string(),
                        peer: peer.to_owned(),
                    },
                    format!(
                        "peer {peer} sent bytes hashing to {got} as the ciphertext {cid} of record {record}; refused"
                    ),
                );
                return Err(ReplicaError::Corrupt {
                    peer: peer.to_owned(),
                    detail: format!("hash {got}, expected {cid}"),
                });
            }
            Err(e) => return Err(e.into()),
        }
        // An erasure committed while the bytes were arriving: what was just stored goes too.
        if self
            .snapshot()?
            .record(record)?
            .is_none_or(|r| r.erased.is_some())
        {
            self.inner.blobs.delete(&cid).await?;
            return Err(ReplicaError::NotAllowed);
        }
        if self.release_quarantine(&cid) {
            self.raise(
                AlertKind::BlobRestored {
                    cid: cid.to_string(),
                    record: record.to_string(),
                    peer: peer.to_owned(),
                },
                format!("blob {cid} of record {record} restored from peer {peer}, verified against its CID"),
            );
        }
        Ok(())
    }

    /// Keeps the envelopes a peer sent of recipients the ledger entitles to the record and this
    /// node does not hold yet; returns how many were kept.
    pub fn accept_replica_envelopes(
        &self,
        record: &RecordId,
        entries: &[EnvelopeUpload],
    ) -> Result<usize, ReplicaError> {
        let snapshot = self.snapshot()?;
        let rec = snapshot
            .record(record)?
            .filter(|r| r.erased.is_none())
            .ok_or(ReplicaError::NotAllowed)?;
        let now = self.tip()?.map_or(self.genesis().time, |h| h.time);
        let entitled = self.entitled_recipients(&snapshot, &rec, now)?;
        let held: BTreeSet<_> = self
            .inner
            .store
            .envelope_recipients(record)?
            .into_iter()
            .collect();
        let keep: Vec<EnvelopeEntry> = entries
            .iter()
            .filter(|e| entitled.contains(&e.recipient) && !held.contains(&e.recipient))
            .filter(|e| Envelope::from_bytes(&e.sealed).is_ok())
            .map(|e| EnvelopeEntry {
                recipient: e.recipient,
                sealed: e.sealed.clone(),
            })
            .collect();
        if !keep.is_empty() {
            self.inner.store.put_envelopes(record, &keep)?;
        }
        Ok(keep.len())
    }
}
