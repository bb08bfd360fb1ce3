//! The one consent decision every disclosure path calls (read, search, export, report,
//! aggregate), and the [`AccessGrant`] token that only it can mint. The blob store opens a
//! record's ciphertext, and the envelope store releases a key envelope, only against that token,
//! so a path that skips the decision cannot be written.
//!
//! Pure: the caller loads the facts (the record, the reader, the patient's grants, the reader's
//! break-glass) from committed state and passes the block time; nothing here reads a clock.

mod decision;
mod token;

pub use decision::{decide, decide_append, Facts, Reader, Request};
pub use token::{replicate, AccessGrant, Decision, OpensBlob, ReplicaGrant};
