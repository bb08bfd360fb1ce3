//! `cluster`: the seeds' performance evaluation. Consortia of N validators (each a full node
//! with its store and its Simplex engine, talking over the authenticated p2p network on
//! loopback, all in this one process) are driven with rising offered load of pre-signed mixed
//! transactions (access events, grants, record anchors, registrations), sent round-robin to the
//! validators. For each (N, offered rate): committed tx/s, commit latency p50/p99 (submit to
//! receipt), failures (rejected, refused or timed out) and CPU per committed transaction.
//! Writes a table, JSON rows and an SVG plot.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use clap::Args;
use ehrchain_node::keystore::{write_private, Keystore};
use ehrchain_node::{Node, SubmitError};
use ehrchain_types::{Canonical, Genesis, GenesisValidator, Outcome, SignedTx, Timestamp};
use serde_json::{json, Value};

use crate::machine::{process_cpu, Machine};
use crate::txbench::{open_config, temp_dir};
use crate::workload::{Mix, World};

#[derive(Args, Debug, Clone)]
pub struct ClusterArgs {
    /// Validator counts to evaluate.
    #[arg(long, value_delimiter = ',', default_value = "1,4,7,10")]
    pub validators: Vec<usize>,
    /// Offered loads, transactions per second, in rising order.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1000,2000,4000,8000,12000"
    )]
    pub rates: Vec<u64>,
    /// Seconds each offered load is held.
    #[arg(long, default_value_t = 5)]
    pub seconds: u64,
    /// A transaction without its receipt after this long counts as failed.
    #[arg(long, default_value_t = 10)]
    pub timeout_secs: u64,
    /// Patients registered during setup (each with a record and a grant).
    #[arg(long, default_value_t = 2_000)]
    pub patients: usize,
    #[arg(long, default_value = "access=70,grant=10,anchor=10,register=10")]
    pub mix: Mix,
    /// Where to write the plot (SVG).
    #[arg(long, default_value = "docs/bench/cluster.svg")]
    pub plot: PathBuf,
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Override `NodeConfig::max_block_txs` (node default 8192) for experiments.
    #[arg(long)]
    pub max_block_txs: Option<usize>,
}

/// One (validators, offered rate) step.
#[derive(Debug, Clone)]
pub struct Step {
    pub validators: usize,
    pub offered: u64,
    pub sent: u64,
    pub committed: u64,
    pub failed: u64,
    /// From the first send until the last receipt (or timeout).
    pub secs: f64,
    /// The sending window (transactions / offered rate) and the receipts that arrived in it.
    pub window_secs: f64,
    pub in_window: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub cpu_us_per_tx: f64,
    /// Blocks committed during the step (at the first validator).
    pub blocks: u64,
    /// Transactions those blocks carried, and how many of them the ledger rejected (a
    /// transaction proposed again after it was committed is rejected as a replay: wasted work).
    pub txs_in_blocks: u64,
    pub rejected_in_blocks: u64,
}

impl Step {
    /// The sustained commit rate: receipts that arrived while load was being offered, per
    /// second of that window. Dividing all commits by the time until the last receipt instead
    /// would count the drain of the queue after sending stopped, which at saturation (receipts
    /// seconds late) understates the rate by a quarter or more on 4 s steps.
    fn tps(&self) -> f64 {
        self.in_window as f64 / self.window_secs.max(1e-9)
    }
    fn json(&self) -> Value {
        json!({
            "validators": self.validators, "offered_tps": self.offered, "sent": self.sent,
            "committed": self.committed, "committed_tps": self.tps(), "failed": self.failed,
            "committed_tps_including_drain": self.committed as f64 / self.secs.max(1e-9),
            "failure_rate": self.failed as f64 / self.sent.max(1) as f64,
            "p50_ms": self.p50_ms, "p99_ms": self.p99_ms, "cpu_us_per_tx": self.cpu_us_per_tx,
            "blocks": self.blocks, "txs_in_blocks": self.txs_in_blocks,
            "rejected_in_blocks": self.rejected_in_blocks,
        })
    }
}

pub(crate) fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Opens `n` validators in one process, each with its own data folder, all named in one genesis.
async fn open_cluster(
    base: &std::path::Path,
    n: usize,
    max_block_txs: Option<usize>,
) -> Result<Vec<Node>> {
    let mut configs = Vec::new();
    let mut validators = Vec::new();
    for i in 0..n {
        let mut config = open_config(&base.join(format!("node-{i}")));
        std::fs::create_dir_all(&config.data_dir)?;
        let keys = Keystore::new(config.keys_dir(), config.passphrase.clone()).load_or_create()?;
        validators.push(GenesisValidator {
            name: format!("node-{i}"),
            key: keys.validator.public().sign,
        });
        config.p2p_listen = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        config.consensus_threads = 1;
        if let Some(m) = max_block_txs {
            config.max_block_txs = m;
        }
        configs.push(config);
    }
    let genesis = Genesis {
        chain: "ehrchain-bench-cluster".into(),
        time: Timestamp(SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as u64),
        validators,
    };
    let peers: Vec<_> = genesis
        .validators
        .iter()
        .zip(&configs)
        .map(|(v, c)| (v.key, c.p2p_listen))
        .collect();
    let mut nodes = Vec::new();
    for mut c in configs {
        write_private(&c.data_dir.join("genesis.bin"), &genesis.to_bytes())?;
        c.peers = peers.clone();
        nodes.push(Node::open(c).await.context("open validator")?);
    }
    Ok(nodes)
}

