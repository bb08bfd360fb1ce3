//! The transaction pool every validator proposes from. Transactions enter verified (admission
//! on the node that received them, or gossip from a peer), stay until a finalized block carries
//! them, and are proposed oldest first. A block that is never finalized leaves its transactions
//! here to be proposed again.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use ehrchain_types::{TxId, VerifiedTx};

/// A bounded FIFO of verified transactions, shared by admission, gossip and the proposer.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    order: VecDeque<TxId>,
    txs: HashMap<TxId, VerifiedTx>,
    capacity: usize,
}

/// Why a transaction did not enter the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    Duplicate,
    Full,
}

impl Pool {
    pub fn new(capacity: usize) -> Self {
        Pool {
            inner: Arc::new(Mutex::new(Inner {
                order: VecDeque::new(),
                txs: HashMap::new(),
                capacity,
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("pool lock poisoned")
    }

    pub fn insert(&self, tx: VerifiedTx) -> Result<(), Refused> {
        let mut inner = self.lock();
        if inner.txs.contains_key(&tx.id()) {
            return Err(Refused::Duplicate);
        }
        if inner.txs.len() >= inner.capacity {
            return Err(Refused::Full);
        }
        inner.order.push_back(tx.id());
        inner.txs.insert(tx.id(), tx);
        Ok(())
    }

    pub fn contains(&self, id: &TxId) -> bool {
        self.lock().txs.contains_key(id)
    }

    /// The already-verified transaction with this id, so a peer's block need not be re-verified.
    pub fn get(&self, id: &TxId) -> Option<VerifiedTx> {
        self.lock().txs.get(id).cloned()
    }

    /// Up to `max` transactions, oldest first, skipping those in `exclude` (already in an
    /// uncommitted ancestor of the block being built).
    pub fn select(&self, max: usize, exclude: &HashSet<TxId>) -> Vec<VerifiedTx> {
        let inner = self.lock();
        inner
            .order
            .iter()
            .filter(|id| !exclude.contains(id))
            .filter_map(|id| inner.txs.get(id))
            .take(max)
            .cloned()
            .collect()
    }

    /// How many transactions could go into a block built now (not in `exclude`).
    pub fn has_eligible(&self, exclude: &HashSet<TxId>) -> bool {
        let inner = self.lock();
        if exclude.is_empty() {
            return !inner.txs.is_empty();
        }
        inner.txs.keys().any(|id| !exclude.contains(id))
    }

    /// Drops transactions a finalized block carried.
    pub fn remove<'a>(&self, ids: impl IntoIterator<Item = &'a TxId>) {
        let mut inner = self.lock();
        for id in ids {
            inner.txs.remove(id);
        }
        while let Some(front) = inner.order.front() {
            if inner.txs.contains_key(front) {
                break;
            }
            inner.order.pop_front();
        }
        if inner.order.len() > 2 * inner.txs.len() + 1024 {
            let Inner { order, txs, .. } = &mut *inner;
            order.retain(|id| txs.contains_key(id));
        }
    }

    pub fn len(&self) -> usize {
        self.lock().txs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
