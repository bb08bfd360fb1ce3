//! The block the engine orders: ehrchain's header and signed transactions (receipts are
//! derived by executing it), or the genesis at height 0. Its digest is the header hash, so the
//! engine's finalization certifies exactly what ehrchain's light clients check; the genesis's
//! digest is the chain id, which height 1 names as its parent.

use std::sync::Arc;

use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error as CodecError, Read, Write};
use commonware_consensus::{types::Height as EngineHeight, Block, BoundedBlock, Heightable};
use commonware_cryptography::{sha256::Digest, Digestible};
use ehrchain_crypto::Hash;
use ehrchain_types::{limits, BlockHeader, DecodeError, Decoder, Encoder, Genesis, SignedTx};

/// A block as consensus carries it. Cheap to clone; its encoding and digest are computed once.
#[derive(Clone, Debug)]
pub struct ChainBlock {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    body: Body,
    bytes: Vec<u8>,
    digest: Hash,
}

/// What a [`ChainBlock`] holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    Genesis(Genesis),
    Proposed {
        header: BlockHeader,
        txs: Vec<SignedTx>,
    },
}

const TAG_GENESIS: u8 = 0;
const TAG_PROPOSED: u8 = 1;

impl ChainBlock {
    pub fn genesis(genesis: Genesis) -> Self {
        Self::from_body(Body::Genesis(genesis))
    }

    pub fn proposed(header: BlockHeader, txs: Vec<SignedTx>) -> Self {
        Self::from_body(Body::Proposed { header, txs })
    }

    fn from_body(body: Body) -> Self {
        let mut enc = Encoder::new();
        let digest = match &body {
            Body::Genesis(g) => {
                enc.u8(TAG_GENESIS);
                enc.value(g);
                g.chain_id()
            }
            Body::Proposed { header, txs } => {
                enc.u8(TAG_PROPOSED);
                enc.value(header);
                enc.seq(txs, |e, t| e.value(t));
                header.hash()
            }
        };
        ChainBlock {
            inner: Arc::new(Inner {
                body,
                bytes: enc.into_bytes(),
                digest,
            }),
        }
    }

    /// Decodes a block's canonical bytes (without the length prefix the engine's codec adds).
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut dec = Decoder::new(bytes);
        let body = match dec.u8("block kind")? {
            TAG_GENESIS => Body::Genesis(dec.value()?),
            TAG_PROPOSED => {
                let header: BlockHeader = dec.value()?;
                let txs: Vec<SignedTx> =
                    dec.seq(limits::MAX_BLOCK_TXS, "block transactions", |d| d.value())?;
                if txs.len() != header.tx_count as usize {
                    return Err(DecodeError::Invalid("block transaction count"));
                }
                Body::Proposed { header, txs }
            }
            _ => return Err(DecodeError::Invalid("block kind")),
        };
        dec.finish()?;
        Ok(Self::from_body(body))
    }

    pub fn body(&self) -> &Body {
        &self.inner.body
    }

    /// The header, or `None` for the genesis.
    pub fn header(&self) -> Option<&BlockHeader> {
        match &self.inner.body {
            Body::Proposed { header, .. } => Some(header),
            Body::Genesis(_) => None,
        }
    }

    pub fn txs(&self) -> &[SignedTx] {
        match &self.inner.body {
            Body::Proposed { txs, .. } => txs,
            Body::Genesis(_) => &[],
        }
    }

    /// The header hash (the chain id for the genesis).
    pub fn hash(&self) -> Hash {
        self.inner.digest
    }

    pub fn bytes(&self) -> &[u8] {
        &self.inner.bytes
    }
}

impl PartialEq for ChainBlock {
    fn eq(&self, other: &Self) -> bool {
        self.inner.bytes == other.inner.bytes
    }
}
impl Eq for ChainBlock {}

pub fn to_digest(hash: &Hash) -> Digest {
    Digest(*hash.as_bytes())
}

pub fn from_digest(digest: &Digest) -> Hash {
    Hash(digest.0)
}

impl Write for ChainBlock {
    fn write(&self, buf: &mut impl BufMut) {
        let len = u32::try_from(self.inner.bytes.len()).expect("block size is bounded");
        buf.put_u32(len);
        buf.put_slice(&self.inner.bytes);
    }
}

impl EncodeSize for ChainBlock {
    fn encode_size(&self) -> usize {
        4 + self.inner.bytes.len()
    }
}

impl Read for ChainBlock {
    /// The largest encoded block accepted.
    type Cfg = usize;

    fn read_cfg(buf: &mut impl Buf, max: &usize) -> Result<Self, CodecError> {
        if buf.remaining() < 4 {
            return Err(CodecError::EndOfBuffer);
        }
        let len = buf.get_u32() as usize;
        if len > *max {
            return Err(CodecError::InvalidLength(len));
        }
        if buf.remaining() < len {
            return Err(CodecError::EndOfBuffer);
        }
        let mut bytes = vec![0; len];
        buf.copy_to_slice(&mut bytes);
        ChainBlock::decode(&bytes).map_err(|_| CodecError::Invalid("ChainBlock", "malformed block"))
    }
}

impl Digestible for ChainBlock {
    type Digest = Digest;

    fn digest(&self) -> Digest {
        to_digest(&self.inner.digest)
    }
}

impl Heightable for ChainBlock {
    fn height(&self) -> EngineHeight {
        EngineHeight::new(self.header().map_or(0, |h| h.height.0))
    }
}

impl Block for ChainBlock {
    fn parent(&self) -> Digest {
        match &self.inner.body {
            Body::Proposed { header, .. } => to_digest(&header.prev),
            Body::Genesis(_) => Digest([0; 32]),
        }
    }
}

impl BoundedBlock for ChainBlock {
    fn max_encode_size(max: &usize) -> usize {
        4 + *max
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::{Decode, Encode};
    use ehrchain_crypto::{SecretBytes, SigningKey};
    use ehrchain_types::{GenesisValidator, Height, Timestamp};

    fn genesis() -> Genesis {
        Genesis {
            chain: "test".into(),
            time: Timestamp(1),
            validators: vec![GenesisValidator {
                name: "v".into(),
                key: SigningKey::from_seed(&SecretBytes::new([1; 32])).public(),
            }],
        }
    }

    #[test]
    fn engine_codec_round_trips_and_digest_is_the_header_hash() {
        let g = ChainBlock::genesis(genesis());
        assert_eq!(g.hash(), genesis().chain_id());
        let header = BlockHeader {
            height: Height(1),
            prev: g.hash(),
            time: Timestamp(2),
            tx_count: 0,
            tx_root: Hash([0; 32]),
            receipts_root: Hash([0; 32]),
            state_root: Hash([9; 32]),
            proposer: genesis().validators[0].key,
        };
        let b = ChainBlock::proposed(header.clone(), vec![]);
        assert_eq!(b.hash(), header.hash());
        assert_eq!(b.parent(), to_digest(&g.hash()));
        let bytes = b.encode();
        let back = ChainBlock::decode_cfg(bytes.clone(), &1024).unwrap();
        assert_eq!(back, b);
        // A limit below the block's size refuses it; trailing bytes are refused.
        assert!(ChainBlock::decode_cfg(bytes.clone(), &8).is_err());
        let mut long = bytes.to_vec();
        long.push(0);
        assert!(ChainBlock::decode_cfg(bytes::Bytes::from(long), &1024).is_err());
    }
}
