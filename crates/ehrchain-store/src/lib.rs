//! The node's embedded database (redb): certified blocks, the ledger state they produce, the key
//! envelopes, and the persona store. A block and its state changes are written in one durable
//! transaction, so a crash leaves the store at the last committed block, never between.

mod db;
mod error;
mod snapshot;

pub use db::{EnvelopeEntry, Store};
pub use error::StoreError;
pub use snapshot::Snapshot;
