//! Wiring one validator: Simplex (votes, certificates, its resolver), marshal (ordered delivery
//! of finalized blocks, backfill from peers, its archives), the buffered broadcast of proposed
//! blocks, and ehrchain's transaction gossip, over whichever p2p the caller provides (the
//! authenticated `lookup` network in production, the simulated one in tests).

use std::num::NonZeroU16;
use std::sync::Arc;
use std::time::Duration;

use commonware_broadcast::buffered;
use commonware_codec::DecodeExt;
use commonware_consensus::{
    marshal::{
        self,
        core::{Actor, Mailbox},
        resolver::p2p as marshal_resolver,
        standard::{Inline, Standard},
        Update,
    },
    simplex::{
        self,
        config::{Floor, ForwardPolicy, SkipBudget, SkipPolicy},
        elector::RoundRobin,
    },
    types::{Epoch, FixedEpocher, ViewDelta},
    Application, Reporter,
};
use commonware_cryptography::{
    certificate::ConstantProvider, ed25519, sha256::Sha256, Digested, Signer,
};
use commonware_p2p::{Blocker, Provider, Receiver, Recipients, Sender};
use commonware_parallel::Sequential;
use commonware_runtime::{
    buffer::paged::CacheRef, Clock, Handle, Metrics, Quota, Spawner, Storage, Supervisor,
};
use commonware_storage::archive::immutable;
use commonware_utils::{ordered::Set, NZDuration, NZUsize, NZU16, NZU32, NZU64};
use ehrchain_crypto::SigningKey;
use ehrchain_ledger::StateView;
use ehrchain_types::{limits, verify_all, Decoder, Encoder, Genesis, SignedTx};
use futures::channel::mpsc;
use futures::{FutureExt, StreamExt};

use crate::app::{App, Finalizer};
use crate::block::{to_digest, ChainBlock};
use crate::executor::{Executor, Ledger};
use crate::pool::Pool;
use crate::Scheme;

/// p2p channel numbers; every validator must agree on them.
pub mod channels {
    pub const VOTES: u64 = 0;
    pub const CERTIFICATES: u64 = 1;
    pub const RESOLVER: u64 = 2;
    pub const BACKFILL: u64 = 3;
    pub const BLOCKS: u64 = 4;
    pub const TXS: u64 = 5;
    pub const ALL: [u64; 6] = [VOTES, CERTIFICATES, RESOLVER, BACKFILL, BLOCKS, TXS];
}

/// The per-channel rate every peer is allowed: generous (the consortium is allow-listed), with a
/// burst of 256 messages. The p2p layer preallocates each channel's inbound mailbox, and the
/// router's, at (peers × burst) slots of about 1.2 KB: with the default burst (the rate itself,
/// 100,000) that was 0.7 GB per node alone and about 3 GB per validator with four peers, which
/// is why seven in-process validators ran out of 24 GB. Bursts beyond 256 from one peer between
/// two drains are dropped, like any mailbox overflow; consensus retries and gossip is
/// best-effort.
pub const QUOTA: Quota = Quota::per_second(NZU32!(100_000)).allow_burst(NZU32!(256));

/// What the engine needs of its runtime: Commonware's tokio runtime in production, the
/// deterministic one in simulation tests.
pub trait EngineRuntime:
    Clock + rand_core::CryptoRng + Spawner + Storage + Metrics + Supervisor + Send + Sync + 'static
{
}

impl<T> EngineRuntime for T where
    T: Clock
        + rand_core::CryptoRng
        + Spawner
        + Storage
        + Metrics
        + Supervisor
        + Send
        + Sync
        + 'static
{
}

/// A validator's consensus settings.
#[derive(Clone)]
pub struct EngineConfig {
    pub genesis: Genesis,
    pub key: SigningKey,
    /// Storage partition prefix for the engine's journals and archives.
    pub partition: String,
    pub max_block_txs: usize,
    /// How long a view waits for its leader's proposal before voting to skip it.
    pub leader_timeout: Duration,
    pub certification_timeout: Duration,
    pub timeout_retry: Duration,
    pub fetch_timeout: Duration,
    /// Fault injection for simulation tests of Byzantine validators; `None` in production.
    pub fault: Option<crate::executor::Fault>,
}

