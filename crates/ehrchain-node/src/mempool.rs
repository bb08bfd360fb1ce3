//! Admission: transactions arrive signed, are checked in batches (one batched Ed25519
//! verification per batch, on their own thread so the producer's core stays free), refused if
//! already pending or committed, and passed on to the producer. Every queue is bounded.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use ehrchain_ledger::StateView;
use ehrchain_store::Store;
use ehrchain_types::{verify_all, SignedTx, TxError, TxId};
use tokio::sync::{mpsc, oneshot};

use crate::error::SubmitError;
use crate::node::Committed;
use crate::producer::Pending;

/// A signed transaction and who to tell what became of it.
pub(crate) struct Submission {
    pub tx: SignedTx,
    pub reply: Option<oneshot::Sender<Result<Committed, SubmitError>>>,
}

const VERIFY_BATCH: usize = 2048;

/// The admission thread's loop.
pub(crate) fn run(
    mut inbox: mpsc::Receiver<Submission>,
    producer: mpsc::Sender<Pending>,
    store: Arc<Store>,
    pending_ids: Arc<Mutex<HashSet<TxId>>>,
) {
    let mut batch: Vec<Submission> = Vec::with_capacity(VERIFY_BATCH);
    while let Some(first) = inbox.blocking_recv() {
        batch.push(first);
        while batch.len() < VERIFY_BATCH {
            match inbox.try_recv() {
                Ok(s) => batch.push(s),
                Err(_) => break,
            }
        }
        let (txs, replies): (Vec<SignedTx>, Vec<_>) =
            batch.drain(..).map(|s| (s.tx, s.reply)).unzip();
        let verified = verify_all(txs);
        let snapshot = match store.snapshot() {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "admission cannot read state");
                for r in replies.into_iter().flatten() {
                    let _ = r.send(Err(SubmitError::Stopped));
                }
                continue;
            }
        };
        for (result, reply) in verified.into_iter().zip(replies) {
            let tx = match result {
                Ok(tx) => tx,
                Err(e) => {
                    answer(reply, Err(SubmitError::Tx(e)));
                    continue;
                }
            };
            let id = tx.id();
            let committed = matches!(snapshot.tx_location(&id), Ok(Some(_)));
            let fresh = !committed && pending_ids.lock().expect("pending set").insert(id);
            if !fresh {
                answer(reply, Err(SubmitError::Replay));
                continue;
            }
            if producer.blocking_send(Pending { tx, reply }).is_err() {
                return;
            }
        }
    }
}

fn answer(
    reply: Option<oneshot::Sender<Result<Committed, SubmitError>>>,
    result: Result<Committed, SubmitError>,
) {
    if let Some(r) = reply {
        let _ = r.send(result);
    }
}

/// Decodes a submitted transaction's bytes with the size and format limits.
pub fn decode(bytes: &[u8]) -> Result<SignedTx, TxError> {
    SignedTx::decode_submitted(bytes)
}
