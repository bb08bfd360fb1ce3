//! The node handle: opening a data folder, starting the admission and producer threads and the
//! background tasks, submitting transactions and waiting for their receipts.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::{SystemTime, UNIX_EPOCH};

use ehrchain_blob::{BlobStore, S3Config};
use ehrchain_consensus::{EngineCheck, EngineConfig, PeerConfig, Pool, Tip};
use ehrchain_crypto::{Hash, PublicKey};
use ehrchain_ledger::{genesis_state, CertificateCheck};
use ehrchain_store::{Snapshot, Store};
use ehrchain_types::{
    Block, BlockHeader, Canonical, Genesis, GenesisValidator, Height, Outcome, SignedTx, Timestamp,
    TxId,
};
use tokio::sync::{mpsc, oneshot};

use crate::chain::{NodeLedger, Waiters};
use crate::config::{BlobConfig, NodeConfig};
use crate::error::{NodeError, SubmitError};
use crate::integrity::Integrity;
use crate::keystore::{write_private, Keystore, NodeKeys};
use crate::mempool::{self, Submission};

/// A transaction's fate once its block is committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Committed {
    pub tx: TxId,
    pub height: Height,
    pub index: u32,
    pub time: Timestamp,
    pub outcome: Outcome,
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct NodeStats {
    pub blocks: AtomicU64,
    pub txs: AtomicU64,
    pub rejected: AtomicU64,
    pub access_permitted: AtomicU64,
    pub access_denied: AtomicU64,
    pub height: AtomicU64,
}

impl NodeStats {
    pub(crate) fn record_block(&self, block: &Block) {
        self.blocks.fetch_add(1, Ordering::Relaxed);
        self.height.store(block.header.height.0, Ordering::Relaxed);
        self.txs
            .fetch_add(block.txs.len() as u64, Ordering::Relaxed);
        for r in &block.receipts {
            match r.outcome {
                Outcome::Rejected(_) => self.rejected.fetch_add(1, Ordering::Relaxed),
                Outcome::Permitted(_) => self.access_permitted.fetch_add(1, Ordering::Relaxed),
                Outcome::Denied(_) => self.access_denied.fetch_add(1, Ordering::Relaxed),
                Outcome::Applied => 0,
            };
        }
    }
}

pub(crate) struct Inner {
    pub config: NodeConfig,
    pub store: Arc<Store>,
    pub blobs: BlobStore,
    pub keys: RwLock<NodeKeys>,
    pub keystore: Keystore,
    pub genesis: Genesis,
    pub validators: Vec<PublicKey>,
    pub submit: mpsc::Sender<Submission>,
    pub integrity: Integrity,
    /// Checks block certificates (the engine's finalizations) against the genesis validators.
    pub certificates: Arc<dyn CertificateCheck + Send + Sync>,
    pub stats: Arc<NodeStats>,
    /// Serialises read-modify-write of web accounts (sign-up, TOTP step, approval).
    pub accounts_lock: std::sync::Mutex<()>,
    pub throttle: crate::accounts::Throttle,
}

/// A running node. Cheap to clone; the threads stop when the last clone is dropped.
#[derive(Clone)]
pub struct Node {
    pub(crate) inner: Arc<Inner>,
}

impl Node {
    /// Opens the node in `config.data_dir`, creating keys and a single-validator genesis on the
    /// first start, verifies stored blocks and blobs, and starts block production.
    /// Must be called inside a tokio runtime.
    pub async fn open(config: NodeConfig) -> Result<Node, NodeError> {
        std::fs::create_dir_all(&config.data_dir)?;
        let keystore = Keystore::new(config.keys_dir(), config.passphrase.clone());
        let keys = keystore.load_or_create()?;
        let genesis = load_or_create_genesis(&config, &keys)?;
        let store = Arc::new(Store::open(&config.db_path())?);
        let (changes, _) = genesis_state(&genesis);
        store.init_genesis(&genesis, &changes)?;
        let blobs = match &config.blobs {
            BlobConfig::Filesystem { .. } => BlobStore::filesystem(config.blob_root())?,
            BlobConfig::S3 {
                endpoint,
                bucket,
                region,
                access_key,
                secret_key,
            } => BlobStore::s3(S3Config {
                endpoint: endpoint.clone(),
                bucket: bucket.clone(),
                region: region.clone(),
                access_key: access_key.clone(),
                secret_key: secret_key.clone(),
                prefix: None,
            })?,
        };
        let validators = genesis.validator_keys();
        if !validators.contains(&keys.validator.public().sign) {
            return Err(NodeError::Invalid(
                "this node's validator key is not in the genesis".into(),
            ));
        }

        let stats = Arc::new(NodeStats::default());
        let (submit_tx, submit_rx) = mpsc::channel(config.mempool_capacity);
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        if let Some(tip) = store.tip()? {
            stats.height.store(tip.height.0, Ordering::Relaxed);
        }
        let waiters = Arc::new(Waiters::default());
        let pool = Pool::new(config.mempool_capacity);
        let (_, genesis_root) = genesis_state(&genesis);
        let ledger = NodeLedger {
            store: store.clone(),
            genesis_tip: Tip {
                height: Height(0),
                hash: genesis.chain_id(),
                time: genesis.time,
                state_root: genesis_root,
            },
            waiters: waiters.clone(),
            events: events_tx,
            stats: stats.clone(),
        };
        let me = keys.validator.public().sign;
        let mut engine = EngineConfig::new(
            genesis.clone(),
            keys.validator.signing().clone(),
            "ehrchain",
        );
        engine.max_block_txs = config.max_block_txs;
        let peers = if config.peers.is_empty() {
            vec![(me, config.p2p_listen)]
        } else {
            config.peers.clone()
        };
        let listen = config.p2p_listen;
        let validator = ehrchain_consensus::validator::spawn(
            engine,
            PeerConfig {
                listen,
                peers,
                storage: config.consensus_dir(),
                worker_threads: config.consensus_threads,
            },
            ledger,
            pool.clone(),
            Arc::new(|reason: String| {
                // A validator that cannot commit what the quorum finalized must not serve on.
                tracing::error!(%reason, "consensus stopped; the node exits");
                std::process::exit(70);
            }),
        )?;
        {
            let (store, waiters, gossip, stats) = (
                store.clone(),
                waiters.clone(),
                validator.gossip,
                stats.clone(),
            );
            std::thread::Builder::new()
                .name("ehrchain-admission".into())
                .spawn(move || mempool::run(submit_rx, pool, gossip, store, waiters, stats))?;
        }

        let genesis_for_check = genesis.clone();
        let node = Node {
            inner: Arc::new(Inner {
                config,
                store,
                blobs,
                keys: RwLock::new(keys),
                keystore,
                genesis,
                validators,
                submit: submit_tx,
                integrity: Integrity::default(),
                certificates: Arc::new(EngineCheck::new(&genesis_for_check)),
                stats,
                accounts_lock: std::sync::Mutex::new(()),
                throttle: crate::accounts::Throttle::default(),
            }),
        };
        let report = node.verify_integrity().await?;
        tracing::info!(
            blocks = report.blocks_checked,
            blobs = report.blobs_checked,
            alerts = report.alerts,
            "start-up integrity check done"
        );
        crate::effects::spawn(Arc::downgrade(&node.inner), events_rx);
        node.catch_up_effects().await?;
        if let Some(every) = node.inner.config.scrub_interval {
            spawn_scrub(Arc::downgrade(&node.inner), every);
        }
        Ok(node)
    }