/// Sends `txs` open-loop at `rate` per second, round-robin over `nodes`; each waits for its
/// receipt up to `timeout`. Returns the sorted latencies (µs), the receipts' arrival times
/// since the first send (s), how many were sent and how many failed.
async fn offered_load(
    nodes: &[Node],
    txs: Vec<SignedTx>,
    rate: u64,
    timeout: Duration,
) -> (Vec<u64>, Vec<f64>, u64, u64) {
    let failed = Arc::new(AtomicU64::new(0));
    let sent = txs.len() as u64;
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(txs.len());
    for (i, tx) in txs.into_iter().enumerate() {
        let due = start + Duration::from_secs_f64(i as f64 / rate as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            tokio::time::sleep(wait).await;
        }
        let node = nodes[i % nodes.len()].clone();
        let failed = failed.clone();
        tasks.push(tokio::spawn(async move {
            let t0 = Instant::now();
            match tokio::time::timeout(timeout, node.submit(tx)).await {
                Ok(Ok(c)) if !matches!(c.outcome, Outcome::Rejected(_)) => Some((
                    t0.elapsed().as_micros() as u64,
                    start.elapsed().as_secs_f64(),
                )),
                Ok(Err(SubmitError::Overloaded)) | Ok(Err(_)) | Ok(Ok(_)) | Err(_) => {
                    failed.fetch_add(1, Ordering::Relaxed);
                    None
                }
            }
        }));
    }
    let mut lat = Vec::new();
    let mut arrivals = Vec::new();
    for t in tasks {
        if let Ok(Some((us, at))) = t.await {
            lat.push(us);
            arrivals.push(at);
        }
    }
    lat.sort_unstable();
    (lat, arrivals, sent, failed.load(Ordering::Relaxed))
}