impl EngineConfig {
    pub fn new(genesis: Genesis, key: SigningKey, partition: impl Into<String>) -> Self {
        EngineConfig {
            genesis,
            key,
            partition: partition.into(),
            max_block_txs: 5_000,
            leader_timeout: Duration::from_millis(1_000),
            certification_timeout: Duration::from_millis(2_000),
            timeout_retry: Duration::from_millis(3_000),
            fetch_timeout: Duration::from_millis(1_000),
            fault: None,
        }
    }

    /// The largest encoded block: every transaction at the size limit.
    pub fn max_block_bytes(&self) -> usize {
        64 + self.max_block_txs * (limits::MAX_TX_BYTES + 8)
    }

    /// The p2p message limit that admits every message the engine sends (sized with marshal's
    /// helper) and a gossip batch.
    pub fn max_message_size(&self) -> u32 {
        let n = self.genesis.validators.len().max(1) as u32;
        let engine =
            marshal::max_payload_size::<Standard<ChainBlock>, Scheme>(n, &self.max_block_bytes());
        let gossip = 64 + GOSSIP_BATCH * (limits::MAX_TX_BYTES + 8);
        u32::try_from(engine.max(gossip) + 1024).expect("message limit fits u32")
    }

    /// The namespace consensus signatures are made under: one per chain.
    pub fn namespace(&self) -> Vec<u8> {
        namespace(&self.genesis.chain_id())
    }
}

/// The namespace consensus signatures are made under for the chain `chain_id`.
pub fn namespace(chain_id: &ehrchain_crypto::Hash) -> Vec<u8> {
    format!("ehrchain/consensus/{chain_id}").into_bytes()
}

/// Converts ehrchain's validator key to the engine's (same Ed25519 seed, same public key).
pub fn engine_key(key: &SigningKey) -> ed25519::PrivateKey {
    ed25519::PrivateKey::decode(bytes::Bytes::copy_from_slice(&key.seed().expose()[..]))
        .expect("32-byte seed")
}

/// The same Ed25519 public key in the engine's type.
pub fn to_engine_public(key: &ehrchain_crypto::PublicKey) -> ed25519::PublicKey {
    ed25519::PublicKey::decode(bytes::Bytes::copy_from_slice(&key.as_bytes()[..]))
        .expect("validated key")
}

/// The genesis validators as the engine's ordered participant set.
pub fn participants(genesis: &Genesis) -> Set<ed25519::PublicKey> {
    Set::from_iter_dedup(genesis.validators.iter().map(|v| to_engine_public(&v.key)))
}

/// The engine's p2p endpoints for one validator.
pub struct Network<S, R, M, B> {
    pub votes: (S, R),
    pub certificates: (S, R),
    pub resolver: (S, R),
    pub backfill: (S, R),
    pub blocks: (S, R),
    pub txs: (S, R),
    /// Who the peers are (for backfill and broadcast).
    pub peers: M,
    /// How to block a peer that misbehaves.
    pub blocker: B,
}

/// A running validator's consensus.
pub struct Running<L: Ledger> {
    pub executor: Arc<Executor<L>>,
    pub gossip: Gossip,
    pub marshal: Mailbox<Scheme, Standard<ChainBlock>>,
    pub handles: Vec<Handle<()>>,
}

impl<L: Ledger> Running<L> {
    /// Stops every task of this validator (a crash, in simulation).
    pub fn abort(self) {
        for h in self.handles {
            h.abort();
        }
    }
}

const GOSSIP_BATCH: usize = 512;
/// Inbound gossip messages taken together at most (each up to [`GOSSIP_BATCH`] transactions).
const GOSSIP_COALESCE: usize = 16;

/// Sends transactions this node admitted to every other validator, so whoever leads next can
/// propose them.
#[derive(Clone)]
pub struct Gossip {
    tx: mpsc::UnboundedSender<Vec<SignedTx>>,
}

impl Gossip {
    pub fn send(&self, txs: Vec<SignedTx>) {
        for chunk in txs.chunks(GOSSIP_BATCH) {
            let _ = self.tx.unbounded_send(chunk.to_vec());
        }
    }
}

