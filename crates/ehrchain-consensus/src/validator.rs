//! A validator over real sockets: Commonware's tokio runtime on its own threads, the
//! authenticated `lookup` p2p network with the genesis validators as the only peers allowed
//! (each at the address the consortium configured), and the engine started on top.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{mpsc as std_mpsc, Arc};
use std::time::Duration;

use commonware_cryptography::{ed25519, ChaCha20Poly1305};
use commonware_p2p::{authenticated::lookup, Address, AddressableManager};
use commonware_runtime::{tokio as cw_tokio, Runner, Supervisor};
use commonware_stream::{
    cups::{self, Cups},
    sake::{self, Sake},
};
use commonware_utils::{ordered::Map, NZUsize};
use ehrchain_crypto::PublicKey;

use crate::engine::{channels, engine_key, start, EngineConfig, Network, QUOTA};
use crate::executor::{Executor, Ledger};
use crate::pool::Pool;
use crate::Gossip;

/// Where this validator listens and where every validator (itself included) is reached.
#[derive(Clone, Debug)]
pub struct PeerConfig {
    pub listen: SocketAddr,
    pub peers: Vec<(PublicKey, SocketAddr)>,
    /// The engine's journals and archives.
    pub storage: PathBuf,
    pub worker_threads: usize,
}

/// Handles to a validator running on its own threads.
pub struct Validator<L: Ledger> {
    pub gossip: Gossip,
    pub executor: Arc<Executor<L>>,
}

/// Starts the validator's runtime thread and waits until its engine is up.
pub fn spawn<L: Ledger>(
    engine: EngineConfig,
    peers: PeerConfig,
    ledger: L,
    pool: Pool,
    on_fatal: Arc<dyn Fn(String) + Send + Sync>,
) -> std::io::Result<Validator<L>> {
    let (ready_tx, ready_rx) = std_mpsc::channel();
    std::thread::Builder::new()
        .name("ehrchain-consensus".into())
        .spawn(move || {
            cw_tokio::Runner::new(runtime_config(&peers)).start(|env| async move {
                let net = network(&env, &engine, &peers);
                let running = start(env.child("engine"), engine, ledger, pool, net, on_fatal).await;
                let _ = ready_tx.send((running.gossip.clone(), running.executor.clone()));
                // The validator runs until the process exits.
                let _keep = running;
                futures::future::pending::<()>().await;
            });
        })?;
    let (gossip, executor) = ready_rx
        .recv()
        .map_err(|_| std::io::Error::other("consensus failed to start"))?;
    Ok(Validator { gossip, executor })
}

/// A bare validator ([`crate::bare`]) running on its own thread; dropping it stops it.
pub struct BareValidator {
    pub counts: Arc<crate::bare::BareCounts>,
    stop: Option<futures::channel::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for BareValidator {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts a bare validator on its own runtime thread, with the same p2p network and engine
/// settings as [`spawn`].
pub fn spawn_bare(
    engine: EngineConfig,
    peers: PeerConfig,
    txs: Vec<ehrchain_types::SignedTx>,
) -> std::io::Result<BareValidator> {
    let (ready_tx, ready_rx) = std_mpsc::channel();
    let (stop, stopped) = futures::channel::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("ehrchain-bare".into())
        .spawn(move || {
            cw_tokio::Runner::new(runtime_config(&peers)).start(|env| async move {
                let net = network(&env, &engine, &peers);
                let running = crate::bare::start(env.child("engine"), engine, txs, net).await;
                let _ = ready_tx.send(running.counts.clone());
                // Runs until the handle is dropped; the runtime's tasks end with it.
                let _ = stopped.await;
                for h in running.handles {
                    h.abort();
                }
            });
        })?;
    let counts = ready_rx
        .recv()
        .map_err(|_| std::io::Error::other("bare consensus failed to start"))?;
    Ok(BareValidator {
        counts,
        stop: Some(stop),
        thread: Some(thread),
    })
}

fn runtime_config(peers: &PeerConfig) -> cw_tokio::Config {
    cw_tokio::Config::new()
        .with_worker_threads(peers.worker_threads.max(1))
        .with_storage_directory(peers.storage.clone())
        .with_tcp_nodelay(Some(true))
        .with_catch_panics(false)
}

/// The authenticated `lookup` network with every configured validator as the only peers
/// allowed, its channels registered at [`QUOTA`], started.
fn network(
    env: &cw_tokio::Context,
    engine: &EngineConfig,
    peers: &PeerConfig,
) -> Network<
    impl commonware_p2p::Sender<PublicKey = ed25519::PublicKey>,
    impl commonware_p2p::Receiver<PublicKey = ed25519::PublicKey>,
    impl commonware_p2p::Provider<PublicKey = ed25519::PublicKey> + Sync,
    impl commonware_p2p::Blocker<PublicKey = ed25519::PublicKey> + Sync,
> {
    let private = engine_key(&engine.key);
    let namespace = engine.namespace();
    let p2p = lookup::Config::local(
        Cups::<_, ChaCha20Poly1305>::new(
            Sake {
                signer: private.clone(),
                synchrony_bound: Duration::from_secs(5),
                max_handshake_age: Duration::from_secs(10),
                version: sake::Version::V1,
            },
            cups::Version::V1,
        ),
        &namespace,
        peers.listen,
        NZUsize!(peers.peers.len().max(1)),
        engine.max_message_size(),
        NZUsize!(4096),
    );
    let (mut network, mut oracle) = lookup::Network::new(env.child("p2p"), p2p);
    let addresses: Map<ed25519::PublicKey, Address> = Map::from_iter_dedup(
        peers
            .peers
            .iter()
            .map(|(k, a)| (crate::engine::to_engine_public(k), Address::from(*a))),
    );
    oracle.track(0, addresses);
    let mut reg = |c| network.register(c, QUOTA);
    let net = Network {
        votes: reg(channels::VOTES),
        certificates: reg(channels::CERTIFICATES),
        resolver: reg(channels::RESOLVER),
        backfill: reg(channels::BACKFILL),
        blocks: reg(channels::BLOCKS),
        txs: reg(channels::TXS),
        peers: oracle.clone(),
        blocker: oracle,
    };
    network.start();
    net
}
