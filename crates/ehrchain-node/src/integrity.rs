//! Tamper detection: at start-up and on every scrub the node re-checks each stored block (decode,
//! hash link, Merkle roots, certificate) and each live blob (its CID). What fails raises an alert
//! naming it and is quarantined: a damaged block or blob is never served. In a consortium both
//! are restored from a peer (`replica.rs`), after the same checks.

use std::collections::{BTreeSet, HashSet, VecDeque};
use std::sync::Mutex;

use ehrchain_blob::Integrity as BlobIntegrity;
use ehrchain_crypto::{Cid, Hash};
use ehrchain_ledger::{check_block, keys, StateRead};
use ehrchain_types::{Block, Canonical, RecordId, RecordState};
use serde::Serialize;

use crate::error::NodeError;
use crate::node::{now_ms, Node};

/// What an alert is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AlertKind {
    BlockDamaged {
        height: u64,
    },
    BlobDamaged {
        cid: String,
        record: String,
    },
    BlobMissing {
        cid: String,
        record: String,
    },
    /// A damaged block was replaced by a peer's copy, checked against its neighbours and its
    /// certificate.
    BlockRestored {
        height: u64,
        peer: String,
    },
    /// A quarantined or missing blob was restored from a peer, verified against its CID.
    BlobRestored {
        cid: String,
        record: String,
        peer: String,
    },
    /// A peer sent bytes that are not the ciphertext it was asked for.
    PeerSentBadBlob {
        cid: String,
        record: String,
        peer: String,
    },
}

/// A tamper or damage alert.
#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    pub id: u64,
    /// Wall-clock milliseconds when it was raised.
    pub at: u64,
    #[serde(flatten)]
    pub kind: AlertKind,
    pub message: String,
}

/// What one verification pass looked at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IntegrityReport {
    pub blocks_checked: u64,
    pub blobs_checked: u64,
    pub alerts: usize,
}

const MAX_ALERTS: usize = 1000;

#[derive(Default)]
pub(crate) struct Integrity {
    alerts: Mutex<VecDeque<Alert>>,
    next_id: Mutex<u64>,
    damaged_blocks: Mutex<BTreeSet<u64>>,
    quarantined: Mutex<HashSet<Cid>>,
}

impl Integrity {
    fn raise(&self, kind: AlertKind, message: String) {
        let mut alerts = self.alerts.lock().expect("alerts lock");
        // One live alert per damaged item: a scrub that finds the same damage again is not news.
        if alerts.iter().any(|a| a.kind == kind) {
            return;
        }
        tracing::error!(alert = %message, "TAMPER ALERT");
        let mut id = self.next_id.lock().expect("alert id lock");
        *id += 1;
        alerts.push_back(Alert {
            id: *id,
            at: now_ms(),
            kind,
            message,
        });
        while alerts.len() > MAX_ALERTS {
            alerts.pop_front();
        }
    }
}

impl Node {
    /// Every alert raised since start, oldest first.
    pub fn alerts(&self) -> Vec<Alert> {
        let alerts = self.inner.integrity.alerts.lock().expect("alerts lock");
        alerts.iter().cloned().collect()
    }

    pub(crate) fn raise(&self, kind: AlertKind, message: String) {
        self.inner.integrity.raise(kind, message);
    }

    /// Takes `cid` out of quarantine (its blob was repaired); true if it was quarantined.
    pub(crate) fn release_quarantine(&self, cid: &Cid) -> bool {
        self.inner
            .integrity
            .quarantined
            .lock()
            .expect("quarantine")
            .remove(cid)
    }

    pub fn is_quarantined(&self, cid: &Cid) -> bool {
        let q = self.inner.integrity.quarantined.lock().expect("quarantine");
        q.contains(cid)
    }

