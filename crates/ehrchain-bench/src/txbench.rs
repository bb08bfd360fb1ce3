//! `tx`: committed signed transactions per second on the embedded node.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use ehrchain_node::{Node, NodeConfig, SubmitError};
use ehrchain_types::{OrgKind, Outcome, Role, SignedTx, TxKind};
use serde_json::json;

use crate::machine::{io_written, load_average, wait_quiet, CpuSample, Machine};
use crate::report::{cpu_section, fmt_ms, fmt_rate, fmt_secs, met, Latency, Report, Section};
use crate::workload::{kind_name, Mix, World};

pub const TARGET_TX_PER_SEC: f64 = 25_000.0;

#[derive(Args, Debug, Clone)]
pub struct TxArgs {
    /// Transactions in the timed stream.
    #[arg(long, default_value_t = 200_000)]
    pub count: usize,
    /// Concurrent submitting tasks, each waiting for its receipt before its next submit.
    #[arg(long, default_value_t = 16_384)]
    pub clients: usize,
    /// Patients registered during setup (each with one record and one grant).
    #[arg(long, default_value_t = 10_000)]
    pub patients: usize,
    /// Doctors registered during setup.
    #[arg(long, default_value_t = 32)]
    pub doctors: usize,
    /// Percentages of the timed stream.
    #[arg(long, default_value = "access=70,grant=10,anchor=10,register=10")]
    pub mix: Mix,
    /// Seed of the stream's order.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Folder under which the node's temporary data folder is made (default: the system temp).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Override `NodeConfig::max_block_txs` (node default 8192) for experiments.
    #[arg(long)]
    pub max_block_txs: Option<usize>,
    /// Override `NodeConfig::mempool_capacity` (node default 200000) for experiments.
    #[arg(long)]
    pub mempool: Option<usize>,
    /// Tokio worker threads for the client tasks (default: number of cores).
    #[arg(long)]
    pub workers: Option<usize>,
}

/// One receipt as the client saw it.
pub struct Seen {
    pub kind: TxKind,
    pub height: u64,
    pub outcome: Outcome,
    pub latency_us: u64,
    /// Completion time relative to the run's epoch.
    pub done_us: u64,
}

/// What driving a stream of transactions through `Node::submit` produced.
pub struct Drive {
    pub seen: Vec<Seen>,
    /// First submit and last receipt, relative to the epoch.
    pub first_us: u64,
    pub last_us: u64,
    pub overloaded_retries: u64,
    pub errors: BTreeMap<String, u64>,
}

impl Drive {
    pub fn wall(&self) -> Duration {
        Duration::from_micros(self.last_us.saturating_sub(self.first_us))
    }
}

/// Submits `txs` from `clients` concurrent tasks (transaction `i` goes to client `i % clients`),
/// each awaiting its receipt before its next submit, backing off 1 ms on `Overloaded`.
pub async fn drive(node: &Node, txs: Vec<SignedTx>, clients: usize) -> Drive {
    let clients = clients.clamp(1, txs.len().max(1));
    let mut per: Vec<Vec<SignedTx>> = (0..clients)
        .map(|_| Vec::with_capacity(txs.len() / clients + 1))
        .collect();
    for (i, tx) in txs.into_iter().enumerate() {
        per[i % clients].push(tx);
    }
    let (go_tx, go_rx) = tokio::sync::watch::channel(false);
    let epoch = Instant::now();
    let mut tasks = Vec::with_capacity(clients);
    for mine in per {
        let node = node.clone();
        let mut go = go_rx.clone();
        tasks.push(tokio::spawn(async move {
            let _ = go.wait_for(|v| *v).await;
            let mut seen = Vec::with_capacity(mine.len());
            let mut first = u64::MAX;
            let mut retries = 0u64;
            let mut errors: Vec<String> = Vec::new();
            for tx in mine {
                let kind = tx.tx.body.kind();
                let t0 = Instant::now();
                first = first.min(t0.duration_since(epoch).as_micros() as u64);
                loop {
                    match node.submit(tx.clone()).await {
                        Ok(c) => {
                            let done = Instant::now();
                            seen.push(Seen {
                                kind,
                                height: c.height.0,
                                outcome: c.outcome,
                                latency_us: done.duration_since(t0).as_micros() as u64,
                                done_us: done.duration_since(epoch).as_micros() as u64,
                            });
                            break;
                        }
                        Err(SubmitError::Overloaded) => {
                            retries += 1;
                            tokio::time::sleep(Duration::from_millis(1)).await;
                        }
                        Err(e) => {
                            errors.push(e.to_string());
                            break;
                        }
                    }
                }
            }
            (seen, first, retries, errors)
        }));
    }
    let _ = go_tx.send(true);
    let mut out = Drive {
        seen: Vec::new(),
        first_us: u64::MAX,
        last_us: 0,
        overloaded_retries: 0,
        errors: BTreeMap::new(),
    };
    for t in tasks {
        let Ok((seen, first, retries, errors)) = t.await else {
            *out.errors.entry("client task panicked".into()).or_default() += 1;
            continue;
        };
        out.first_us = out.first_us.min(first);
        out.overloaded_retries += retries;
        for e in errors {
            *out.errors.entry(e).or_default() += 1;
        }
        out.seen.extend(seen);
    }
    out.last_us = out.seen.iter().map(|s| s.done_us).max().unwrap_or(0);
    if out.first_us == u64::MAX {
        out.first_us = 0;
    }
    out
}

