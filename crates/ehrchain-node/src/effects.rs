//! What committed blocks oblige this node to do off the ledger: on an erasure, delete the
//! ciphertext and every envelope, then sign an erasure receipt; on a revocation, delete the
//! envelopes no live grant entitles anyone to any more. Effects lost to a crash, and envelopes
//! of grants that simply expired, are caught up by [`Node::catch_up_effects`] at start-up and on
//! every scrub.

use std::sync::Weak;

use ehrchain_ledger::{keys, StateRead, StateView};
use ehrchain_types::{Canonical, Outcome, PatientId, RecordId, RecordState, Tx, TxBody};
use rand::RngCore;
use tokio::sync::mpsc;

use crate::chain::CommittedBlock;
use crate::node::{Inner, Node};

pub(crate) fn spawn(inner: Weak<Inner>, mut events: mpsc::UnboundedReceiver<CommittedBlock>) {
    tokio::spawn(async move {
        while let Some(block) = events.recv().await {
            let Some(inner) = inner.upgrade() else { return };
            let node = Node::from_inner(inner);
            for (tx, receipt) in block.txs.iter().zip(&block.receipts) {
                if receipt.outcome != Outcome::Applied {
                    continue;
                }
                let result = match &tx.tx().body {
                    TxBody::EraseRequest { record } => node.erase_locally(record).await,
                    TxBody::Revoke { .. } => {
                        node.prune_envelopes(&PatientId::of(&tx.tx().signer)).await
                    }
                    _ => Ok(()),
                };
                if let Err(e) = result {
                    tracing::error!(error = %e, tx = %tx.id(), "post-commit effect failed");
                }
            }
        }
    });
}

impl Node {
    /// Finishes erasures this node has not receipted yet (a crash between an erasure's commit
    /// and this node's receipt) and prunes envelopes no grant justifies any more (revocations
    /// missed, grants expired). Returns (erasures finished, patients pruned).
    pub async fn catch_up_effects(&self) -> Result<(usize, usize), crate::NodeError> {
        let me = self.validator_key();
        let snapshot = self.snapshot()?;
        let mut pending = Vec::new();
        for (_, v) in snapshot.scan(&[keys::RECORD], usize::MAX)? {
            let Ok(r) = RecordState::from_bytes(&v) else {
                continue;
            };
            if r.erased.is_some() && !snapshot.erase_receipts(&r.anchor.record)?.contains(&me) {
                pending.push(r.anchor.record);
            }
        }
        let mut patients: Vec<PatientId> = snapshot
            .scan(&[keys::PATIENT_GRANT], usize::MAX)?
            .into_iter()
            .filter_map(|(k, _)| k.get(1..17)?.try_into().ok().map(PatientId::from_bytes))
            .collect();
        patients.dedup();
        drop(snapshot);
        for record in &pending {
            self.erase_locally(record).await?;
        }
        for p in &patients {
            self.prune_envelopes(p).await?;
        }
        if !pending.is_empty() {
            tracing::info!(
                erasures = pending.len(),
                "finished erasures left by a restart"
            );
        }
        Ok((pending.len(), patients.len()))
    }

    /// Deletes a record's ciphertext and envelopes here, then commits this validator's receipt.
    pub(crate) async fn erase_locally(&self, record: &RecordId) -> Result<(), crate::NodeError> {
        let Some(rec) = self.snapshot()?.record(record)? else {
            return Ok(());
        };
        let blob_deleted = self.inner.blobs.delete(&rec.anchor.cid).await?;
        let envelopes = self.inner.store.delete_envelopes(record)?;
        tracing::info!(%record, blob_deleted, envelopes, "record erased on this node");
        let key = self
            .inner
            .keys
            .read()
            .expect("keys lock")
            .validator
            .signing()
            .clone();
        let tx = Tx {
            signer: key.public(),
            nonce: rand::rngs::OsRng.next_u64(),
            body: TxBody::EraseReceipt { record: *record },
        }
        .sign(&key);
        // Waiting here would stall the effects queue behind the block it feeds; follow it instead.
        self.submit_detached(tx)
            .map_err(|e| crate::NodeError::Invalid(format!("erasure receipt: {e}")))?;
        Ok(())
    }

    /// Deletes every envelope of `patient`'s records whose recipient no longer has a reason to
    /// hold it (after a revocation or expiry).
    pub(crate) async fn prune_envelopes(
        &self,
        patient: &PatientId,
    ) -> Result<(), crate::NodeError> {
        let snapshot = self.snapshot()?;
        let now = self.tip()?.map_or(self.genesis().time, |h| h.time);
        let mut removed = 0usize;
        for rec in snapshot.records_of(patient)? {
            let entitled = self.entitled_recipients(&snapshot, &rec, now)?;
            for key in self.inner.store.envelope_recipients(&rec.anchor.record)? {
                if !entitled.contains(&key)
                    && self.inner.store.delete_envelope(&rec.anchor.record, &key)?
                {
                    removed += 1;
                }
            }
        }
        if removed > 0 {
            tracing::info!(%patient, removed, "envelopes deleted after revocation");
        }
        Ok(())
    }
}
