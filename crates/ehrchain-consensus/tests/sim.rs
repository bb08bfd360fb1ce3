//! Deterministic simulation of a consortium: real Simplex, marshal and gossip over Commonware's
//! simulated network and deterministic runtime, each validator executing into its own in-memory
//! ledger. Seeded and reproducible: a failing seed replays exactly.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use commonware_cryptography::ed25519;
use commonware_p2p::simulated::{self, Link, Network as SimNetwork, Oracle};
use commonware_runtime::{deterministic, Clock, Runner, Supervisor};
use commonware_utils::{probability, NZUsize};
use ehrchain_consensus::engine::{channels, participants, QUOTA};
use ehrchain_consensus::{
    start, EngineCheck, EngineConfig, Fault, Ledger, LedgerError, Network, Pool, Running, Tip,
};
use ehrchain_crypto::{DecryptionKey, SecretBytes, SigningKey};
use ehrchain_ledger::{CertificateCheck, MemoryState, StateChanges};
use ehrchain_types::{
    Block, Certificate, Genesis, GenesisValidator, Height, Outcome, SignedTx, Timestamp, Tx,
    TxBody, VerifiedTx,
};
use rand::SeedableRng;

/// An in-memory ledger: state, tip and the committed blocks.
#[derive(Clone)]
struct MemLedger {
    inner: Arc<Mutex<MemInner>>,
}

struct MemInner {
    state: MemoryState,
    tip: Tip,
    blocks: Vec<Block>,
}

impl MemLedger {
    fn new(genesis: &Genesis) -> Self {
        let (changes, root) = ehrchain_ledger::genesis_state(genesis);
        let mut state = MemoryState::default();
        state.apply(&changes);
        MemLedger {
            inner: Arc::new(Mutex::new(MemInner {
                state,
                tip: Tip {
                    height: Height(0),
                    hash: genesis.chain_id(),
                    time: genesis.time,
                    state_root: root,
                },
                blocks: Vec::new(),
            })),
        }
    }

    fn tip(&self) -> Tip {
        self.inner.lock().unwrap().tip
    }

    fn blocks(&self) -> Vec<Block> {
        self.inner.lock().unwrap().blocks.clone()
    }

    fn committed_txs(&self) -> usize {
        self.inner
            .lock()
            .unwrap()
            .blocks
            .iter()
            .map(|b| b.txs.len())
            .sum()
    }
}

impl Ledger for MemLedger {
    type Snapshot = MemoryState;

    fn committed(&self) -> Result<(Tip, MemoryState), LedgerError> {
        let inner = self.inner.lock().unwrap();
        Ok((inner.tip, inner.state.clone()))
    }

    fn commit(
        &self,
        block: Block,
        _txs: Vec<VerifiedTx>,
        changes: &StateChanges,
    ) -> Result<(), LedgerError> {
        let mut inner = self.inner.lock().unwrap();
        assert_eq!(
            block.header.height,
            inner.tip.height.next(),
            "commits in order"
        );
        assert_eq!(block.header.prev, inner.tip.hash, "commits on the tip");
        inner.state.apply(changes);
        inner.tip = Tip {
            height: block.header.height,
            hash: block.header.hash(),
            time: block.header.time,
            state_root: block.header.state_root,
        };
        inner.blocks.push(block);
        Ok(())
    }
}

fn validator_key(i: usize) -> SigningKey {
    SigningKey::from_seed(&SecretBytes::new([i as u8 + 1; 32]))
}

fn genesis(n: usize) -> Genesis {
    Genesis {
        chain: "sim".into(),
        time: Timestamp(0),
        validators: (0..n)
            .map(|i| GenesisValidator {
                name: format!("org-{i}"),
                key: validator_key(i).public(),
            })
            .collect(),
    }
}

