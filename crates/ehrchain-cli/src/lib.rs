//! The `ehrchain` command's library: a blocking HTTP client for the node API, the client-side
//! record flows (encrypt, upload, anchor, seal; read, open, decrypt), key files, and the node
//! runner. The binary in `main.rs` is argument parsing over this; tests drive the same code.

pub mod client;
pub mod consortium;
pub mod device;
pub mod fhir;
pub mod gateway;
pub mod keys;
pub mod records;
pub mod replicator;
pub mod serve;
pub mod txs;
