//! Admission: transactions arrive signed, are checked in batches (one batched Ed25519
//! verification per batch, on their own thread), refused if already pending or committed, and
//! enter the consensus pool; the batch is gossiped to the other validators so whichever leads
//! next can propose it. Every queue is bounded.

use std::sync::Arc;

use ehrchain_consensus::{pool::Refused, Gossip, Pool};
use ehrchain_ledger::StateView;
use ehrchain_store::Store;
use ehrchain_types::{verify_all, SignedTx, TxError};
use tokio::sync::{mpsc, oneshot};

use crate::chain::Waiters;
use crate::error::SubmitError;
use crate::node::Committed;

/// A signed transaction and who to tell what became of it.
pub(crate) struct Submission {
    pub tx: SignedTx,
    pub reply: Option<oneshot::Sender<Result<Committed, SubmitError>>>,
}

const VERIFY_BATCH: usize = 2048;
/// A batch smaller than this waits once, [`LINGER`], for more to arrive before it is checked.
/// A lone signature costs about twice as much to check as one in a batch of dozens, so under
/// load the wait pays for itself; under light load it adds at most a millisecond to commit
/// latencies of tens of milliseconds.
const LINGER_BELOW: usize = 32;
const LINGER: std::time::Duration = std::time::Duration::from_millis(1);

fn drain(inbox: &mut mpsc::Receiver<Submission>, batch: &mut Vec<Submission>) {
    while batch.len() < VERIFY_BATCH {
        match inbox.try_recv() {
            Ok(s) => batch.push(s),
            Err(_) => break,
        }
    }
}

/// The admission thread's loop.
pub(crate) fn run(
    mut inbox: mpsc::Receiver<Submission>,
    pool: Pool,
    gossip: Gossip,
    store: Arc<Store>,
    waiters: Arc<Waiters>,
) {
    let mut batch: Vec<Submission> = Vec::with_capacity(VERIFY_BATCH);
    while let Some(first) = inbox.blocking_recv() {
        batch.push(first);
        drain(&mut inbox, &mut batch);
        if batch.len() < LINGER_BELOW {
            std::thread::sleep(LINGER);
            drain(&mut inbox, &mut batch);
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
        let mut admitted = Vec::with_capacity(verified.len());
        for (result, reply) in verified.into_iter().zip(replies) {
            let tx = match result {
                Ok(tx) => tx,
                Err(e) => {
                    answer(reply, Err(SubmitError::Tx(e)));
                    continue;
                }
            };
            let id = tx.id();
            if matches!(snapshot.tx_location(&id), Ok(Some(_))) || pool.contains(&id) {
                answer(reply, Err(SubmitError::Replay));
                continue;
            }
            // Wait first, then enter the pool: the block could commit before we'd wait.
            if let Some(r) = reply {
                waiters.add(id, r);
            }
            let signed = tx.signed().clone();
            match pool.insert(tx) {
                Ok(()) => admitted.push(signed),
                Err(refused) => {
                    for r in waiters.cancel(&id) {
                        let _ = r.send(Err(match refused {
                            Refused::Duplicate => SubmitError::Replay,
                            Refused::Full => SubmitError::Overloaded,
                        }));
                    }
                }
            }
        }
        drop(snapshot);
        if !admitted.is_empty() {
            gossip.send(admitted);
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
