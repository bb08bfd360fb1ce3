//! The ledger state machine, pure: validate and execute a block's transactions against committed
//! state, produce deterministic receipts and a state root, and build and check Merkle inclusion
//! proofs. No I/O, no clock, no randomness, no async runtime: a store adapter implements
//! [`StateRead`] and writes the returned [`StateChanges`] atomically with the block.
//!
//! Given the same genesis and blocks, every replica computes byte-identical state.

pub mod aggregate;
pub mod execute;
pub mod keys;
pub mod merkle;
pub mod proof;
pub mod state;

pub use aggregate::{aggregate_sources, cohort, privacy_spent, release_cohort};
pub use execute::{
    decide_read, execute, genesis_state, receipts_root, resolve_reader, state_root, BlockContext,
    Execution, ResolvedReader,
};
pub use proof::{check_block, BlockError, CertificateCheck, InclusionProof, ProofError, VotesOnly};
pub use state::{Entries, MemoryState, Overlay, StateChanges, StateError, StateRead, StateView};