    pub(crate) fn quarantine(&self, cid: Cid, record: RecordId, missing: bool) {
        self.inner
            .integrity
            .quarantined
            .lock()
            .expect("quarantine")
            .insert(cid);
        let (kind, what) = if missing {
            (
                AlertKind::BlobMissing {
                    cid: cid.to_string(),
                    record: record.to_string(),
                },
                "missing",
            )
        } else {
            (
                AlertKind::BlobDamaged {
                    cid: cid.to_string(),
                    record: record.to_string(),
                },
                "damaged (content does not match its CID)",
            )
        };
        self.inner.integrity.raise(
            kind,
            format!("blob {cid} of record {record} is {what}; quarantined, not served"),
        );
    }

    fn mark_block_damaged(&self, height: u64, detail: String) {
        self.inner
            .integrity
            .damaged_blocks
            .lock()
            .expect("damaged blocks")
            .insert(height);
        self.inner.integrity.raise(
            AlertKind::BlockDamaged { height },
            format!("block {height} is damaged ({detail}); not served"),
        );
    }

    /// Heights of the blocks found damaged and not yet repaired.
    pub fn damaged_blocks(&self) -> Vec<u64> {
        let d = self
            .inner
            .integrity
            .damaged_blocks
            .lock()
            .expect("damaged blocks");
        d.iter().copied().collect()
    }

    /// Replaces damaged block `height` with `bytes` from `peer`, if they are the committed block:
    /// they decode canonically, pass the same checks as a stored block (hash link to the
    /// parent, roots, certificate against the genesis validators), and the next block (or the
    /// tip record) names their hash as its parent.
    pub(crate) fn repair_block(&self, height: u64, peer: &str, bytes: &[u8]) -> Result<(), String> {
        let block = Block::from_bytes(bytes).map_err(|e| format!("does not decode: {e}"))?;
        let store = &self.inner.store;
        let (parent_hash, parent_time) = if height == 1 {
            (self.inner.genesis.chain_id(), self.inner.genesis.time.0)
        } else {
            let p = self
                .block(height - 1)
                .map_err(|e| e.to_string())?
                .ok_or("no parent block")?;
            (p.header.hash(), p.header.time.0)
        };
        check_block(
            &block,
            &parent_hash,
            height - 1,
            parent_time,
            &self.inner.validators,
            self.inner.certificates.as_ref(),
        )
        .map_err(|e| e.to_string())?;
        let hash = block.header.hash();
        let named_by_child = match store.block(height + 1) {
            Ok(Some(next)) => next.header.prev == hash,
            _ => store
                .tip()
                .ok()
                .flatten()
                .is_some_and(|t| t.height.0 == height && t.hash() == hash),
        };
        if !named_by_child {
            return Err("not the block this chain committed at that height".into());
        }
        store
            .repair_block(height, bytes)
            .map_err(|e| e.to_string())?;
        self.inner
            .integrity
            .damaged_blocks
            .lock()
            .expect("damaged blocks")
            .remove(&height);
        self.raise(
            AlertKind::BlockRestored {
                height,
                peer: peer.to_owned(),
            },
            format!("block {height} restored from peer {peer}, checked against its neighbours and certificate"),
        );
        Ok(())
    }

    /// Verifies every stored block and every live blob, raising alerts for what fails.
    pub async fn verify_integrity(&self) -> Result<IntegrityReport, NodeError> {
        let node = self.clone();
        let blocks_checked = tokio::task::spawn_blocking(move || node.verify_blocks())
            .await
            .map_err(|e| NodeError::Invalid(format!("block check panicked: {e}")))??;
        let blobs_checked = self.verify_blobs().await?;
        Ok(IntegrityReport {
            blocks_checked,
            blobs_checked,
            alerts: self.alerts().len(),
        })
    }

