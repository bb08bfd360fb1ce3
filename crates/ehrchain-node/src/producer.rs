//! The block producer: a dedicated thread that takes verified transactions in batches, executes
//! them on committed state, certifies the header with the validator key and commits block and
//! state changes in one durable write. With a validator set of one it is the whole consensus; the
//! consortium puts the engine in front of [`BlockBuilder`], which stays the same.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use ehrchain_crypto::{Hash, PublicKey, SigningKey};
use ehrchain_ledger::{execute, genesis_state, BlockContext};
use ehrchain_store::Store;
use ehrchain_types::{
    Block, BlockHeader, Certificate, Genesis, Height, Receipt, Timestamp, TxId, VerifiedTx,
};
use tokio::sync::{mpsc, oneshot};

use crate::error::{NodeError, SubmitError};
use crate::node::{now_ms, Committed, NodeStats};

/// A transaction waiting for its block, and who to tell.
pub(crate) struct Pending {
    pub tx: VerifiedTx,
    pub reply: Option<oneshot::Sender<Result<Committed, SubmitError>>>,
}

/// A committed block, for the tasks that act on what it says.
#[derive(Debug, Clone)]
pub struct CommittedBlock {
    pub header: BlockHeader,
    pub txs: Vec<VerifiedTx>,
    pub receipts: Vec<Receipt>,
}

/// The synchronous part of block production: given a batch and a time, make and commit a block.
pub struct BlockBuilder {
    store: Arc<Store>,
    key: SigningKey,
    tip_hash: Hash,
    tip_height: Height,
    tip_time: Timestamp,
    state_root: Hash,
}

impl BlockBuilder {
    pub fn new(store: Arc<Store>, key: SigningKey, genesis: &Genesis) -> Result<Self, NodeError> {
        let (tip_hash, tip_height, tip_time, state_root) = match store.tip()? {
            Some(h) => (h.hash(), h.height, h.time, h.state_root),
            None => (
                genesis.chain_id(),
                Height(0),
                genesis.time,
                genesis_state(genesis).1,
            ),
        };
        Ok(BlockBuilder {
            store,
            key,
            tip_hash,
            tip_height,
            tip_time,
            state_root,
        })
    }

    pub fn proposer(&self) -> PublicKey {
        self.key.public()
    }

    /// Executes `txs` at time `now` (never before the parent's time), certifies and commits.
    pub fn build(&mut self, txs: &[VerifiedTx], now: Timestamp) -> Result<Block, NodeError> {
        let time = Timestamp(now.0.max(self.tip_time.0));
        let ctx = BlockContext {
            height: self.tip_height.next(),
            time,
            prev_state_root: self.state_root,
        };
        let snapshot = self.store.snapshot()?;
        let ex = execute(&snapshot, &ctx, txs)?;
        drop(snapshot);
        let header = BlockHeader {
            height: ctx.height,
            prev: self.tip_hash,
            time,
            tx_count: u32::try_from(txs.len()).expect("block size is bounded"),
            tx_root: ex.tx_root,
            receipts_root: ex.receipts_root,
            state_root: ex.state_root,
            proposer: self.key.public(),
        };
        let certificate = Certificate {
            votes: vec![header.sign(&self.key)],
        };
        let block = Block {
            header,
            certificate,
            txs: txs.iter().map(|t| t.signed().clone()).collect(),
            receipts: ex.receipts,
        };
        self.store.commit_block(&block, &ex.changes)?;
        self.tip_hash = block.header.hash();
        self.tip_height = block.header.height;
        self.tip_time = time;
        self.state_root = block.header.state_root;
        Ok(block)
    }
}

/// The producer thread's loop: wait for work, take what is queued (up to a block), build, reply.
pub(crate) fn run(
    mut builder: BlockBuilder,
    mut inbox: mpsc::Receiver<Pending>,
    pending_ids: Arc<Mutex<HashSet<TxId>>>,
    events: mpsc::Sender<CommittedBlock>,
    stats: Arc<NodeStats>,
    max_block_txs: usize,
) {
    let mut batch: Vec<Pending> = Vec::with_capacity(max_block_txs);
    while let Some(first) = inbox.blocking_recv() {
        batch.push(first);
        while batch.len() < max_block_txs {
            match inbox.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let (txs, replies): (Vec<VerifiedTx>, Vec<_>) =
            batch.drain(..).map(|p| (p.tx, p.reply)).unzip();
        let block = match builder.build(&txs, Timestamp(now_ms())) {
            Ok(b) => b,
            Err(e) => {
                // A block that cannot be committed leaves state unknown: stop rather than limp on.
                tracing::error!(error = %e, "block production failed; the producer stops");
                for r in replies.into_iter().flatten() {
                    let _ = r.send(Err(SubmitError::Stopped));
                }
                return;
            }
        };
        stats.record_block(&block);
        {
            let mut ids = pending_ids.lock().expect("pending set poisoned");
            for t in &txs {
                ids.remove(&t.id());
            }
        }
        for (index, (reply, receipt)) in replies.into_iter().zip(&block.receipts).enumerate() {
            if let Some(r) = reply {
                let _ = r.send(Ok(Committed {
                    tx: receipt.tx,
                    height: block.header.height,
                    index: index as u32,
                    time: block.header.time,
                    outcome: receipt.outcome,
                }));
            }
        }
        let event = CommittedBlock {
            header: block.header,
            txs,
            receipts: block.receipts,
        };
        if events.blocking_send(event).is_err() {
            tracing::debug!("effects task gone; producer continues without it");
        }
    }
}