/// Starts a validator's consensus. `ledger` must already hold the genesis state.
pub async fn start<E, L, S, R, M, B>(
    env: E,
    cfg: EngineConfig,
    ledger: L,
    pool: Pool,
    net: Network<S, R, M, B>,
    on_fatal: Arc<dyn Fn(String) + Send + Sync>,
) -> Running<L>
where
    E: EngineRuntime,
    L: Ledger,
    S: Sender<PublicKey = ed25519::PublicKey>,
    R: Receiver<PublicKey = ed25519::PublicKey>,
    M: Provider<PublicKey = ed25519::PublicKey> + Sync,
    B: Blocker<PublicKey = ed25519::PublicKey> + Sync,
{
    let exec =
        Arc::new(Executor::new(ledger, pool.clone(), cfg.genesis.clone()).with_fault(cfg.fault));
    let app = App::new(exec.clone(), cfg.key.public(), cfg.max_block_txs);
    let finalizer_env = env.child("finalizer");
    let finalizer_exec = exec.clone();
    let (marshal, txs, mut handles) = wire(&env, &cfg, app, net, move |mailbox| {
        Finalizer::start(finalizer_env, finalizer_exec, mailbox, on_fatal)
    })
    .await;
    let (gossip, gossip_handles) = start_gossip(env.child("gossip"), exec.clone(), txs);
    handles.extend(gossip_handles);

    Running {
        executor: exec,
        gossip,
        marshal,
        handles,
    }
}

