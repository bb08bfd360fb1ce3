//! The ehrchain node: the process that wires the pure core to storage, time and the outside.
//!
//! - [`mempool`]: admission (decode limits, batched signature checks, replay) feeding
//! - [`producer`]: the block producer, a dedicated thread that executes, certifies and commits a
//!   block per batch (one fsync per block, never per transaction) and answers each submitter;
//! - [`effects`]: what committed blocks oblige this node to do (erasure, envelope clean-up);
//! - [`integrity`]: start-up verification and the periodic scrub of blocks and blobs, alerts and
//!   quarantine;
//! - [`keystore`]: the node's keys at rest (Argon2id-sealed);
//! - [`accounts`]: web logins (encrypted key backups, staff requests, TOTP);
//! - [`flows`]: the operations clients use (read a record, store envelopes, personas, queries).
//!
//! With a validator set of one this is the embedded default; the consortium issue puts the
//! consensus adapter in front of the same producer.

pub mod accounts;
pub mod aggregate;
pub mod chain;
pub mod config;
pub mod effects;
pub mod error;
pub mod flows;
pub mod integrity;
pub mod keystore;
pub mod mempool;
pub mod node;
pub mod persona;
pub mod producer;
pub mod replica;

pub use aggregate::{AggregateError, AggregateRelease};
pub use config::{BlobConfig, NodeConfig};
pub use error::{NodeError, ReadError, SubmitError};
pub use flows::{EnvelopeError, EnvelopeUpload, Release};
pub use integrity::{Alert, AlertKind, IntegrityReport};
pub use node::{Committed, Node, NodeStats};
pub use persona::Persona;
pub use replica::{ReplicaError, ReplicaNeed};
