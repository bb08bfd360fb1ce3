//! The consortium's consensus. Commonware's Simplex orders blocks among the validators named in
//! the genesis; marshal delivers finalized blocks in height order (fetching missing ones from
//! peers) to a finalizer that commits them to the node's ledger. This is the only crate that
//! names the engine: the ledger core sees a [`Ledger`] trait and opaque certificates.
//!
//! - [`block`]: the block the engine orders and its codec.
//! - [`executor`]: speculative execution of not-yet-final blocks; the [`Ledger`] seam.
//! - [`app`]: propose / verify for Simplex, and the finalizer.
//! - [`engine`]: wiring Simplex, marshal, broadcast, backfill and transaction gossip.
//! - [`bare`]: the same wiring around an application that does no ledger work, the baseline
//!   of the performance evaluation.
//! - [`pool`]: the pool of verified transactions proposals draw from.
//! - [`EngineCheck`]: a light client's check of a finalization against the genesis validators.

pub mod app;
pub mod bare;
pub mod block;
pub mod engine;
pub mod executor;
pub mod pool;
pub mod validator;

use commonware_consensus::simplex::types::Finalization;
use commonware_cryptography::sha256::Digest;
use commonware_parallel::Sequential;
use ehrchain_crypto::{Hash, PublicKey};
use ehrchain_ledger::CertificateCheck;
use ehrchain_types::{Certificate, Genesis};

pub use engine::namespace;

pub use block::ChainBlock;
pub use engine::{start, EngineConfig, Gossip, Network, Running};
pub use executor::{Executor, Fatal, Fault, Ledger, LedgerError, Tip};
pub use pool::Pool;
pub use validator::{PeerConfig, Validator};

/// The certificate scheme: Ed25519 signatures of a quorum of validators (see ARCHITECTURE.md
/// for why not BLS threshold signatures).
pub type Scheme = commonware_consensus::simplex::scheme::ed25519::Scheme;

/// Checks certificates against the validator set of one genesis: vote certificates as the core
/// does, engine finalizations by decoding them and verifying their signatures with the engine's
/// verifier. Needs nothing but the genesis: this is what a light client runs.
pub struct EngineCheck {
    verifier: Scheme,
    validators: Vec<PublicKey>,
    /// The validators in the engine's participant order (sorted by key bytes).
    sorted: Vec<PublicKey>,
}

impl EngineCheck {
    pub fn new(genesis: &Genesis) -> Self {
        Self::for_chain(&genesis.chain_id(), &genesis.validator_keys())
    }

    /// From a chain id and its validators, as a light client learns them.
    pub fn for_chain(chain_id: &Hash, validators: &[PublicKey]) -> Self {
        EngineCheck {
            verifier: Scheme::verifier(
                &engine::namespace(chain_id),
                commonware_utils::ordered::Set::from_iter_dedup(
                    validators.iter().map(engine::to_engine_public),
                ),
            ),
            validators: validators.to_vec(),
            sorted: {
                let mut v = validators.to_vec();
                v.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
                v.dedup();
                v
            },
        }
    }

    /// Verifies an engine finalization (its encoded bytes) of `header_hash`.
    pub fn verify_finalization(&self, bytes: &[u8], header_hash: &Hash) -> bool {
        use commonware_codec::Read as _;
        let Ok(f) = Finalization::<Scheme, Digest>::read_cfg(
            &mut bytes::Bytes::copy_from_slice(bytes),
            &<Scheme as commonware_cryptography::certificate::Verifier>::certificate_codec_config(
                &self.verifier,
            ),
        ) else {
            return false;
        };
        if f.proposal.payload != block::to_digest(header_hash) {
            return false;
        }
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        f.verify(&mut rng, &self.verifier, &Sequential)
    }
}

/// A finalization laid out for a checker that does not link the engine (the web UI's auditor):
/// the encoded proposal the validators signed (its last 32 bytes are the header hash) and each
/// signer's key and signature. Each signature is a plain Ed25519 signature over
/// `varint(len(ns)) ‖ ns ‖ proposal`, with `ns` = [`namespace`]`(chain id) ‖ "_FINALIZE"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FinalizationParts {
    pub proposal: Vec<u8>,
    pub signatures: Vec<(PublicKey, [u8; 64])>,
}

impl EngineCheck {
    /// Decodes an engine finalization into its parts (without verifying it).
    pub fn parts(&self, bytes: &[u8]) -> Option<FinalizationParts> {
        use commonware_codec::{Encode as _, Read as _};
        let f = Finalization::<Scheme, Digest>::read_cfg(
            &mut bytes::Bytes::copy_from_slice(bytes),
            &<Scheme as commonware_cryptography::certificate::Verifier>::certificate_codec_config(
                &self.verifier,
            ),
        )
        .ok()?;
        let signatures = f
            .certificate
            .signers
            .iter()
            .zip(f.certificate.signatures.iter())
            .map(|(who, sig)| {
                let key = *self.sorted.get(who.get() as usize)?;
                let raw: [u8; 64] = sig.encode().as_ref().try_into().ok()?;
                Some((key, raw))
            })
            .collect::<Option<Vec<_>>>()?;
        Some(FinalizationParts {
            proposal: f.proposal.encode().to_vec(),
            signatures,
        })
    }
}

impl CertificateCheck for EngineCheck {
    fn certifies(
        &self,
        certificate: &Certificate,
        validators: &[PublicKey],
        header_hash: &Hash,
    ) -> bool {
        match certificate {
            Certificate::Votes(_) => certificate.is_quorum_of(validators, header_hash),
            Certificate::Engine(bytes) => {
                validators == self.validators.as_slice()
                    && self.verify_finalization(bytes, header_hash)
            }
        }
    }
}