/// `count` patient registrations, each signed by its own key, deterministically from `seed`.
fn patient_txs(seed: u64, count: usize) -> Vec<SignedTx> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..count)
        .map(|_| {
            let key = SigningKey::generate(&mut rng);
            let encrypt_key = DecryptionKey::generate(&mut rng).public();
            Tx {
                signer: key.public(),
                nonce: 0,
                body: TxBody::RegisterPatient { encrypt_key },
            }
            .sign(&key)
        })
        .collect()
}

const LINK: Link = Link {
    latency: Duration::from_millis(10),
    jitter: Duration::from_millis(2),
    success_rate: probability!(1.0),
};

/// The simulated network with every genesis validator linked to every other.
async fn sim_network(
    env: &deterministic::Context,
    genesis: &Genesis,
) -> (
    Oracle<ed25519::PublicKey, deterministic::Context>,
    Vec<ed25519::PublicKey>,
) {
    let keys: Vec<_> = participants(genesis).into_iter().collect();
    let cfg = EngineConfig::new(genesis.clone(), validator_key(0), "x");
    let (network, oracle) = SimNetwork::new_with_peers(
        env.child("network"),
        simulated::Config {
            max_size: cfg.max_message_size(),
            max_peers_per_set: NZUsize!(keys.len()),
            disconnect_on_block: false,
            tracked_peer_sets: NZUsize!(1),
        },
        keys.clone(),
    )
    .await;
    network.start();
    for a in &keys {
        for b in &keys {
            if a != b {
                oracle.add_link(a.clone(), b.clone(), LINK).await.unwrap();
            }
        }
    }
    (oracle, keys)
}

/// A validator's channels on the simulated network.
async fn endpoints(
    oracle: &Oracle<ed25519::PublicKey, deterministic::Context>,
    me: ed25519::PublicKey,
) -> Network<
    impl commonware_p2p::Sender<PublicKey = ed25519::PublicKey>,
    impl commonware_p2p::Receiver<PublicKey = ed25519::PublicKey>,
    impl commonware_p2p::Provider<PublicKey = ed25519::PublicKey> + Sync,
    impl commonware_p2p::Blocker<PublicKey = ed25519::PublicKey> + Sync,
> {
    let control = oracle.control(me);
    let mut ch = BTreeMap::new();
    for c in channels::ALL {
        ch.insert(c, control.register(c, QUOTA).await.unwrap());
    }
    let mut take = |c| ch.remove(&c).unwrap();
    Network {
        votes: take(channels::VOTES),
        certificates: take(channels::CERTIFICATES),
        resolver: take(channels::RESOLVER),
        backfill: take(channels::BACKFILL),
        blocks: take(channels::BLOCKS),
        txs: take(channels::TXS),
        peers: oracle.manager(),
        blocker: control,
    }
}

struct Cluster {
    env: deterministic::Context,
    genesis: Genesis,
    oracle: Oracle<ed25519::PublicKey, deterministic::Context>,
    keys: Vec<ed25519::PublicKey>,
    ledgers: Vec<MemLedger>,
    running: Vec<Option<Running<MemLedger>>>,
    generation: Vec<u32>,
    faults: Vec<Option<Fault>>,
}

impl Cluster {
    async fn new(env: deterministic::Context, n: usize) -> Cluster {
        let genesis = genesis(n);
        let (oracle, keys) = sim_network(&env, &genesis).await;
        let ledgers = (0..n).map(|_| MemLedger::new(&genesis)).collect();
        let mut c = Cluster {
            env,
            genesis,
            oracle,
            keys,
            ledgers,
            running: (0..n).map(|_| None).collect(),
            generation: vec![0; n],
            faults: vec![None; n],
        };
        for i in 0..n {
            c.start(i).await;
        }
        c
    }

    /// The validator index of the engine key `keys[i]` (participants are sorted by key).
    fn key_of(&self, i: usize) -> ed25519::PublicKey {
        let ours = validator_key(i).public();
        self.keys
            .iter()
            .find(|k| k.as_ref() == ours.as_bytes())
            .unwrap()
            .clone()
    }