fn outcome_name(o: &Outcome) -> String {
    match o {
        Outcome::Applied => "applied".into(),
        Outcome::Permitted(_) => "permitted".into(),
        Outcome::Denied(r) => format!("denied({r:?})"),
        Outcome::Rejected(r) => format!("rejected({})", r.code()),
    }
}

/// Submits setup transactions and insists that each was applied.
pub async fn setup_phase(
    node: &Node,
    what: &str,
    txs: Vec<SignedTx>,
    clients: usize,
) -> Result<()> {
    let n = txs.len();
    let d = drive(node, txs, clients).await;
    if !d.errors.is_empty() {
        bail!("setup {what}: submit errors {:?}", d.errors);
    }
    let bad: Vec<String> = d
        .seen
        .iter()
        .filter(|s| s.outcome != Outcome::Applied)
        .take(5)
        .map(|s| outcome_name(&s.outcome))
        .collect();
    if d.seen.len() != n || !bad.is_empty() {
        bail!(
            "setup {what}: {} of {n} receipts, not applied: {bad:?}",
            d.seen.len()
        );
    }
    eprintln!("  setup {what}: {n} txs in {}", fmt_secs(d.wall()));
    Ok(())
}

/// Registers the hospital and its doctors through the node's own admin flows.
pub async fn register_staff(node: &Node, world: &World) -> Result<()> {
    let (org, c) = node
        .create_organisation("Bench General Hospital", OrgKind::Hospital)
        .await
        .context("create organisation")?;
    if c.outcome != Outcome::Applied {
        bail!("organisation not applied: {:?}", c.outcome);
    }
    let mut pending = Vec::new();
    for (i, d) in world.doctors.iter().enumerate() {
        let node = node.clone();
        let public = d.public();
        let org = org.id;
        pending.push(tokio::spawn(async move {
            node.register_agent_for(
                org,
                Role::Doctor,
                &format!("Dr Bench {i}"),
                &format!("LIC-{i:05}"),
                public.sign,
                public.encrypt,
            )
            .await
        }));
    }
    for p in pending {
        let c = p.await.context("join")?.context("register agent")?;
        if c.outcome != Outcome::Applied {
            bail!("agent not applied: {:?}", c.outcome);
        }
    }
    Ok(())
}

pub fn open_config(data: &std::path::Path) -> NodeConfig {
    let mut config = NodeConfig::new(data, b"bench-node-passphrase".to_vec());
    config.scrub_interval = None;
    config
}

pub fn temp_dir(base: Option<&PathBuf>, prefix: &str) -> Result<tempfile::TempDir> {
    let mut b = tempfile::Builder::new();
    b.prefix(prefix);
    Ok(match base {
        Some(dir) => b.tempdir_in(dir)?,
        None => b.tempdir()?,
    })
}

pub fn thread_group(name: &str) -> &'static str {
    if name.starts_with("ehrchain-admiss") {
        "node admission thread (batched Ed25519 verify, replay check)"
    } else if name.starts_with("ehrchain-produc") {
        "node producer thread (execute, certify, commit)"
    } else if name.starts_with("bench-rt") {
        "tokio runtime (client tasks, effects task)"
    } else if name.starts_with("ehrchain-bench") {
        "bench main thread"
    } else {
        "other threads"
    }
}

pub fn run(args: TxArgs, quiet: Duration, json: bool) -> Result<()> {
    let machine = Machine::detect();
    let workers = args.workers.unwrap_or(machine.nproc).max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name("bench-rt")
        .enable_all()
        .build()?;
    rt.block_on(run_async(args, machine, workers, quiet, json))
}

