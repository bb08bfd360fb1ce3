//! The bare baseline of the performance evaluation: the engine stack exactly as a ledger
//! validator runs it ([`crate::engine::wire`]: Simplex through marshal's inline-verification
//! wrapper, marshal with its archives and backfill, buffered block broadcast, the same p2p
//! channels, quotas and storage), around an application that does none of ehrchain's work.
//!
//! A leader proposes, as soon as its view starts, a block of a fixed set of signed transactions
//! (the same bytes a ledger block of that size carries). Validators accept any proposal that
//! names the view's leader, without checking signatures or executing it. Finalized blocks are
//! counted and acknowledged at once; nothing is stored beyond the engine's own journals and
//! archives. So what separates the ledger's throughput from this one's is ehrchain's own
//! work: signature checks, execution, the pool and transaction gossip, and commits to redb.
//!
//! Commonware's own `examples/log` (one random digest per view, with a rate limit of ten
//! messages per second per channel and a terminal UI) cannot be driven by a load harness; this
//! is the same idea on our wiring.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use commonware_actor::Feedback;
use commonware_consensus::{
    marshal::{ancestry::Ancestry, Update},
    simplex::types::Context,
    Application, Reporter,
};
use commonware_cryptography::{ed25519, sha256::Digest, Digested, Digestible};
use commonware_p2p::{Blocker, Provider, Receiver, Sender};
use commonware_runtime::{Clock, Handle, Metrics, Spawner};
use commonware_utils::Acknowledgement;
use ehrchain_crypto::{Hash, PublicKey};
use ehrchain_types::{BlockHeader, Height, SignedTx, Timestamp};
use futures::StreamExt;

use crate::app::to_ours;
use crate::block::{from_digest, ChainBlock};
use crate::engine::{wire, EngineConfig, EngineRuntime, Network};
use crate::Scheme;

/// Finalized blocks and the transactions they carried, as one validator saw them.
#[derive(Default, Debug)]
pub struct BareCounts {
    pub blocks: AtomicU64,
    pub txs: AtomicU64,
}

/// A running bare validator.
pub struct BareRunning {
    pub counts: Arc<BareCounts>,
    pub handles: Vec<Handle<()>>,
}

#[derive(Clone)]
struct BareApp {
    me: PublicKey,
    txs: Arc<Vec<SignedTx>>,
}

impl<E> Application<E> for BareApp
where
    E: Clock + Spawner + Metrics + Send + Sync + 'static,
{
    type SigningScheme = Scheme;
    type Context = Context<Digest, ed25519::PublicKey>;
    type Block = ChainBlock;
    type Input = ();

    async fn propose(
        &mut self,
        (env, ctx): (E, Self::Context),
        mut ancestry: impl Ancestry<Self::Block>,
        _input: (),
    ) -> Option<Digested<Self::Block>> {
        let parent = match ancestry.peek() {
            Some(p) => p.clone(),
            None => ancestry.next().await?,
        };
        let height = parent.inner().header().map_or(0, |h| h.height.0);
        let time = env
            .current()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let header = BlockHeader {
            height: Height(height + 1),
            prev: from_digest(&ctx.parent.1),
            time: Timestamp(time),
            tx_count: u32::try_from(self.txs.len()).ok()?,
            tx_root: Hash::ZERO,
            receipts_root: Hash::ZERO,
            state_root: Hash::ZERO,
            proposer: self.me,
        };
        let block = ChainBlock::proposed(header, self.txs.as_ref().clone());
        let digest = block.digest();
        Some(Digested::precomputed(block, digest))
    }

    async fn verify(
        &mut self,
        (_env, ctx): (E, Self::Context),
        ancestry: impl Ancestry<Self::Block>,
    ) -> bool {
        ancestry
            .peek()
            .and_then(|b| b.inner().header().map(|h| h.proposer))
            .is_some_and(|p| to_ours(&ctx.leader) == Some(p))
    }
}

#[derive(Clone)]
struct Count(Arc<BareCounts>);

impl Reporter for Count {
    type Activity = Update<ChainBlock>;

    fn report(&mut self, activity: Self::Activity) -> Feedback {
        if let Update::Block(block, ack) = activity {
            // The genesis is delivered too; it is not a finalized proposal.
            if block.inner().header().is_some() {
                self.0.blocks.fetch_add(1, Ordering::Relaxed);
                self.0
                    .txs
                    .fetch_add(block.inner().txs().len() as u64, Ordering::Relaxed);
            }
            ack.acknowledge();
        }
        Feedback::Ok
    }
}

/// Starts a bare validator whose every proposal carries `txs`.
pub async fn start<E, S, R, M, B>(
    env: E,
    cfg: EngineConfig,
    txs: Vec<SignedTx>,
    net: Network<S, R, M, B>,
) -> BareRunning
where
    E: EngineRuntime,
    S: Sender<PublicKey = ed25519::PublicKey>,
    R: Receiver<PublicKey = ed25519::PublicKey>,
    M: Provider<PublicKey = ed25519::PublicKey> + Sync,
    B: Blocker<PublicKey = ed25519::PublicKey> + Sync,
{
    let counts = Arc::new(BareCounts::default());
    let app = BareApp {
        me: cfg.key.public(),
        txs: Arc::new(txs),
    };
    let reporter = Count(counts.clone());
    let (_, _unused_gossip, handles) = wire(&env, &cfg, app, net, move |_| reporter).await;
    BareRunning { counts, handles }
}
