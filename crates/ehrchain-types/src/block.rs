//! Blocks and the genesis. A header commits to its parent, its block time, the RFC 6962 Merkle
//! roots of its transactions and receipts, and the state root after it; a certificate carries
//! validators' signatures over the header hash.

use ehrchain_crypto::{sha256, verify, Hash, PublicKey, Signature, SigningKey};

use crate::codec::{limits, Canonical, DecodeError, Decoder, Encoder};
use crate::id::{Height, Timestamp};
use crate::receipt::Receipt;
use crate::tx::SignedTx;
use crate::vocab::checked_text;

/// The namespace validators sign block headers under.
pub const BLOCK_NAMESPACE: &[u8] = b"ehrchain/block";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockHeader {
    pub height: Height,
    /// Hash of the previous header; for height 1, the chain id (the genesis hash).
    pub prev: Hash,
    pub time: Timestamp,
    pub tx_count: u32,
    pub tx_root: Hash,
    pub receipts_root: Hash,
    pub state_root: Hash,
    pub proposer: PublicKey,
}

impl BlockHeader {
    pub fn hash(&self) -> Hash {
        sha256(&self.to_bytes())
    }

    /// A validator's vote for this header.
    pub fn sign(&self, key: &SigningKey) -> Vote {
        Vote {
            validator: key.public(),
            signature: key.sign(BLOCK_NAMESPACE, self.hash().as_bytes()),
        }
    }
}

/// One validator's signature over a header hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vote {
    pub validator: PublicKey,
    pub signature: Signature,
}

impl Vote {
    pub fn verify(&self, header_hash: &Hash) -> bool {
        verify(
            &self.validator,
            BLOCK_NAMESPACE,
            header_hash.as_bytes(),
            &self.signature,
        )
        .is_ok()
    }
}

/// What certifies a header. The embedded single-node producer of old signed headers with ed25519
/// [`Vote`]s; the consensus engine certifies with its finalization, which the core carries as
/// opaque bytes and `ehrchain-consensus` verifies against the genesis validator set (see
/// `ehrchain_ledger::CertificateCheck`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Certificate {
    /// Signatures of validators over the header hash under [`BLOCK_NAMESPACE`].
    Votes(Vec<Vote>),
    /// The consensus engine's finalization of the header hash, in the engine's own encoding.
    Engine(Vec<u8>),
}

/// The largest engine certificate carried: one ed25519 signature and index per validator, with room.
pub const MAX_ENGINE_CERTIFICATE: usize = 64 * 1024;

impl Default for Certificate {
    fn default() -> Self {
        Certificate::Votes(Vec::new())
    }
}

impl Certificate {
    /// True if these are [`Vote`]s of more than two thirds of `validators` over `header_hash`
    /// (each counted once). An engine certificate is never a vote quorum: check it with the engine.
    pub fn is_quorum_of(&self, validators: &[PublicKey], header_hash: &Hash) -> bool {
        let Certificate::Votes(votes) = self else {
            return false;
        };
        let mut seen: Vec<&PublicKey> = Vec::new();
        for vote in votes {
            if validators.contains(&vote.validator)
                && !seen.contains(&&vote.validator)
                && vote.verify(header_hash)
            {
                seen.push(&vote.validator);
            }
        }
        3 * seen.len() > 2 * validators.len()
    }

    /// The votes, if this is a vote certificate.
    pub fn votes(&self) -> &[Vote] {
        match self {
            Certificate::Votes(v) => v,
            Certificate::Engine(_) => &[],
        }
    }
}

/// A certified block with its transactions and their receipts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    pub header: BlockHeader,
    pub certificate: Certificate,
    pub txs: Vec<SignedTx>,
    pub receipts: Vec<Receipt>,
}

/// A validator listed in the genesis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenesisValidator {
    pub name: String,
    pub key: PublicKey,
}

/// The chain's starting point. Its hash is the chain id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Genesis {
    pub chain: String,
    pub time: Timestamp,
    pub validators: Vec<GenesisValidator>,
}

impl Genesis {
    pub fn chain_id(&self) -> Hash {
        sha256(&self.to_bytes())
    }

    pub fn validator_keys(&self) -> Vec<PublicKey> {
        self.validators.iter().map(|v| v.key).collect()
    }
}

impl Canonical for BlockHeader {
    fn encode(&self, enc: &mut Encoder) {
        enc.value(&self.height);
        enc.value(&self.prev);
        enc.value(&self.time);
        enc.u32(self.tx_count);
        enc.value(&self.tx_root);
        enc.value(&self.receipts_root);
        enc.value(&self.state_root);
        enc.value(&self.proposer);
    }
    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Ok(BlockHeader {
            height: dec.value()?,
            prev: dec.value()?,
            time: dec.value()?,
            tx_count: dec.u32("tx count")?,
            tx_root: dec.value()?,
            receipts_root: dec.value()?,
            state_root: dec.value()?,
            proposer: dec.value()?,
        })
    }
}

impl Canonical for Certificate {
    fn encode(&self, enc: &mut Encoder) {
        match self {
            Certificate::Votes(votes) => {
                enc.u8(0);
                enc.seq(votes, |e, v| {
                    e.value(&v.validator);
                    e.value(&v.signature);
                });
            }
            Certificate::Engine(bytes) => {
                enc.u8(1);
                enc.bytes(bytes);
            }
        }
    }
    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        match dec.u8("certificate kind")? {
            0 => Ok(Certificate::Votes(dec.seq(
                limits::MAX_VALIDATORS,
                "certificate",
                |d| {
                    Ok(Vote {
                        validator: d.value()?,
                        signature: d.value()?,
                    })
                },
            )?)),
            1 => Ok(Certificate::Engine(
                dec.bytes(MAX_ENGINE_CERTIFICATE, "engine certificate")?
                    .to_vec(),
            )),
            _ => Err(DecodeError::Invalid("certificate kind")),
        }
    }
}

impl Canonical for Block {
    fn encode(&self, enc: &mut Encoder) {
        enc.value(&self.header);
        enc.value(&self.certificate);
        enc.seq(&self.txs, |e, t| e.value(t));
        enc.seq(&self.receipts, |e, r| e.value(r));
    }
    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let header: BlockHeader = dec.value()?;
        let certificate = dec.value()?;
        let txs = dec.seq(limits::MAX_BLOCK_TXS, "block transactions", |d| d.value())?;
        let receipts = dec.seq(limits::MAX_BLOCK_TXS, "block receipts", |d| d.value())?;
        if txs.len() != header.tx_count as usize || receipts.len() != txs.len() {
            return Err(DecodeError::Invalid("block transaction count"));
        }
        Ok(Block {
            header,
            certificate,
            txs,
            receipts,
        })
    }
}

impl Canonical for Genesis {
    fn encode(&self, enc: &mut Encoder) {
        enc.str(&self.chain);
        enc.value(&self.time);
        enc.seq(&self.validators, |e, v| {
            e.str(&v.name);
            e.value(&v.key);
        });
    }
    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Ok(Genesis {
            chain: checked_text(dec, limits::MAX_NAME, "chain name")?,
            time: dec.value()?,
            validators: dec.seq(limits::MAX_VALIDATORS, "validators", |d| {
                Ok(GenesisValidator {
                    name: checked_text(d, limits::MAX_NAME, "validator name")?,
                    key: d.value()?,
                })
            })?,
        })
    }
}
