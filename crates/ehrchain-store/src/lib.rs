//! The node's storage: certified blocks in an append-only block log, and redb for the block
//! index, the ledger state the blocks produce, the key envelopes and the persona store. A block
//! is synced to the log before its index entry, tip and state changes commit in one redb
//! transaction; on open the log is cut back to the last indexed block. So a crash leaves the
//! store at the last committed block, never between.

mod blocklog;
mod db;
mod error;
mod snapshot;

pub use db::{EnvelopeEntry, Store};
pub use error::StoreError;
pub use snapshot::Snapshot;