/// The engine stack around an application: marshal (with its archives and the backfill
/// resolver), buffered block broadcast, and Simplex through marshal's inline-verification
/// wrapper. `finalizer` receives marshal's mailbox and returns what finalized blocks are
/// reported to. Shared by the ledger's [`start`] and the bare baseline
/// ([`crate::bare`]), so that the two differ only in the application. Returns marshal's
/// mailbox, the unused transaction-gossip channel and the tasks' handles.
pub(crate) async fn wire<E, A, F, S, R, M, B>(
    env: &E,
    cfg: &EngineConfig,
    app: A,
    net: Network<S, R, M, B>,
    finalizer: impl FnOnce(Mailbox<Scheme, Standard<ChainBlock>>) -> F,
) -> (
    Mailbox<Scheme, Standard<ChainBlock>>,
    (S, R),
    Vec<Handle<()>>,
)
where
    E: EngineRuntime,
    A: Application<
            E,
            SigningScheme = Scheme,
            Context = simplex::types::Context<
                commonware_cryptography::sha256::Digest,
                ed25519::PublicKey,
            >,
            Block = ChainBlock,
            Input = (),
        > + Clone,
    F: Reporter<Activity = Update<ChainBlock>>,
    S: Sender<PublicKey = ed25519::PublicKey>,
    R: Receiver<PublicKey = ed25519::PublicKey>,
    M: Provider<PublicKey = ed25519::PublicKey> + Sync,
    B: Blocker<PublicKey = ed25519::PublicKey> + Sync,
{
    let namespace = cfg.namespace();
    let private = engine_key(&cfg.key);
    let me = private.public_key();
    let scheme = Scheme::signer(&namespace, participants(&cfg.genesis), private)
        .expect("this validator is in the genesis");
    let genesis_block = ChainBlock::genesis(cfg.genesis.clone());
    let page_cache = CacheRef::new(PAGE_SIZE, NZUsize!(1024));
    let mailbox_size = NZUsize!(1024);
    let max_block_bytes = cfg.max_block_bytes();
    let mut handles = Vec::new();

    // Marshal's archives: finalized blocks and their certificates, by height.
    let finalizations = immutable::Archive::init(
        env.child("finalizations"),
        archive_config(
            &format!("{}-finalizations", cfg.partition),
            &page_cache,
            <Scheme as commonware_cryptography::certificate::Verifier>::certificate_codec_config_unbounded(),
        ),
    )
    .await
    .expect("finalizations archive opens");
    let blocks = immutable::Archive::init(
        env.child("blocks"),
        archive_config(
            &format!("{}-blocks", cfg.partition),
            &page_cache,
            max_block_bytes,
        ),
    )
    .await
    .expect("blocks archive opens");

    let epocher = FixedEpocher::new(NZU64!(1 << 40));
    let marshal_cfg = marshal::Config {
        provider: ConstantProvider::new(scheme.clone()),
        epocher: epocher.clone(),
        start: marshal::Start::Genesis(Digested::precomputed(
            genesis_block.clone(),
            to_digest(&genesis_block.hash()),
        )),
        mailbox_size,
        view_retention: ViewDelta::new(10),
        max_repair: NZUsize!(64),
        max_pending_acks: NZUsize!(16),
        block_codec_config: max_block_bytes,
        partition_prefix: format!("{}-marshal", cfg.partition),
        prunable_items_per_section: NZU64!(4096),
        replay_buffer: NZUsize!(1 << 20),
        key_write_buffer: NZUsize!(1 << 20),
        value_write_buffer: NZUsize!(1 << 20),
        page_cache: page_cache.clone(),
        strategy: Sequential,
    };
    let (actor, marshal_mailbox, _floor) =
        Actor::init(env.child("marshal"), finalizations, blocks, marshal_cfg).await;

    let resolver = marshal_resolver::init(
        env.child("marshal_resolver"),
        marshal_resolver::Config {
            public_key: me.clone(),
            peer_provider: net.peers.clone(),
            blocker: net.blocker.clone(),
            mailbox_size,
            fetch_timeout: NZDuration!(cfg.fetch_timeout),
            fetch_retry_delay: Duration::from_millis(100),
            priority_requests: false,
            priority_responses: false,
        },
        net.backfill,
    );

    let (broadcast, buffer) = buffered::Engine::new(
        env.child("broadcast"),
        buffered::Config {
            public_key: me.clone(),
            mailbox_size,
            deque_size: 16,
            priority: false,
            codec_config: max_block_bytes,
            peer_provider: net.peers.clone(),
            strategy: Sequential,
        },
    );
    handles.push(broadcast.start(net.blocks));

    handles.push(actor.start(finalizer(marshal_mailbox.clone()), buffer, resolver));

    let inline = Inline::new(env.child("inline"), app, marshal_mailbox.clone(), epocher);
    let engine = simplex::Engine::new(
        env.child("simplex"),
        simplex::config::Config {
            scheme,
            elector: RoundRobin::<Sha256>::default(),
            blocker: net.blocker.clone(),
            automaton: inline.clone(),
            relay: inline.clone(),
            reporter: inline,
            track_historical_votes: true,
            strategy: Sequential,
            partition: format!("{}-simplex", cfg.partition),
            mailbox_size,
            epoch: Epoch::zero(),
            floor: Floor::Genesis(to_digest(&genesis_block.hash())),
            replay_buffer: NZUsize!(1 << 20),
            write_buffer: NZUsize!(1 << 20),
            page_cache,
            leader_timeout: cfg.leader_timeout,
            certification_timeout: cfg.certification_timeout,
            timeout_retry: cfg.timeout_retry,
            view_retention: ViewDelta::new(10),
            skip: SkipPolicy::Enabled {
                timeout: cfg.timeout_retry + Duration::from_millis(1),
                budget: SkipBudget::Participants,
            },
            fetch_timeout: NZDuration!(cfg.fetch_timeout),
            fetch_retry_delay: Duration::from_millis(100),
            forward: ForwardPolicy::Disabled,
        },
    );
    handles.push(engine.start(net.votes, net.certificates, net.resolver));

    (marshal_mailbox, net.txs, handles)
}

const PAGE_SIZE: NonZeroU16 = NZU16!(4096);

fn archive_config<C>(prefix: &str, page_cache: &CacheRef, codec: C) -> immutable::Config<C> {
    immutable::Config {
        metadata_partition: format!("{prefix}-metadata"),
        freezer_table_partition: format!("{prefix}-freezer-table"),
        freezer_table_initial_size: 1024,
        freezer_table_resize_frequency: 4,
        freezer_table_resize_chunk_size: 1024,
        freezer_key_partition: format!("{prefix}-freezer-key"),
        freezer_key_page_cache: page_cache.clone(),
        freezer_value_partition: format!("{prefix}-freezer-value"),
        freezer_value_target_size: 64 * 1024 * 1024,
        freezer_value_compression: None,
        ordinal_partition: format!("{prefix}-ordinal"),
        items_per_section: NZU64!(4096),
        codec_config: codec,
        replay_buffer: NZUsize!(1 << 20),
        freezer_key_write_buffer: NZUsize!(1 << 20),
        freezer_value_write_buffer: NZUsize!(1 << 20),
        ordinal_write_buffer: NZUsize!(1 << 20),
    }
}

