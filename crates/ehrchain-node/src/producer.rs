//! A block built and committed without consensus: execute on committed state, sign the header
//! with the validator key, commit. The node itself commits only what the consensus engine
//! finalized (see `ehrchain-consensus`); this remains for benchmarks that measure execution and
//! storage alone, and for tools that build chains offline.

use std::sync::Arc;

use ehrchain_crypto::{Hash, PublicKey, SigningKey};
use ehrchain_ledger::{execute, genesis_state, BlockContext};
use ehrchain_store::Store;
use ehrchain_types::{Block, BlockHeader, Certificate, Genesis, Height, Timestamp, VerifiedTx};

use crate::error::NodeError;

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
        let certificate = Certificate::Votes(vec![header.sign(&self.key)]);
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