    async fn start(&mut self, i: usize) {
        let net = endpoints(&self.oracle, self.key_of(i)).await;
        let mut cfg = EngineConfig::new(
            self.genesis.clone(),
            validator_key(i),
            format!("v{i}-{}", self.generation[i]),
        );
        cfg.max_block_txs = 200;
        cfg.fault = self.faults[i];
        let running = start(
            self.env.child("validator").with_attribute("index", i),
            cfg,
            self.ledgers[i].clone(),
            Pool::new(100_000),
            net,
            Arc::new(move |e| panic!("validator {i} stopped: {e}")),
        )
        .await;
        self.running[i] = Some(running);
    }

    /// Gives validator `i` empty engine storage on its next start.
    fn fresh_storage(&mut self, i: usize) {
        self.generation[i] += 1;
    }

    fn crash(&mut self, i: usize) {
        if let Some(r) = self.running[i].take() {
            r.abort();
        }
    }

    /// Admits transactions at validator `at`: into its pool, and gossiped to the others.
    fn submit(&self, at: usize, txs: &[SignedTx]) {
        let r = self.running[at].as_ref().expect("running");
        for t in ehrchain_types::verify_all(txs.to_vec()) {
            r.executor.pool().insert(t.unwrap()).unwrap();
        }
        r.gossip.send(txs.to_vec());
    }

    async fn wait_for(&self, who: &[usize], txs: usize, limit: Duration) {
        let start = self.env.current();
        loop {
            if who.iter().all(|&i| self.ledgers[i].committed_txs() >= txs) {
                return;
            }
            let waited = self.env.current().duration_since(start).unwrap();
            assert!(
                waited < limit,
                "after {waited:?}: committed {:?}, wanted {txs}",
                self.ledgers
                    .iter()
                    .map(MemLedger::committed_txs)
                    .collect::<Vec<_>>()
            );
            self.env.sleep(Duration::from_millis(50)).await;
        }
    }

    async fn partition(&mut self, a: &[usize], b: &[usize]) {
        for &x in a {
            for &y in b {
                let (kx, ky) = (self.key_of(x), self.key_of(y));
                self.oracle
                    .remove_link(kx.clone(), ky.clone())
                    .await
                    .unwrap();
                self.oracle.remove_link(ky, kx).await.unwrap();
            }
        }
    }

    async fn heal(&mut self, a: &[usize], b: &[usize]) {
        for &x in a {
            for &y in b {
                let (kx, ky) = (self.key_of(x), self.key_of(y));
                self.oracle
                    .add_link(kx.clone(), ky.clone(), LINK)
                    .await
                    .unwrap();
                self.oracle.add_link(ky, kx, LINK).await.unwrap();
            }
        }
    }

    /// Every listed validator holds the same blocks up to the lowest tip among them, each block
    /// certified by a finalization a light client verifies from the genesis alone.
    fn assert_agree(&self, who: &[usize]) {
        let check = EngineCheck::new(&self.genesis);
        let validators = self.genesis.validator_keys();
        let chains: Vec<Vec<Block>> = who.iter().map(|&i| self.ledgers[i].blocks()).collect();
        let common = chains.iter().map(Vec::len).min().unwrap();
        assert!(common > 0, "nothing committed");
        for h in 0..common {
            let first = &chains[0][h];
            for c in &chains[1..] {
                assert_eq!(
                    c[h].header,
                    first.header,
                    "validators differ at height {}",
                    h + 1
                );
            }
            for c in &chains {
                let b = &c[h];
                let own = check.certifies(&b.certificate, &validators, &b.header.hash());
                let by_descendant =
                    matches!(&b.certificate, Certificate::Engine(v) if v.is_empty());
                assert!(
                    own || by_descendant,
                    "block {} certificate does not verify",
                    h + 1
                );
            }
        }
        // Most blocks carry their own finalization (the rest are finalized by a descendant's).
        let own = chains[0]
            .iter()
            .filter(|b| check.certifies(&b.certificate, &validators, &b.header.hash()))
            .count();
        assert!(
            2 * own >= chains[0].len(),
            "{own} of {} blocks certified",
            chains[0].len()
        );
        // A certificate does not certify another header.
        if common >= 2 {
            assert!(!check.certifies(
                &chains[0][1].certificate,
                &validators,
                &chains[0][0].header.hash()
            ));
        }
    }
}