async fn run_async(
    args: TxArgs,
    machine: Machine,
    workers: usize,
    quiet: Duration,
    json: bool,
) -> Result<()> {
    if args.count == 0 || args.patients == 0 || args.doctors == 0 {
        bail!("--count, --patients and --doctors must be positive");
    }
    let tmp = temp_dir(args.data_dir.as_ref(), "ehrchain-bench-tx-")?;
    let mut config = open_config(tmp.path());
    if let Some(m) = args.max_block_txs {
        config.max_block_txs = m;
    }
    if let Some(m) = args.mempool {
        config.mempool_capacity = m;
    }
    let (max_block, mempool) = (config.max_block_txs, config.mempool_capacity);
    eprintln!("tx: opening node in {}", tmp.path().display());
    let node = Node::open(config).await.context("open node")?;

    // ---- setup (not timed)
    let t_setup = Instant::now();
    eprintln!(
        "tx: setup: 1 hospital, {} doctors, {} patients with a record and a grant each",
        args.doctors, args.patients
    );
    let world = World::generate(args.doctors, args.patients);
    register_staff(&node, &world).await?;
    setup_phase(&node, "register patients", world.register_patients(), 8192).await?;
    setup_phase(
        &node,
        "anchor records + grants",
        world.records_and_grants(),
        8192,
    )
    .await?;
    let setup = t_setup.elapsed();

    // ---- pre-sign (not timed)
    let t_sign = Instant::now();
    let stream = world.stream(args.count, &args.mix, args.seed);
    let signing = t_sign.elapsed();
    let mut kinds: BTreeMap<&'static str, usize> = BTreeMap::new();
    for t in &stream {
        *kinds.entry(kind_name(t.tx.body.kind())).or_default() += 1;
    }
    eprintln!(
        "tx: {} txs pre-signed in {} ({kinds:?}); driving with {} clients",
        stream.len(),
        fmt_secs(signing),
        args.clients
    );

    // ---- timed
    tokio::task::block_in_place(|| wait_quiet(quiet, 0.1));
    let load1 = load_average();
    let stats = node.stats();
    let blocks0 = stats.blocks.load(std::sync::atomic::Ordering::Relaxed);
    let cpu0 = CpuSample::now();
    let io0 = io_written();
    eprintln!("tx: timed phase starts");
    let wall0 = Instant::now();
    let d = drive(&node, stream, args.clients).await;
    let wall_all = wall0.elapsed();
    let cpu1 = CpuSample::now();
    let io1 = io_written();
    let (wchar, wbytes) = (io1.0 - io0.0, io1.1 - io0.1);
    let db_size = std::fs::metadata(tmp.path().join("ledger.redb")).map_or(0, |m| m.len());
    let log_size = std::fs::metadata(tmp.path().join("ledger.redb.blocks")).map_or(0, |m| m.len());
    let blocks1 = stats.blocks.load(std::sync::atomic::Ordering::Relaxed);

    let wall = d.wall();
    let receipts = d.seen.len();
    let tps = receipts as f64 / wall.as_secs_f64().max(1e-9);
    let mut lat: Vec<u64> = d.seen.iter().map(|s| s.latency_us).collect();
    let latency = Latency::of(&mut lat);
    let mut per_block: BTreeMap<u64, usize> = BTreeMap::new();
    for s in &d.seen {
        *per_block.entry(s.height).or_default() += 1;
    }
    let blocks = blocks1 - blocks0;
    if std::env::var_os("EHRCHAIN_BENCH_BLOCKS").is_some() {
        // Debug aid: when each block's receipts arrived, relative to the first submit.
        let mut by_h: BTreeMap<u64, (usize, u64, u64)> = BTreeMap::new();
        for s in &d.seen {
            let e = by_h.entry(s.height).or_insert((0, u64::MAX, 0));
            e.0 += 1;
            e.1 = e.1.min(s.done_us - d.first_us);
            e.2 = e.2.max(s.done_us - d.first_us);
        }
        for (h, (n, a, b)) in by_h {
            eprintln!(
                "block {h}: {n} txs, receipts at {:.3}..{:.3} s",
                a as f64 / 1e6,
                b as f64 / 1e6
            );
        }
    }
    let sizes: Vec<usize> = per_block.values().copied().collect();
    let (min_b, max_b) = (
        sizes.iter().copied().min().unwrap_or(0),
        sizes.iter().copied().max().unwrap_or(0),
    );
    let mean_b = receipts as f64 / (blocks.max(1)) as f64;
    let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
    for s in &d.seen {
        *outcomes
            .entry(format!(
                "{} {}",
                kind_name(s.kind),
                outcome_name(&s.outcome)
            ))
            .or_default() += 1;
    }
    // Throughput per one-second window of the run.
    let mut windows: BTreeMap<u64, u64> = BTreeMap::new();
    for s in &d.seen {
        *windows
            .entry(s.done_us.saturating_sub(d.first_us) / 1_000_000)
            .or_default() += 1;
    }
    let full_windows: Vec<u64> = {
        let last = wall.as_secs();
        windows
            .iter()
            .filter(|(k, _)| **k < last)
            .map(|(_, v)| *v)
            .collect()
    };
    let (cpu_sec, cpu_json, _) = cpu_section(
        "cpu (cores busy during the timed run; 2.0 = both cores)",
        &cpu0,
        &cpu1,
        wall_all,
        thread_group,
        "threads that exited",
    );

    let mut report = Report::new("tx", machine);
    let mut w = Section::new("workload");
    w.row(
        "node",
        format!(
            "embedded Node::open, validator set of one, filesystem blobs, scrub off, max_block_txs {max_block}, mempool {mempool}"
        ),
    )
    .row("data dir", tmp.path().display().to_string())
    .row(
        "setup (untimed)",
        format!(
            "1 hospital, {} doctors, {} patients + 1 record + 1 read grant each: {}",
            args.doctors,
            args.patients,
            fmt_secs(setup)
        ),
    )
    .row("timed stream", format!("{} txs: {}", args.count, args.mix.describe()))
    .row("stream kinds", format!("{kinds:?}"))
    .row("pre-signing (untimed)", fmt_secs(signing))
    .row("load average (1 min) before the timed run", load1.clone())
    .row(
        "submission",
        format!(
            "Node::submit from {} concurrent tasks on {workers} tokio workers (each awaits its receipt; Overloaded -> sleep 1 ms, retry)",
            args.clients.min(args.count)
        ),
    );
    report.sections.push(w);

    let mut r = Section::new("results");
    r.row("committed tx/s", fmt_rate(tps))
        .row("receipts", receipts.to_string())
        .row("wall (first submit -> last receipt)", fmt_secs(wall))
        .row("blocks committed", blocks.to_string())
        .row(
            "txs per block (mean / min / max)",
            format!("{mean_b:.0} / {min_b} / {max_b}"),
        )
        .row(
            "commit latency p50 / p90 / p99 / max",
            format!(
                "{} / {} / {} / {}",
                fmt_ms(latency.p50_us),
                fmt_ms(latency.p90_us),
                fmt_ms(latency.p99_us),
                fmt_ms(latency.max_us)
            ),
        )
        .row(
            "tx/s per 1 s window (min / max)",
            format!(
                "{} / {}",
                full_windows.iter().min().copied().unwrap_or(0),
                full_windows.iter().max().copied().unwrap_or(0)
            ),
        )
        .row(
            "bytes written during run (write calls / to storage)",
            format!(
                "{:.0} MB / {:.0} MB ({:.1} KB per tx to storage)",
                wchar as f64 / 1e6,
                wbytes as f64 / 1e6,
                wbytes as f64 / 1e3 / receipts.max(1) as f64
            ),
        )
        .row(
            "ledger.redb / block log size after run",
            format!(
                "{:.0} MB / {:.0} MB",
                db_size as f64 / 1e6,
                log_size as f64 / 1e6
            ),
        )
        .row("overloaded retries", d.overloaded_retries.to_string())
        .row("submit errors", format!("{:?}", d.errors));
    for (k, v) in &outcomes {
        r.row(format!("outcome: {k}"), v.to_string());
    }
    r.row(
        format!("target >= {TARGET_TX_PER_SEC:.0} tx/s"),
        met(tps >= TARGET_TX_PER_SEC),
    );
    report.sections.push(r);

    report.sections.push(cpu_sec);

    report.json = json!({
        "count": args.count,
        "clients": args.clients,
        "patients": args.patients,
        "doctors": args.doctors,
        "mix": args.mix.describe(),
        "max_block_txs": max_block,
        "mempool_capacity": mempool,
        "setup_s": setup.as_secs_f64(),
        "signing_s": signing.as_secs_f64(),
        "committed_tx_per_s": tps,
        "receipts": receipts,
        "wall_s": wall.as_secs_f64(),
        "blocks": blocks,
        "txs_per_block": {"mean": mean_b, "min": min_b, "max": max_b},
        "latency": latency.json(),
        "per_second_windows": full_windows,
        "overloaded_retries": d.overloaded_retries,
        "bytes_write_calls": wchar,
        "bytes_to_storage": wbytes,
        "ledger_redb_bytes": db_size,
        "block_log_bytes": log_size,
        "errors": d.errors,
        "outcomes": outcomes,
        "cpu": cpu_json,
        "load_average_1m_at_start": load1,
        "target_tx_per_s": TARGET_TX_PER_SEC,
        "target_met": tps >= TARGET_TX_PER_SEC,
    });
    report.print(json);
    drop(node);
    // Give the node's threads a moment to notice the last handle is gone before the folder goes.
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(tmp);
    Ok(())
}
