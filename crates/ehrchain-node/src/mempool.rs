//! Admission: transactions arrive signed, are checked in batches (one batched Ed25519
//! verification per batch, on their own thread), refused if already pending or committed, and
//! enter the consensus pool; the batch is gossiped to the other validators so whichever leads
//! next can propose it. Every queue is bounded.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ehrchain_consensus::{pool::Refused, Gossip, Pool};
use ehrchain_ledger::StateView;
use ehrchain_store::Store;
use ehrchain_types::{verify_all, SignedTx, TxError};
use tokio::sync::{mpsc, oneshot};

use crate::chain::Waiters;
use crate::error::SubmitError;
use crate::node::{Committed, NodeStats};

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
const LINGER: Duration = Duration::from_millis(1);

/// Admission refuses new transactions (`Overloaded`, HTTP 503) while the pool already holds
/// more than [`MAX_QUEUE_SECS`] of the recent commit rate, and never below [`MIN_BACKLOG`].
/// Without it, sustained overload filled the pool (200,000 by default) until receipts came
/// after clients had given up, and the transactions they gave up on were still committed:
/// work for nobody. With it, a client learns at once to back off, and what is admitted commits
/// within seconds. The floor keeps bursts (an import, a clinic's morning) from being refused
/// while the rate is still unknown or low.
const MAX_QUEUE_SECS: f64 = 3.0;
const MIN_BACKLOG: usize = 20_000;

/// How many transactions may wait in the pool, given the commit rate (transactions/s).
fn backlog_limit(commit_rate: f64) -> usize {
    ((commit_rate * MAX_QUEUE_SECS) as usize).max(MIN_BACKLOG)
}

/// The committed-transaction rate, sampled at most once a second and smoothed.
struct CommitRate {
    at: Instant,
    txs: u64,
    rate: f64,
}

impl CommitRate {
    fn new(now: Instant, txs: u64) -> Self {
        CommitRate {
            at: now,
            txs,
            rate: 0.0,
        }
    }

    fn update(&mut self, now: Instant, txs: u64) -> f64 {
        let dt = now.duration_since(self.at);
        if dt >= Duration::from_secs(1) {
            let sample = txs.saturating_sub(self.txs) as f64 / dt.as_secs_f64();
            self.rate = if self.rate == 0.0 {
                sample
            } else {
                0.5 * self.rate + 0.5 * sample
            };
            self.at = now;
            self.txs = txs;
        }
        self.rate
    }
}

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
    stats: Arc<NodeStats>,
) {
    let mut batch: Vec<Submission> = Vec::with_capacity(VERIFY_BATCH);
    let mut rate = CommitRate::new(Instant::now(), stats.txs.load(Ordering::Relaxed));
    while let Some(first) = inbox.blocking_recv() {
        batch.push(first);
        drain(&mut inbox, &mut batch);
        if batch.len() < LINGER_BELOW {
            std::thread::sleep(LINGER);
            drain(&mut inbox, &mut batch);
        }
        // Refuse what does not fit before spending any work on it.
        let limit = backlog_limit(rate.update(Instant::now(), stats.txs.load(Ordering::Relaxed)));
        let room = limit.saturating_sub(pool.len());
        if batch.len() > room {
            for s in batch.drain(room..) {
                answer(s.reply, Err(SubmitError::Overloaded));
            }
        }
        if batch.is_empty() {
            continue;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backlog_is_seconds_of_the_commit_rate_with_a_floor() {
        assert_eq!(backlog_limit(0.0), MIN_BACKLOG);
        assert_eq!(backlog_limit(1_000.0), MIN_BACKLOG);
        assert_eq!(backlog_limit(8_000.0), 24_000);
        assert_eq!(backlog_limit(28_000.0), 84_000);
    }

    #[test]
    fn the_commit_rate_is_sampled_once_a_second_and_smoothed() {
        let t0 = Instant::now();
        let mut r = CommitRate::new(t0, 100);
        // Under a second: no sample yet.
        assert_eq!(r.update(t0 + Duration::from_millis(500), 5_000), 0.0);
        // The first sample is taken as it is.
        assert_eq!(r.update(t0 + Duration::from_secs(2), 20_100), 10_000.0);
        // Later ones are averaged with what came before.
        assert_eq!(r.update(t0 + Duration::from_secs(3), 22_100), 6_000.0);
        // A counter that went backwards (cannot happen, but) gives a zero sample, not a panic.
        assert_eq!(r.update(t0 + Duration::from_secs(4), 0), 3_000.0);
    }
}