fn run<F, Fut>(seed: u64, f: F)
where
    F: FnOnce(deterministic::Context) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let cfg = deterministic::Config::new()
        .with_seed(seed)
        .with_timeout(Some(Duration::from_secs(600)));
    deterministic::Runner::new(cfg).start(f);
}

#[test]
fn four_validators_keep_committing_with_one_crashed_and_it_catches_up() {
    run(2, |env| async move {
        let mut c = Cluster::new(env, 4).await;
        let txs = patient_txs(2, 400);
        c.submit(1, &txs[..100]);
        c.wait_for(&[0, 1, 2, 3], 100, Duration::from_secs(60))
            .await;
        c.crash(3);
        c.submit(0, &txs[100..300]);
        c.wait_for(&[0, 1, 2], 300, Duration::from_secs(120)).await;
        assert_eq!(
            c.ledgers[3].committed_txs(),
            100,
            "a crashed validator commits nothing"
        );
        c.assert_agree(&[0, 1, 2]);
        // Restarted on its own storage, it catches up from its peers and keeps up.
        c.start(3).await;
        c.submit(2, &txs[300..]);
        c.wait_for(&[0, 1, 2, 3], 400, Duration::from_secs(120))
            .await;
        c.assert_agree(&[0, 1, 2, 3]);
    });
}

#[test]
fn a_wiped_validator_restores_the_chain_from_its_peers() {
    run(3, |env| async move {
        let mut c = Cluster::new(env, 4).await;
        let txs = patient_txs(3, 200);
        c.submit(0, &txs[..150]);
        c.wait_for(&[0, 1, 2, 3], 150, Duration::from_secs(60))
            .await;
        c.crash(2);
        // Everything lost: ledger and the engine's own storage (a new partition).
        c.ledgers[2] = MemLedger::new(&c.genesis);
        c.fresh_storage(2);
        c.start(2).await;
        c.submit(1, &txs[150..]);
        c.wait_for(&[0, 1, 2, 3], 200, Duration::from_secs(120))
            .await;
        c.assert_agree(&[0, 1, 2, 3]);
    });
}

#[test]
fn a_two_two_partition_commits_nothing_and_recovers_when_healed() {
    run(4, |env| async move {
        let mut c = Cluster::new(env, 4).await;
        let txs = patient_txs(4, 200);
        c.submit(0, &txs[..50]);
        c.wait_for(&[0, 1, 2, 3], 50, Duration::from_secs(60)).await;
        let before: Vec<_> = c.ledgers.iter().map(MemLedger::tip).collect();
        c.partition(&[0, 1], &[2, 3]).await;
        c.submit(0, &txs[50..120]);
        c.submit(3, &txs[120..]);
        c.env.sleep(Duration::from_secs(20)).await;
        let during: Vec<_> = c.ledgers.iter().map(MemLedger::tip).collect();
        assert_eq!(before, during, "no side of a 2|2 split has a quorum");
        c.heal(&[0, 1], &[2, 3]).await;
        c.wait_for(&[0, 1, 2, 3], 200, Duration::from_secs(120))
            .await;
        c.assert_agree(&[0, 1, 2, 3]);
    });
}

