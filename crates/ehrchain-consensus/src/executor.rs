//! Executing blocks before they are final. Simplex lets a leader build on a parent that is
//! notarized but not yet finalized, so a validator must know the state after blocks it has only
//! verified. Each verified block's state changes are kept here, keyed by header hash, and a
//! child executes on committed state with its uncommitted ancestors' changes layered on top.
//! Committed state only ever advances through [`Ledger::commit`], from finalized blocks.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use ehrchain_crypto::{Hash, PublicKey};
use ehrchain_ledger::{
    execute, genesis_state, BlockContext, Entries, StateChanges, StateError, StateRead,
};
use ehrchain_types::{
    verify_all, Block, BlockHeader, Certificate, Genesis, Height, Receipt, SignedTx, Timestamp,
    TxId, VerifiedTx,
};

use crate::block::ChainBlock;
use crate::pool::Pool;

/// The last committed block, as the ledger knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tip {
    pub height: Height,
    /// Header hash (the chain id at height 0).
    pub hash: Hash,
    pub time: Timestamp,
    pub state_root: Hash,
}

/// A failure of the ledger underneath consensus. Consensus cannot continue past it.
#[derive(Debug, thiserror::Error)]
#[error("ledger: {0}")]
pub struct LedgerError(pub String);

impl From<StateError> for LedgerError {
    fn from(e: StateError) -> Self {
        LedgerError(e.to_string())
    }
}

/// What consensus needs from the node's storage: committed state, and where finalized blocks go.
/// The node implements it over its store; the simulator over memory.
pub trait Ledger: Clone + Send + Sync + 'static {
    type Snapshot: StateRead + Send;

    /// The committed tip and a snapshot of state exactly as of it.
    fn committed(&self) -> Result<(Tip, Self::Snapshot), LedgerError>;

    /// Durably commits a finalized block (certificate attached) with the state changes its
    /// execution produced, then tells whoever waits on its transactions. Called in height order;
    /// a block at or below the tip is never passed.
    fn commit(
        &self,
        block: Block,
        txs: Vec<VerifiedTx>,
        changes: &StateChanges,
    ) -> Result<(), LedgerError>;
}

/// A block this validator executed but that is not yet committed.
#[derive(Debug)]
pub struct Executed {
    pub header: BlockHeader,
    pub txs: Vec<VerifiedTx>,
    pub receipts: Vec<Receipt>,
    pub changes: Arc<StateChanges>,
}

/// Why a block was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("height {got} does not follow parent height {parent}")]
    Height { got: u64, parent: u64 },
    #[error("parent hash does not match")]
    Parent,
    #[error("block time is before its parent's")]
    Time,
    #[error("proposer is not a validator")]
    Proposer,
    #[error("transaction {0} has a bad signature or form")]
    Signature(usize),
    #[error("header roots do not match execution")]
    Roots,
    #[error("builds on a block that conflicts with the committed chain")]
    DeadFork,
    #[error("parent is not known")]
    UnknownParent,
    #[error("the genesis cannot be proposed")]
    Genesis,
}

/// The parent a block builds on: committed tip or executed-but-uncommitted block.
#[derive(Clone, Copy, Debug)]
pub struct Parent {
    pub hash: Hash,
    pub height: Height,
    pub time: Timestamp,
    pub state_root: Hash,
}

/// A parent, the state after it, and the transactions its uncommitted ancestors carry.
type ViewAt<S> = (Parent, Layered<S>, HashSet<TxId>);

/// Speculative execution over the ledger, shared by proposer, verifier and finalizer.
pub struct Executor<L: Ledger> {
    ledger: L,
    pool: Pool,
    genesis: Genesis,
    validators: Vec<PublicKey>,
    cache: Mutex<HashMap<Hash, Arc<Executed>>>,
    refused: AtomicU64,
    fault: Option<Fault>,
}

/// Misbehaviour a validator can be told to show, for simulation tests of Byzantine peers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Proposes blocks whose header claims a state root execution does not produce.
    BadStateRoot,
}