fn pct(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

pub fn run(args: ClusterArgs, json_out: bool) -> Result<()> {
    if args.rates.is_empty() || args.validators.is_empty() {
        bail!("give at least one validator count and one rate");
    }
    let machine = Machine::detect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(machine.nproc.max(1))
        .thread_name("bench-rt")
        .enable_all()
        .build()?;
    if let Some(parent) = args.plot.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut steps = Vec::new();
    for &n in &args.validators {
        let tmp = temp_dir(args.data_dir.as_ref(), "ehrchain-bench-cluster-")?;
        let found = rt.block_on(async { run_cluster(&args, n, tmp.path()).await })?;
        steps.extend(found);
        drop(tmp);
        // Written after every cluster size, so a run cut short still leaves its plot.
        std::fs::write(&args.plot, plot(&steps))?;
    }
    let rows: Vec<Value> = steps.iter().map(Step::json).collect();
    let mut table = String::from(
        "| validators | offered tx/s | committed tx/s | p50 ms | p99 ms | failed | CPU µs/tx | blocks/s |\n|---|---|---|---|---|---|---|---|\n",
    );
    for s in &steps {
        table.push_str(&format!(
            "| {} | {} | {:.0} | {:.1} | {:.1} | {} of {} ({:.2}%) | {:.0} | {:.0} |\n",
            s.validators,
            s.offered,
            s.tps(),
            s.p50_ms,
            s.p99_ms,
            s.failed,
            s.sent,
            100.0 * s.failed as f64 / s.sent.max(1) as f64,
            s.cpu_us_per_tx,
            s.blocks as f64 / s.secs.max(1e-9),
        ));
    }
    eprintln!(
        "machine: {} cores, {}, {}\ncommand: {}",
        machine.nproc, machine.cpu_model, machine.mem_total, machine.command
    );
    eprintln!("{table}");
    eprintln!("plot: {}", args.plot.display());
    if json_out {
        println!("{}", serde_json::to_string_pretty(&json!({"steps": rows}))?);
    }
    Ok(())
}

async fn run_cluster(args: &ClusterArgs, n: usize, dir: &std::path::Path) -> Result<Vec<Step>> {
    eprintln!("cluster: {n} validator(s) in {}", dir.display());
    let nodes = open_cluster(dir, n, args.max_block_txs).await?;
    let world = World::generate(8, args.patients);
    crate::txbench::register_staff(&nodes[0], &world).await?;
    crate::txbench::setup_phase(
        &nodes[0],
        "register patients",
        world.register_patients(),
        2048,
    )
    .await?;
    crate::txbench::setup_phase(
        &nodes[0],
        "anchor records + grants",
        world.records_and_grants(),
        2048,
    )
    .await?;
    let mut steps = Vec::new();
    for (k, &rate) in args.rates.iter().enumerate() {
        let count = (rate * args.seconds) as usize;
        let txs = world.stream(count, &args.mix, 1000 + k as u64);
        let height = |node: &Node| -> Result<u64> { Ok(node.tip()?.map_or(0, |h| h.height.0)) };
        let h0 = height(&nodes[0])?;
        let stats = nodes[0].stats();
        let (txs0, rej0) = (
            stats.txs.load(Ordering::Relaxed),
            stats.rejected.load(Ordering::Relaxed),
        );
        let cpu0 = process_cpu();
        let t0 = Instant::now();
        let window_secs = count.saturating_sub(1).max(1) as f64 / rate as f64;
        let (lat, arrivals, sent, failed) =
            offered_load(&nodes, txs, rate, Duration::from_secs(args.timeout_secs)).await;
        let secs = t0.elapsed().as_secs_f64();
        let cpu = process_cpu() - cpu0;
        let committed = lat.len() as u64;
        let step = Step {
            validators: n,
            offered: rate,
            sent,
            committed,
            failed,
            secs,
            window_secs,
            in_window: arrivals.iter().filter(|&&a| a <= window_secs).count() as u64,
            p50_ms: pct(&lat, 0.50),
            p99_ms: pct(&lat, 0.99),
            cpu_us_per_tx: cpu * 1e6 / committed.max(1) as f64,
            blocks: height(&nodes[0])? - h0,
            txs_in_blocks: stats.txs.load(Ordering::Relaxed) - txs0,
            rejected_in_blocks: stats.rejected.load(Ordering::Relaxed) - rej0,
        };
        eprintln!("  {}", step.json());
        let saturated = step.tps() < 0.8 * rate as f64 || failed > 0;
        steps.push(step);
        if saturated {
            break;
        }
    }
    Ok(steps)
}

/// Committed tx/s against offered tx/s, one line per validator count, as SVG.
fn plot(steps: &[Step]) -> String {
    let (w, h, m) = (720.0, 420.0, 60.0);
    let max_x = steps.iter().map(|s| s.offered as f64).fold(1.0, f64::max);
    let max_y = steps.iter().map(Step::tps).fold(1.0, f64::max).max(max_x);
    let x = |v: f64| m + v / max_x * (w - 2.0 * m);
    let y = |v: f64| h - m - v / max_y * (h - 2.0 * m);
    let colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"];
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{}\" y=\"20\" text-anchor=\"middle\" font-size=\"14\">committed vs offered transactions per second</text>\n",
        w / 2.0
    );
    svg.push_str(&format!(
        "<line x1=\"{m}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>\n<line x1=\"{m}\" y1=\"{m}\" x2=\"{m}\" y2=\"{}\" stroke=\"black\"/>\n",
        h - m, w - m, h - m, h - m
    ));
    for i in 0..=4 {
        let (vx, vy) = (max_x * i as f64 / 4.0, max_y * i as f64 / 4.0);
        svg.push_str(&format!(
            "<text x=\"{:.0}\" y=\"{}\" text-anchor=\"middle\">{vx:.0}</text>\n<text x=\"{}\" y=\"{:.0}\" text-anchor=\"end\">{vy:.0}</text>\n",
            x(vx), h - m + 18.0, m - 6.0, y(vy) + 4.0
        ));
    }
    svg.push_str(&format!(
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">offered tx/s</text>\n<text x=\"14\" y=\"{}\" transform=\"rotate(-90 14 {})\" text-anchor=\"middle\">committed tx/s</text>\n",
        w / 2.0, h - 16.0, h / 2.0, h / 2.0
    ));
    svg.push_str(&format!(
        "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#bbb\" stroke-dasharray=\"4\"/>\n",
        x(0.0),
        y(0.0),
        x(max_x),
        y(max_x)
    ));
    let mut ns: Vec<usize> = steps.iter().map(|s| s.validators).collect();
    ns.dedup();
    for (k, n) in ns.iter().enumerate() {
        let color = colors[k % colors.len()];
        let pts: Vec<String> = steps
            .iter()
            .filter(|s| s.validators == *n)
            .map(|s| format!("{:.1},{:.1}", x(s.offered as f64), y(s.tps())))
            .collect();
        svg.push_str(&format!(
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>\n",
            pts.join(" ")
        ));
        for p in &pts {
            let (px, py) = p.split_once(',').unwrap_or(("0", "0"));
            svg.push_str(&format!(
                "<circle cx=\"{px}\" cy=\"{py}\" r=\"3\" fill=\"{color}\"/>\n"
            ));
        }
        svg.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" fill=\"{color}\">{n} validator(s)</text>\n",
            m + 10.0,
            m + 16.0 * k as f64
        ));
    }
    svg.push_str("</svg>\n");
    svg
}
