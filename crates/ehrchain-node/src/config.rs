//! Node configuration: where data lives, which blob backend, block limits.

use std::net::SocketAddr;
use std::path::PathBuf;

use ehrchain_crypto::PublicKey;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Where record ciphertexts are kept.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "backend", rename_all = "kebab-case")]
pub enum BlobConfig {
    /// A folder on local disk (the default: `<data_dir>/blobs`).
    Filesystem { root: Option<PathBuf> },
    /// An S3-compatible bucket.
    S3 {
        endpoint: String,
        bucket: String,
        region: String,
        access_key: String,
        secret_key: String,
    },
}

#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub data_dir: PathBuf,
    /// Unlocks the node's key files.
    pub passphrase: Vec<u8>,
    pub blobs: BlobConfig,
    /// Most transactions in one block.
    pub max_block_txs: usize,
    /// Submissions waiting for a block, at most; beyond it submitters are told to retry.
    pub mempool_capacity: usize,
    /// Largest record ciphertext accepted.
    pub max_blob_bytes: u64,
    /// How often the scrub re-verifies blocks and blobs; `None` disables it.
    pub scrub_interval: Option<Duration>,
    /// Where this validator listens for the other validators.
    pub p2p_listen: SocketAddr,
    /// Every validator's key and p2p address, this one's included. Empty: the embedded default,
    /// a consortium of one.
    pub peers: Vec<(PublicKey, SocketAddr)>,
    /// Threads for the consensus runtime.
    pub consensus_threads: usize,
    /// Population counts: cells whose noisy count is under this are suppressed.
    pub suppress_below: u64,
}

impl NodeConfig {
    /// Defaults for a node keeping everything under `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>, passphrase: impl Into<Vec<u8>>) -> Self {
        NodeConfig {
            data_dir: data_dir.into(),
            passphrase: passphrase.into(),
            blobs: BlobConfig::Filesystem { root: None },
            max_block_txs: 8192,
            mempool_capacity: 200_000,
            max_blob_bytes: 64 * 1024 * 1024 * 1024,
            scrub_interval: Some(Duration::from_secs(600)),
            p2p_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            peers: Vec::new(),
            consensus_threads: 2,
            suppress_below: ehrchain_fhir::population::SUPPRESS_BELOW,
        }
    }

    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("ledger.redb")
    }

    pub fn blob_root(&self) -> PathBuf {
        match &self.blobs {
            BlobConfig::Filesystem { root: Some(r) } => r.clone(),
            _ => self.data_dir.join("blobs"),
        }
    }

    /// The consensus engine's journals and archives.
    pub fn consensus_dir(&self) -> PathBuf {
        self.data_dir.join("consensus")
    }

    pub fn keys_dir(&self) -> PathBuf {
        self.data_dir.join("keys")
    }
}