fn encode_batch(txs: &[SignedTx]) -> Vec<u8> {
    let mut enc = Encoder::new();
    enc.seq(txs, |e, t| e.value(t));
    enc.into_bytes()
}

fn decode_batch(bytes: &[u8]) -> Option<Vec<SignedTx>> {
    let mut dec = Decoder::new(bytes);
    let txs = dec.seq(GOSSIP_BATCH, "gossip batch", |d| d.value()).ok()?;
    dec.finish().ok()?;
    Some(txs)
}

/// Outbound: transactions from admission to every peer, whatever has queued since the last
/// send in one message (up to [`GOSSIP_BATCH`]). Inbound: whatever peers' messages are waiting
/// is taken together, and each peer's transactions are checked as one slice of signatures
/// before they enter the pool (unless already there or committed).
///
/// Taking what is waiting, rather than one message at a time, lets batches grow with the load
/// without adding a wait: under light load a message is checked as soon as it arrives, and
/// under heavy load the messages that queued while the last batch was being checked form the
/// next one. A batched check costs about half as much per signature as a single one, and a
/// one-signature batch is a single check. Grouping by peer keeps a peer that gossips a bad
/// signature from making the others' transactions fall back to one-by-one checks.
fn start_gossip<E, L, S, R>(
    env: E,
    exec: Arc<Executor<L>>,
    (mut sender, mut receiver): (S, R),
) -> (Gossip, Vec<Handle<()>>)
where
    E: Spawner + Clock + Metrics + Supervisor,
    L: Ledger,
    S: Sender<PublicKey = ed25519::PublicKey>,
    R: Receiver<PublicKey = ed25519::PublicKey>,
{
    let (tx, mut rx) = mpsc::unbounded::<Vec<SignedTx>>();
    let out = env.child("out").spawn(move |_| async move {
        while let Some(mut batch) = rx.next().await {
            while batch.len() < GOSSIP_BATCH {
                match rx.try_recv() {
                    Ok(more) if batch.len() + more.len() <= GOSSIP_BATCH => batch.extend(more),
                    Ok(more) => {
                        let _ = sender.send(Recipients::All, encode_batch(&batch), false);
                        batch = more;
                    }
                    _ => break,
                }
            }
            let _ = sender.send(Recipients::All, encode_batch(&batch), false);
        }
    });
    let inbound = env.child("in").spawn(move |_| async move {
        while let Ok(first) = receiver.recv().await {
            let mut waiting = vec![first];
            while waiting.len() < GOSSIP_COALESCE {
                match receiver.recv().now_or_never() {
                    Some(Ok(m)) => waiting.push(m),
                    _ => break,
                }
            }
            let mut by_peer: Vec<(ed25519::PublicKey, Vec<SignedTx>)> = Vec::new();
            for (peer, msg) in waiting {
                let Some(txs) = decode_batch(msg.as_ref()) else {
                    tracing::warn!(%peer, "malformed transaction gossip");
                    continue;
                };
                match by_peer.iter_mut().find(|(p, _)| *p == peer) {
                    Some((_, all)) => all.extend(txs),
                    None => by_peer.push((peer, txs)),
                }
            }
            let Ok((_, snapshot)) = exec.ledger().committed() else {
                continue;
            };
            for (_, txs) in &mut by_peer {
                txs.retain(|t| {
                    let id = t.tx.id();
                    !exec.pool().contains(&id) && !matches!(snapshot.tx_location(&id), Ok(Some(_)))
                });
            }
            drop(snapshot);
            for (peer, txs) in by_peer {
                for v in verify_all(txs) {
                    match v {
                        Ok(v) => {
                            let _ = exec.pool().insert(v);
                        }
                        Err(e) => {
                            tracing::warn!(%peer, error = %e, "peer gossiped a bad transaction")
                        }
                    }
                }
            }
        }
    });
    (Gossip { tx }, vec![out, inbound])
}