    fn verify_blocks(&self) -> Result<u64, NodeError> {
        let store = &self.inner.store;
        let Some(tip) = store.tip()? else {
            return Ok(0);
        };
        let mut parent_hash = self.inner.genesis.chain_id();
        let mut parent_time = self.inner.genesis.time.0;
        let mut parent_ok = true;
        for height in 1..=tip.height.0 {
            match self.load_checked(height, &parent_hash, parent_time, parent_ok) {
                Ok(block) => {
                    parent_hash = block.header.hash();
                    parent_time = block.header.time.0;
                    parent_ok = true;
                }
                Err(detail) => {
                    self.mark_block_damaged(height, detail);
                    // Carry on from what the next block says its parent was, so one damaged
                    // block is reported as one, not as every block after it.
                    match store.block(height + 1) {
                        Ok(Some(next)) => parent_hash = next.header.prev,
                        _ => parent_hash = Hash::ZERO,
                    }
                    parent_ok = false;
                }
            }
        }
        if parent_ok && parent_hash != tip.hash() {
            self.mark_block_damaged(
                tip.height.0,
                "tip record does not match the last block".into(),
            );
        }
        Ok(tip.height.0)
    }

    /// Loads block `height` and checks it against its parent; `Err` says what is wrong.
    fn load_checked(
        &self,
        height: u64,
        parent_hash: &Hash,
        parent_time: u64,
        check_link: bool,
    ) -> Result<Block, String> {
        let block = match self.inner.store.block(height) {
            Ok(Some(b)) => b,
            Ok(None) => return Err("missing".into()),
            Err(e) => return Err(e.to_string()),
        };
        let link = if check_link {
            *parent_hash
        } else {
            block.header.prev
        };
        check_block(
            &block,
            &link,
            height - 1,
            parent_time,
            &self.inner.validators,
            self.inner.certificates.as_ref(),
        )
        .map_err(|e| e.to_string())?;
        Ok(block)
    }

    /// A committed block, checked before it is served; a damaged one is refused (and alerted).
    pub fn block(&self, height: u64) -> Result<Option<Block>, NodeError> {
        if self
            .inner
            .integrity
            .damaged_blocks
            .lock()
            .expect("damaged blocks")
            .contains(&height)
        {
            return Err(NodeError::Invalid(format!("block {height} is damaged")));
        }
        let tip = self.inner.store.tip()?.map_or(0, |t| t.height.0);
        if height == 0 || height > tip {
            return Ok(None);
        }
        let (parent_hash, parent_time) = if height == 1 {
            (self.inner.genesis.chain_id(), self.inner.genesis.time.0)
        } else {
            match self.inner.store.block(height - 1) {
                Ok(Some(p)) => (p.header.hash(), p.header.time.0),
                // The parent's own damage does not make this block unverifiable by its
                // certificate; check the link against what it claims.
                _ => (Hash::ZERO, 0),
            }
        };
        let check_link = parent_hash != Hash::ZERO;
        match self.load_checked(height, &parent_hash, parent_time, check_link) {
            Ok(b) => Ok(Some(b)),
            Err(detail) => {
                self.mark_block_damaged(height, detail.clone());
                Err(NodeError::Invalid(format!(
                    "block {height} is damaged: {detail}"
                )))
            }
        }
    }

    async fn verify_blobs(&self) -> Result<u64, NodeError> {
        let snapshot = self.inner.store.snapshot()?;
        let records: Vec<RecordState> = snapshot
            .scan(&[keys::RECORD], usize::MAX)?
            .into_iter()
            .filter_map(|(_, v)| RecordState::from_bytes(&v).ok())
            .filter(|r| r.erased.is_none())
            .collect();
        drop(snapshot);
        let mut checked = 0;
        for r in records {
            let cid = r.anchor.cid;
            match self.inner.blobs.verify(&cid).await? {
                BlobIntegrity::Intact { .. } => {
                    self.inner
                        .integrity
                        .quarantined
                        .lock()
                        .expect("quarantine")
                        .remove(&cid);
                }
                BlobIntegrity::Damaged => self.quarantine(cid, r.anchor.record, false),
                BlobIntegrity::Missing => self.quarantine(cid, r.anchor.record, true),
            }
            checked += 1;
        }
        Ok(checked)
    }
}
