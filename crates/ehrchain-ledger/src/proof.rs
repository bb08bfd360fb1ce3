//! Inclusion proofs a patient (or anyone holding the validators' public keys) checks without
//! trusting a node: a certified header, the transaction and its receipt, and their RFC 6962 audit
//! paths to the header's roots.

use ehrchain_crypto::{Hash, PublicKey};
use ehrchain_types::{
    limits, Block, BlockHeader, Canonical, Certificate, DecodeError, Decoder, Encoder, Receipt,
    SignedTx,
};

use crate::execute::receipts_root;
use crate::merkle;

/// Proof that a transaction, with its receipt, is in a certified block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    pub header: BlockHeader,
    pub certificate: Certificate,
    pub index: u32,
    pub tx: SignedTx,
    pub receipt: Receipt,
    pub tx_path: Vec<Hash>,
    pub receipt_path: Vec<Hash>,
}

/// Why a proof was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("the block header is not signed by a quorum of the given validators")]
    Certificate,
    #[error("the transaction is not at that position under the header's transaction root")]
    TxPath,
    #[error("the receipt is not at that position under the header's receipts root")]
    ReceiptPath,
    #[error("the receipt is for another transaction")]
    ReceiptMismatch,
}

impl InclusionProof {
    /// Builds the proof of transaction `index` of `block`.
    pub fn build(block: &Block, index: usize) -> Option<InclusionProof> {
        let tx = block.txs.get(index)?.clone();
        let receipt = *block.receipts.get(index)?;
        let tx_leaves: Vec<Hash> = block
            .txs
            .iter()
            .map(|t| merkle::leaf_hash(&t.to_bytes()))
            .collect();
        let receipt_leaves: Vec<Hash> = block
            .receipts
            .iter()
            .map(|r| merkle::leaf_hash(&r.to_bytes()))
            .collect();
        Some(InclusionProof {
            header: block.header.clone(),
            certificate: block.certificate.clone(),
            index: u32::try_from(index).ok()?,
            tx,
            receipt,
            tx_path: merkle::inclusion_path(&tx_leaves, index),
            receipt_path: merkle::inclusion_path(&receipt_leaves, index),
        })
    }

    /// Checks the proof against a validator set; on success the transaction and its receipt are
    /// committed at `self.header.height`.
    pub fn verify(&self, validators: &[PublicKey]) -> Result<(), ProofError> {
        self.verify_with(validators, &VotesOnly)
    }

    /// [`Self::verify`] with the certificate checked by `check` (the consensus engine's, for
    /// blocks it finalized).
    pub fn verify_with(
        &self,
        validators: &[PublicKey],
        check: &dyn CertificateCheck,
    ) -> Result<(), ProofError> {
        let header_hash = self.header.hash();
        if !check.certifies(&self.certificate, validators, &header_hash) {
            return Err(ProofError::Certificate);
        }
        let size = u64::from(self.header.tx_count);
        let tx_leaf = merkle::leaf_hash(&self.tx.to_bytes());
        if !merkle::verify_inclusion(
            &tx_leaf,
            u64::from(self.index),
            size,
            &self.tx_path,
            &self.header.tx_root,
        ) {
            return Err(ProofError::TxPath);
        }
        if self.receipt.tx != self.tx.tx.id() {
            return Err(ProofError::ReceiptMismatch);
        }
        let receipt_leaf = merkle::leaf_hash(&self.receipt.to_bytes());
        if !merkle::verify_inclusion(
            &receipt_leaf,
            u64::from(self.index),
            size,
            &self.receipt_path,
            &self.header.receipts_root,
        ) {
            return Err(ProofError::ReceiptPath);
        }
        Ok(())
    }
}

impl Canonical for InclusionProof {
    fn encode(&self, enc: &mut Encoder) {
        enc.fixed(b"EHRP");
        enc.value(&self.header);
        enc.value(&self.certificate);
        enc.u32(self.index);
        enc.value(&self.tx);
        enc.value(&self.receipt);
        enc.seq(&self.tx_path, |e, h| e.value(h));
        enc.seq(&self.receipt_path, |e, h| e.value(h));
    }
    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        if dec.take(4, "proof magic")? != b"EHRP" {
            return Err(DecodeError::Invalid("proof magic"));
        }
        Ok(InclusionProof {
            header: dec.value()?,
            certificate: dec.value()?,
            index: dec.u32("index")?,
            tx: dec.value()?,
            receipt: dec.value()?,
            tx_path: dec.seq(64, "tx path", |d| d.value())?,
            receipt_path: dec.seq(64, "receipt path", |d| d.value())?,
        })
    }
}

/// How a header's certificate is checked against a validator set. The core checks ed25519
/// [`Certificate::Votes`]; the consensus crate implements this for the engine's finalizations, so
/// the core never names the engine.
pub trait CertificateCheck {
    fn certifies(
        &self,
        certificate: &Certificate,
        validators: &[PublicKey],
        header_hash: &Hash,
    ) -> bool;
}

/// Accepts vote certificates only.
pub struct VotesOnly;

impl CertificateCheck for VotesOnly {
    fn certifies(
        &self,
        certificate: &Certificate,
        validators: &[PublicKey],
        header_hash: &Hash,
    ) -> bool {
        certificate.is_quorum_of(validators, header_hash)
    }
}

/// Why a stored or received block does not check out. Each names what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    #[error("block {height}: expected height {expected}")]
    Height { height: u64, expected: u64 },
    #[error("block {0}: previous-hash link broken")]
    Link(u64),
    #[error("block {0}: transaction root does not match its transactions")]
    TxRoot(u64),
    #[error("block {0}: receipts root does not match its receipts")]
    ReceiptsRoot(u64),
    #[error("block {0}: certificate is not a quorum of the validators")]
    Certificate(u64),
    #[error("block {0}: time went backwards")]
    Time(u64),
    #[error("block {0}: more transactions than allowed")]
    TooLarge(u64),
}

/// Checks a block's structure against its parent: height, hash link, time, Merkle roots and
/// certificate. (Re-executing it to check the state root is the caller's next step.)
pub fn check_block(
    block: &Block,
    parent_hash: &Hash,
    parent_height: u64,
    parent_time: u64,
    validators: &[PublicKey],
    check: &dyn CertificateCheck,
) -> Result<(), BlockError> {
    let h = block.header.height.0;
    if h != parent_height + 1 {
        return Err(BlockError::Height {
            height: h,
            expected: parent_height + 1,
        });
    }
    if block.txs.len() > limits::MAX_BLOCK_TXS {
        return Err(BlockError::TooLarge(h));
    }
    if block.header.prev != *parent_hash {
        return Err(BlockError::Link(h));
    }
    if block.header.time.0 < parent_time {
        return Err(BlockError::Time(h));
    }
    let tx_bytes: Vec<Vec<u8>> = block.txs.iter().map(Canonical::to_bytes).collect();
    if block.header.tx_count as usize != block.txs.len()
        || merkle::root(&tx_bytes) != block.header.tx_root
    {
        return Err(BlockError::TxRoot(h));
    }
    if receipts_root(&block.receipts) != block.header.receipts_root {
        return Err(BlockError::ReceiptsRoot(h));
    }
    if !check.certifies(&block.certificate, validators, &block.header.hash()) {
        return Err(BlockError::Certificate(h));
    }
    Ok(())
}