    pub(crate) fn from_inner(inner: Arc<Inner>) -> Node {
        Node { inner }
    }

    /// Submits a signed transaction and waits until its block is committed.
    pub async fn submit(&self, tx: SignedTx) -> Result<Committed, SubmitError> {
        let (reply, rx) = oneshot::channel();
        self.inner
            .submit
            .try_send(Submission {
                tx,
                reply: Some(reply),
            })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => SubmitError::Overloaded,
                mpsc::error::TrySendError::Closed(_) => SubmitError::Stopped,
            })?;
        rx.await.map_err(|_| SubmitError::Stopped)?
    }

    /// Submits without waiting (the caller may follow the transaction by id).
    pub fn submit_detached(&self, tx: SignedTx) -> Result<TxId, SubmitError> {
        let id = tx.tx.id();
        self.inner
            .submit
            .try_send(Submission { tx, reply: None })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => SubmitError::Overloaded,
                mpsc::error::TrySendError::Closed(_) => SubmitError::Stopped,
            })?;
        Ok(id)
    }

    pub fn genesis(&self) -> &Genesis {
        &self.inner.genesis
    }

    pub fn chain_id(&self) -> Hash {
        self.inner.genesis.chain_id()
    }

    pub fn validators(&self) -> &[PublicKey] {
        &self.inner.validators
    }

    pub fn validator_key(&self) -> PublicKey {
        self.inner
            .keys
            .read()
            .expect("keys lock")
            .validator
            .public()
            .sign
    }

    pub fn stats(&self) -> &NodeStats {
        &self.inner.stats
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn blobs(&self) -> &ehrchain_blob::BlobStore {
        &self.inner.blobs
    }

    pub fn config(&self) -> &NodeConfig {
        &self.inner.config
    }

    /// Committed state as of now.
    pub fn snapshot(&self) -> Result<Snapshot, NodeError> {
        Ok(self.inner.store.snapshot()?)
    }

    /// The last committed header (`None` before the first block).
    pub fn tip(&self) -> Result<Option<BlockHeader>, NodeError> {
        Ok(self.inner.store.tip()?)
    }
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The embedded default: a genesis with this node as the only validator, written on first start.
fn load_or_create_genesis(config: &NodeConfig, keys: &NodeKeys) -> Result<Genesis, NodeError> {
    let path = config.data_dir.join("genesis.bin");
    match std::fs::read(&path) {
        Ok(bytes) => {
            Genesis::from_bytes(&bytes).map_err(|e| NodeError::Invalid(format!("genesis.bin: {e}")))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let genesis = Genesis {
                chain: "ehrchain-local".into(),
                time: Timestamp(now_ms()),
                validators: vec![GenesisValidator {
                    name: "local".into(),
                    key: keys.validator.public().sign,
                }],
            };
            write_private(&path, &genesis.to_bytes())?;
            Ok(genesis)
        }
        Err(e) => Err(e.into()),
    }
}

fn spawn_scrub(inner: Weak<Inner>, every: std::time::Duration) {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            let Some(inner) = inner.upgrade() else { return };
            let node = Node::from_inner(inner);
            if let Err(e) = node.verify_integrity().await {
                tracing::error!(error = %e, "scrub failed");
            }
            if let Err(e) = node.catch_up_effects().await {
                tracing::error!(error = %e, "catching up effects failed");
            }
        }
    });
}