impl<L: Ledger> Executor<L> {
    pub fn new(ledger: L, pool: Pool, genesis: Genesis) -> Self {
        let validators = genesis.validator_keys();
        Executor {
            ledger,
            pool,
            genesis,
            validators,
            cache: Mutex::new(HashMap::new()),
            refused: AtomicU64::new(0),
            fault: None,
        }
    }

    /// Makes this validator misbehave (simulation tests only).
    pub fn with_fault(mut self, fault: Option<Fault>) -> Self {
        self.fault = fault;
        self
    }

    /// Proposals this validator refused to vote for (invalid blocks from a peer).
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    pub(crate) fn note_refused(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }

    pub fn ledger(&self) -> &L {
        &self.ledger
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    fn cached(&self, hash: &Hash) -> Option<Arc<Executed>> {
        self.cache.lock().expect("cache lock").get(hash).cloned()
    }

    /// True if the state after `hash` is available (committed tip, genesis, or executed).
    pub fn knows(&self, hash: &Hash) -> Result<bool, LedgerError> {
        if self.cached(hash).is_some() {
            return Ok(true);
        }
        let (tip, _) = self.ledger.committed()?;
        Ok(tip.hash == *hash)
    }

    /// Whether `block` must be executed before a descendant can be: false if it is committed
    /// (or the genesis) or already executed. Errors if it conflicts with the committed chain.
    pub fn needs_execution(&self, block: &ChainBlock) -> Result<bool, Invalid> {
        let Some(header) = block.header() else {
            return Ok(false);
        };
        if self.cached(&block.hash()).is_some() {
            return Ok(false);
        }
        let (tip, _) = self
            .ledger
            .committed()
            .map_err(|_| Invalid::UnknownParent)?;
        if block.hash() == tip.hash {
            return Ok(false);
        }
        if header.height <= tip.height {
            return Err(Invalid::DeadFork);
        }
        Ok(true)
    }

    /// The committed snapshot plus the layers of uncommitted ancestors up to `parent`, with the
    /// transactions those ancestors carry. `None` if `parent` is neither committed nor executed.
    fn view_at(&self, parent: &Hash) -> Result<Option<ViewAt<L::Snapshot>>, LedgerError> {
        let (tip, snapshot) = self.ledger.committed()?;
        let mut layers = Vec::new();
        let mut pending = HashSet::new();
        let mut cursor = *parent;
        let mut top: Option<Parent> = None;
        loop {
            if cursor == tip.hash {
                let p = top.unwrap_or(Parent {
                    hash: tip.hash,
                    height: tip.height,
                    time: tip.time,
                    state_root: tip.state_root,
                });
                layers.reverse();
                return Ok(Some((
                    p,
                    Layered {
                        base: snapshot,
                        layers,
                    },
                    pending,
                )));
            }
            let Some(ex) = self.cached(&cursor) else {
                return Ok(None);
            };
            if ex.header.height <= tip.height {
                // On a branch the committed chain did not take.
                return Ok(None);
            }
            if top.is_none() {
                top = Some(Parent {
                    hash: cursor,
                    height: ex.header.height,
                    time: ex.header.time,
                    state_root: ex.header.state_root,
                });
            }
            pending.extend(ex.txs.iter().map(VerifiedTx::id));
            layers.push(ex.changes.clone());
            cursor = ex.header.prev;
        }
    }

    /// Builds a block on `parent` from the pool: `None` if there is nothing to propose (or the
    /// parent's state is unknown). The block is executed and kept, so it verifies at once.
    pub fn build(
        &self,
        parent: &Hash,
        proposer: PublicKey,
        now: Timestamp,
        max_txs: usize,
    ) -> Result<Option<ChainBlock>, LedgerError> {
        let Some((p, view, pending)) = self.view_at(parent)? else {
            return Ok(None);
        };
        let txs = self.pool.select(max_txs, &pending);
        if txs.is_empty() {
            return Ok(None);
        }
        let time = Timestamp(now.0.max(p.time.0));
        let ctx = BlockContext {
            height: p.height.next(),
            time,
            prev_state_root: p.state_root,
        };
        let ex = execute(&view, &ctx, &txs)?;
        drop(view);
        let state_root = match self.fault {
            Some(Fault::BadStateRoot) => Hash([0xBA; 32]),
            None => ex.state_root,
        };
        let header = BlockHeader {
            height: ctx.height,
            prev: p.hash,
            time,
            tx_count: u32::try_from(txs.len()).expect("block size is bounded"),
            tx_root: ex.tx_root,
            receipts_root: ex.receipts_root,
            state_root,
            proposer,
        };
        let block = ChainBlock::proposed(
            header.clone(),
            txs.iter().map(|t| t.signed().clone()).collect(),
        );
        self.cache.lock().expect("cache lock").insert(
            header.hash(),
            Arc::new(Executed {
                header,
                txs,
                receipts: ex.receipts,
                changes: Arc::new(ex.changes),
            }),
        );
        Ok(Some(block))
    }

    /// True if the pool holds something a block on `parent` could carry.
    pub fn has_work(&self, parent: &Hash) -> bool {
        if self.pool.is_empty() {
            return false;
        }
        match self.view_at(parent) {
            Ok(Some((_, _, pending))) => self.pool.has_eligible(&pending),
            _ => false,
        }
    }

    /// Verifies a proposed block whose parent's state is available: links, time, proposer,
    /// signatures, and that executing it yields its header's roots. Keeps the result.
    pub fn verify(&self, block: &ChainBlock) -> Result<(), Invalid> {
        if self.cached(&block.hash()).is_some() {
            return Ok(());
        }
        let Some(header) = block.header() else {
            return Err(Invalid::Genesis);
        };
        let (p, view, _) = self
            .view_at(&header.prev)
            .map_err(|_| Invalid::UnknownParent)?
            .ok_or(Invalid::UnknownParent)?;
        if header.height != p.height.next() {
            return Err(Invalid::Height {
                got: header.height.0,
                parent: p.height.0,
            });
        }
        if header.prev != p.hash {
            return Err(Invalid::Parent);
        }
        if header.time < p.time {
            return Err(Invalid::Time);
        }
        if !self.validators.contains(&header.proposer) {
            return Err(Invalid::Proposer);
        }
        let txs = self.verify_txs(block.txs())?;
        let ctx = BlockContext {
            height: header.height,
            time: header.time,
            prev_state_root: p.state_root,
        };
        let ex = execute(&view, &ctx, &txs).map_err(|_| Invalid::UnknownParent)?;
        drop(view);
        if ex.tx_root != header.tx_root
            || ex.receipts_root != header.receipts_root
            || ex.state_root != header.state_root
        {
            return Err(Invalid::Roots);
        }
        self.cache.lock().expect("cache lock").insert(
            block.hash(),
            Arc::new(Executed {
                header: header.clone(),
                txs,
                receipts: ex.receipts,
                changes: Arc::new(ex.changes),
            }),
        );
        Ok(())
    }

    /// Signature checks, reusing the pool's verification for transactions it already holds and
    /// batch-verifying the rest as one slice.
    fn verify_txs(&self, txs: &[SignedTx]) -> Result<Vec<VerifiedTx>, Invalid> {
        let mut out: Vec<Option<VerifiedTx>> = Vec::with_capacity(txs.len());
        let mut unknown = Vec::new();
        let mut unknown_at = Vec::new();
        for (i, t) in txs.iter().enumerate() {
            match self.pool.get(&t.tx.id()) {
                Some(v) if v.signed() == t => out.push(Some(v)),
                _ => {
                    out.push(None);
                    unknown.push(t.clone());
                    unknown_at.push(i);
                }
            }
        }
        for (result, i) in verify_all(unknown).into_iter().zip(unknown_at) {
            out[i] = Some(result.map_err(|_| Invalid::Signature(i))?);
        }
        Ok(out.into_iter().map(|t| t.expect("filled")).collect())
    }

    /// Commits a finalized block: executes it if this validator never did (it was away), then
    /// hands it to the ledger with its certificate. Idempotent: a block at or below the
    /// committed tip (redelivery after a restart) is skipped.
    pub fn finalize(&self, block: &ChainBlock, certificate: Certificate) -> Result<bool, Fatal> {
        let Some(header) = block.header() else {
            return Ok(false);
        };
        let (tip, _) = self.ledger.committed().map_err(Fatal::Ledger)?;
        if header.height <= tip.height {
            return Ok(false);
        }
        if header.prev != tip.hash || header.height != tip.height.next() {
            return Err(Fatal::OutOfOrder {
                height: header.height.0,
                tip: tip.height.0,
            });
        }
        if self.cached(&block.hash()).is_none() {
            self.verify(block).map_err(|e| Fatal::Diverged {
                height: header.height.0,
                reason: e,
            })?;
        }
        let ex = self
            .cache
            .lock()
            .expect("cache lock")
            .remove(&block.hash())
            .expect("verified above");
        let ex = Arc::try_unwrap(ex).unwrap_or_else(|shared| Executed {
            header: shared.header.clone(),
            txs: shared.txs.clone(),
            receipts: shared.receipts.clone(),
            changes: shared.changes.clone(),
        });
        // By reference: a child block being built or verified may still hold these changes as a
        // layer, and copying thousands of entries per block showed up in profiles.
        let ids: Vec<TxId> = ex.txs.iter().map(VerifiedTx::id).collect();
        self.pool.remove(&ids);
        let committed = Block {
            header: ex.header,
            certificate,
            txs: ex.txs.iter().map(|t| t.signed().clone()).collect(),
            receipts: ex.receipts,
        };
        self.ledger
            .commit(committed, ex.txs, &ex.changes)
            .map_err(Fatal::Ledger)?;
        // Blocks at or below the new tip can no longer be built on.
        let height = header.height;
        self.cache
            .lock()
            .expect("cache lock")
            .retain(|_, e| e.header.height > height);
        Ok(true)
    }

    /// The genesis state changes and root, for a ledger starting empty.
    pub fn genesis_state(&self) -> (StateChanges, Hash) {
        genesis_state(&self.genesis)
    }
}

/// What stops a validator: its ledger failed, or a finalized block does not execute the way the
/// quorum said it does (this validator's state differs from theirs).
#[derive(Debug, thiserror::Error)]
pub enum Fatal {
    #[error(transparent)]
    Ledger(LedgerError),
    #[error("finalized block {height} does not execute here: {reason}")]
    Diverged { height: u64, reason: Invalid },
    #[error("finalized block {height} delivered out of order (tip {tip})")]
    OutOfOrder { height: u64, tip: u64 },
}

/// Committed state with uncommitted blocks' changes layered on top, oldest first.
pub struct Layered<S> {
    base: S,
    layers: Vec<Arc<StateChanges>>,
}

impl<S: StateRead> StateRead for Layered<S> {
    fn read(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        for layer in self.layers.iter().rev() {
            if let Some(v) = layer.get(key) {
                return Ok(v.clone());
            }
        }
        self.base.read(key)
    }

    fn scan(&self, prefix: &[u8], limit: usize) -> Result<Entries, StateError> {
        let mut merged: std::collections::BTreeMap<Vec<u8>, Vec<u8>> =
            self.base.scan(prefix, limit)?.into_iter().collect();
        for layer in &self.layers {
            for (k, v) in layer
                .range(prefix.to_vec()..)
                .take_while(|(k, _)| k.starts_with(prefix))
            {
                match v {
                    Some(v) => merged.insert(k.clone(), v.clone()),
                    None => merged.remove(k),
                };
            }
        }
        Ok(merged.into_iter().take(limit).collect())
    }
}
