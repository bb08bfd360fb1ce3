//! The node's side of consensus: the [`Ledger`] the engine commits finalized blocks into (the
//! store), and the waiters that learn their transaction's receipt once its block is committed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ehrchain_consensus::{Ledger, LedgerError, Tip};
use ehrchain_ledger::StateChanges;
use ehrchain_store::{Snapshot, Store};
use ehrchain_types::{Block, BlockHeader, Receipt, TxId, VerifiedTx};
use tokio::sync::{mpsc, oneshot};

use crate::error::SubmitError;
use crate::node::{Committed, NodeStats};

/// A committed block, for the tasks that act on what it says.
#[derive(Debug, Clone)]
pub struct CommittedBlock {
    pub header: BlockHeader,
    pub txs: Vec<VerifiedTx>,
    pub receipts: Vec<Receipt>,
}

type Reply = oneshot::Sender<Result<Committed, SubmitError>>;

/// Clients waiting for their transactions' receipts.
#[derive(Default)]
pub(crate) struct Waiters {
    map: Mutex<HashMap<TxId, Vec<Reply>>>,
}

impl Waiters {
    pub fn add(&self, id: TxId, reply: Reply) {
        self.map
            .lock()
            .expect("waiters lock")
            .entry(id)
            .or_default()
            .push(reply);
    }

    pub fn cancel(&self, id: &TxId) -> Vec<Reply> {
        self.map
            .lock()
            .expect("waiters lock")
            .remove(id)
            .unwrap_or_default()
    }

    fn answer(&self, block: &Block) {
        let mut map = self.map.lock().expect("waiters lock");
        if map.is_empty() {
            return;
        }
        for (index, receipt) in block.receipts.iter().enumerate() {
            for reply in map.remove(&receipt.tx).unwrap_or_default() {
                let _ = reply.send(Ok(Committed {
                    tx: receipt.tx,
                    height: block.header.height,
                    index: index as u32,
                    time: block.header.time,
                    outcome: receipt.outcome,
                }));
            }
        }
    }
}

/// The store as consensus sees it.
#[derive(Clone)]
pub(crate) struct NodeLedger {
    pub store: Arc<Store>,
    pub genesis_tip: Tip,
    pub waiters: Arc<Waiters>,
    pub events: mpsc::UnboundedSender<CommittedBlock>,
    pub stats: Arc<NodeStats>,
}

impl Ledger for NodeLedger {
    type Snapshot = Snapshot;

    fn committed(&self) -> Result<(Tip, Snapshot), LedgerError> {
        let (header, snapshot) = self
            .store
            .snapshot_at_tip()
            .map_err(|e| LedgerError(e.to_string()))?;
        let tip = header.map_or(self.genesis_tip, |h| Tip {
            height: h.height,
            hash: h.hash(),
            time: h.time,
            state_root: h.state_root,
        });
        Ok((tip, snapshot))
    }

    fn commit(
        &self,
        block: Block,
        txs: Vec<VerifiedTx>,
        changes: &StateChanges,
    ) -> Result<(), LedgerError> {
        self.store
            .commit_block(&block, changes)
            .map_err(|e| LedgerError(e.to_string()))?;
        self.stats.record_block(&block);
        self.waiters.answer(&block);
        let _ = self.events.send(CommittedBlock {
            header: block.header,
            txs,
            receipts: block.receipts,
        });
        Ok(())
    }
}