#[test]
fn a_byzantine_proposer_breaks_nothing_and_is_reported() {
    run(5, |env| async move {
        let mut c = Cluster::new(env, 4).await;
        // Validator 1 turns Byzantine: every block it proposes claims a false state root.
        c.crash(1);
        c.faults[1] = Some(Fault::BadStateRoot);
        c.start(1).await;
        // Small rounds, so that leadership rotates through the Byzantine validator while
        // there is work to propose.
        let txs = patient_txs(5, 300);
        for (k, round) in txs.chunks(15).enumerate() {
            c.submit(if k % 2 == 0 { 1 } else { 2 }, round);
            c.wait_for(&[0, 2, 3], 15 * (k + 1), Duration::from_secs(60))
                .await;
        }
        c.assert_agree(&[0, 2, 3]);
        let bad = c.key_of(1);

        let honest: Vec<_> = [0, 2, 3]
            .iter()
            .map(|&i| c.running[i].as_ref().unwrap().executor.refused())
            .collect();
        assert!(
            honest.iter().all(|&r| r > 0),
            "every honest validator refused the bad proposals: {honest:?}"
        );
        for b in c.ledgers[0].blocks() {
            assert_ne!(
                b.header.proposer.as_bytes(),
                bad.as_ref(),
                "no bad block finalized"
            );
        }
    });
}

#[test]
fn the_same_seed_replays_the_same_chain() {
    let chain = |seed| {
        let out = Arc::new(Mutex::new(Vec::new()));
        let o = out.clone();
        run(seed, move |env| async move {
            let c = Cluster::new(env, 4).await;
            c.submit(0, &patient_txs(9, 100));
            c.wait_for(&[0], 100, Duration::from_secs(60)).await;
            *o.lock().unwrap() = c.ledgers[0]
                .blocks()
                .iter()
                .map(|b| b.header.hash())
                .collect();
        });
        let v = out.lock().unwrap().clone();
        v
    };
    let a = chain(7);
    assert!(!a.is_empty());
    assert_eq!(a, chain(7), "a seed is a reproducible run");
}

#[test]
fn four_validators_commit_the_same_chain() {
    run(1, |env| async move {
        let c = Cluster::new(env, 4).await;
        let txs = patient_txs(1, 300);
        c.submit(0, &txs[..150]);
        c.submit(2, &txs[150..]);
        c.wait_for(&[0, 1, 2, 3], 300, Duration::from_secs(60))
            .await;
        c.assert_agree(&[0, 1, 2, 3]);
        // Every transaction applied once.
        let applied: usize = c.ledgers[0]
            .blocks()
            .iter()
            .flat_map(|b| b.receipts.iter())
            .filter(|r| r.outcome == Outcome::Applied)
            .count();
        assert_eq!(applied, 300);
    });
}

#[test]
fn bare_validators_finalize_blocks_carrying_their_payload() {
    // The baseline of the performance evaluation runs the same engine stack: four bare
    // validators finalize blocks, every one carrying the payload, and agree on the count.
    run(11, |env| async move {
        let genesis = genesis(4);
        let (oracle, keys) = sim_network(&env, &genesis).await;
        let payload = patient_txs(5, 7);
        let mut running = Vec::new();
        for i in 0..4 {
            let ours = validator_key(i).public();
            let me = keys
                .iter()
                .find(|k| k.as_ref() == ours.as_bytes())
                .unwrap()
                .clone();
            let net = endpoints(&oracle, me).await;
            let cfg = EngineConfig::new(genesis.clone(), validator_key(i), format!("bare{i}"));
            running.push(
                ehrchain_consensus::bare::start(
                    env.child("bare").with_attribute("index", i),
                    cfg,
                    payload.clone(),
                    net,
                )
                .await,
            );
        }
        let start = env.current();
        while running
            .iter()
            .any(|r| r.counts.blocks.load(Ordering::Relaxed) < 20)
        {
            assert!(
                env.current().duration_since(start).unwrap() < Duration::from_secs(60),
                "bare validators stalled"
            );
            env.sleep(Duration::from_millis(50)).await;
        }
        for r in &running {
            let blocks = r.counts.blocks.load(Ordering::Relaxed);
            assert_eq!(r.counts.txs.load(Ordering::Relaxed), blocks * 7);
        }
    });
}
