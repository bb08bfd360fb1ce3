//! The application Simplex drives through marshal's inline-verification wrapper: a leader
//! builds a block from the pool on its parent's state; every validator verifies a proposal by
//! re-executing it before voting; finalized blocks arrive in order at the [`Finalizer`], which
//! commits them and only then acknowledges them to marshal.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use commonware_actor::Feedback;
use commonware_codec::Encode;
use commonware_consensus::{
    marshal::{ancestry::Ancestry, core::Mailbox, standard::Standard, Update},
    simplex::types::Context,
    types::Height as EngineHeight,
    Application, Reporter,
};
use commonware_cryptography::{ed25519, sha256::Digest, Digested, Digestible};
use commonware_runtime::{Clock, Metrics, Spawner};
use commonware_utils::Acknowledgement;
use ehrchain_crypto::PublicKey;
use ehrchain_types::{Certificate, Timestamp};
use futures::channel::mpsc;
use futures::StreamExt;

use crate::block::{from_digest, ChainBlock};
use crate::executor::{Executor, Ledger};
use crate::Scheme;

/// How often an idle leader looks at the pool again while its proposal is pending.
const IDLE_POLL: Duration = Duration::from_millis(2);

/// Builds and verifies blocks for one validator.
pub struct App<L: Ledger> {
    exec: Arc<Executor<L>>,
    me: PublicKey,
    max_block_txs: usize,
}

impl<L: Ledger> Clone for App<L> {
    fn clone(&self) -> Self {
        App {
            exec: self.exec.clone(),
            me: self.me,
            max_block_txs: self.max_block_txs,
        }
    }
}

impl<L: Ledger> App<L> {
    pub fn new(exec: Arc<Executor<L>>, me: PublicKey, max_block_txs: usize) -> Self {
        App {
            exec,
            me,
            max_block_txs,
        }
    }

    /// Executes every block of `ancestry` this validator has not (newest first in the stream),
    /// oldest first, stopping at one it knows. Returns false if one of them is invalid.
    async fn catch_up(&self, mut ancestry: impl Ancestry<ChainBlock>) -> bool {
        let mut unknown = Vec::new();
        while let Some(block) = ancestry.next().await {
            match self.exec.needs_execution(block.inner()) {
                Ok(true) => unknown.push(block.inner().clone()),
                Ok(false) => break,
                Err(e) => {
                    tracing::debug!(error = %e, "ancestry refused");
                    return false;
                }
            }
        }
        for block in unknown.iter().rev() {
            if let Err(e) = self.exec.verify(block) {
                self.exec.note_refused();
                tracing::warn!(
                    height = ?block.header().map(|h| h.height.0),
                    proposer = ?block.header().map(|h| h.proposer.to_string()),
                    error = %e,
                    "proposal refused: a validator proposed an invalid block"
                );
                return false;
            }
        }
        true
    }
}

fn now<E: Clock>(env: &E) -> Timestamp {
    Timestamp(
        env.current()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0),
    )
}

pub(crate) fn to_ours(key: &ed25519::PublicKey) -> Option<PublicKey> {
    let bytes: [u8; 32] = key.as_ref().try_into().ok()?;
    PublicKey::from_bytes(&bytes).ok()
}

impl<E, L> Application<E> for App<L>
where
    E: Clock + Spawner + Metrics + Send + Sync + 'static,
    L: Ledger,
{
    type SigningScheme = Scheme;
    type Context = Context<Digest, ed25519::PublicKey>;
    type Block = ChainBlock;
    type Input = ();

    async fn propose(
        &mut self,
        (env, ctx): (E, Self::Context),
        ancestry: impl Ancestry<Self::Block>,
        _input: (),
    ) -> Option<Digested<Self::Block>> {
        let parent = from_digest(&ctx.parent.1);
        if !self.exec.knows(&parent).unwrap_or(false) && !self.catch_up(ancestry).await {
            return None;
        }
        // Wait for work rather than propose empty blocks: if nothing arrives, the view times out
        // and is skipped, which costs no block. Consensus drops this future when it moves on.
        loop {
            if self.exec.has_work(&parent) {
                break;
            }
            env.sleep(IDLE_POLL).await;
        }
        match self
            .exec
            .build(&parent, self.me, now(&env), self.max_block_txs)
        {
            Ok(Some(block)) => {
                let digest = block.digest();
                Some(Digested::precomputed(block, digest))
            }
            Ok(None) => None,
            Err(e) => {
                tracing::error!(error = %e, "cannot build a block");
                None
            }
        }
    }

    async fn verify(
        &mut self,
        (_env, ctx): (E, Self::Context),
        ancestry: impl Ancestry<Self::Block>,
    ) -> bool {
        let Some(block) = ancestry.peek().cloned() else {
            return false;
        };
        let Some(header) = block.inner().header() else {
            return false;
        };
        // The proposer named in the header must be the view's leader.
        if to_ours(&ctx.leader) != Some(header.proposer) {
            tracing::warn!(height = header.height.0, "proposal names another proposer");
            return false;
        }
        self.catch_up(ancestry).await
    }
}

/// Receives marshal's ordered finalized blocks and commits them on its own task.
#[derive(Clone)]
pub struct Finalizer {
    tx: mpsc::UnboundedSender<Update<ChainBlock>>,
}

impl Reporter for Finalizer {
    type Activity = Update<ChainBlock>;

    fn report(&mut self, activity: Self::Activity) -> Feedback {
        // A closed channel means the node is stopping; marshal redelivers unacknowledged blocks
        // on restart.
        let _ = self.tx.unbounded_send(activity);
        Feedback::Ok
    }
}

impl Finalizer {
    /// Starts the task that commits finalized blocks in order, acknowledging each only once it
    /// is durable in the ledger.
    pub fn start<E, L>(
        env: E,
        exec: Arc<Executor<L>>,
        marshal: Mailbox<Scheme, Standard<ChainBlock>>,
        on_fatal: Arc<dyn Fn(String) + Send + Sync>,
    ) -> Finalizer
    where
        E: Spawner + Clock + Metrics,
        L: Ledger,
    {
        let (tx, mut rx) = mpsc::unbounded::<Update<ChainBlock>>();
        env.spawn(move |_| async move {
            while let Some(update) = rx.next().await {
                let Update::Block(block, ack) = update else {
                    continue;
                };
                let Some(header) = block.inner().header() else {
                    ack.acknowledge();
                    continue;
                };
                let certificate = match marshal
                    .get_finalization(EngineHeight::new(header.height.0))
                    .await
                {
                    Some(f) => Certificate::Engine(f.encode().to_vec()),
                    // Finalized through a descendant's certificate only.
                    None => Certificate::Engine(Vec::new()),
                };
                match exec.finalize(block.inner(), certificate) {
                    Ok(_) => ack.acknowledge(),
                    Err(e) => {
                        // Never acknowledge what is not committed: dropping the acknowledgement
                        // stops marshal, and the node reports why.
                        tracing::error!(error = %e, "finalized block cannot be committed");
                        on_fatal(e.to_string());
                        drop(ack);
                        return;
                    }
                }
            }
        });
        Finalizer { tx }
    }
}
