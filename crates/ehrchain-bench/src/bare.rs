//! `bare`: the engine's own ceiling on this machine, the baseline the `cluster` evaluation is
//! compared with. Consortia of N bare validators (`ehrchain_consensus::bare`: the same
//! Simplex + marshal + broadcast wiring, p2p network, quotas and storage as a ledger validator,
//! all in this one process) whose leaders propose, as fast as the engine lets them, blocks
//! carrying the same signed transactions as the `cluster` workload, but check no signatures,
//! execute nothing and store nothing of their own. For each (N, transactions per block):
//! finalized blocks/s, the transactions they carried per second, and CPU per block.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use clap::Args;
use ehrchain_consensus::engine::EngineConfig;
use ehrchain_consensus::validator::{spawn_bare, BareValidator, PeerConfig};
use ehrchain_crypto::{SecretBytes, SigningKey};
use ehrchain_types::{Genesis, GenesisValidator, Timestamp};
use rand::RngCore;
use serde_json::{json, Value};

use crate::cluster::free_port;
use crate::machine::{process_cpu, Machine};
use crate::txbench::temp_dir;
use crate::workload::{Mix, World};

#[derive(Args, Debug, Clone)]
pub struct BareArgs {
    /// Validator counts to evaluate.
    #[arg(long, value_delimiter = ',', default_value = "1,4,7,10")]
    pub validators: Vec<usize>,
    /// Transactions each block carries (0: empty blocks, like Commonware's `log` example).
    #[arg(long, value_delimiter = ',', default_value = "0,1000")]
    pub block_txs: Vec<usize>,
    /// Seconds measured for each (validators, block size), after the warm-up.
    #[arg(long, default_value_t = 5)]
    pub seconds: u64,
    #[arg(long, default_value_t = 2)]
    pub warmup_secs: u64,
    #[arg(long, default_value = "access=70,grant=10,anchor=10,register=10")]
    pub mix: Mix,
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

struct Row {
    validators: usize,
    block_txs: usize,
    blocks: u64,
    txs: u64,
    secs: f64,
    cpu_secs: f64,
}

impl Row {
    fn blocks_per_sec(&self) -> f64 {
        self.blocks as f64 / self.secs
    }
    fn tps(&self) -> f64 {
        self.txs as f64 / self.secs
    }
    fn cpu_ms_per_block(&self) -> f64 {
        1e3 * self.cpu_secs / self.blocks.max(1) as f64
    }
    fn json(&self) -> Value {
        json!({
            "validators": self.validators, "block_txs": self.block_txs,
            "blocks_per_sec": self.blocks_per_sec(), "committed_tps": self.tps(),
            "cpu_ms_per_block": self.cpu_ms_per_block(),
        })
    }
}

fn start(
    n: usize,
    txs: &[ehrchain_types::SignedTx],
    dir: &std::path::Path,
) -> Result<Vec<BareValidator>> {
    let mut keys = Vec::new();
    let mut peers = Vec::new();
    for _ in 0..n {
        let mut seed = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut seed);
        let key = SigningKey::from_seed(&SecretBytes::new(seed));
        peers.push((
            key.public(),
            SocketAddr::from(([127, 0, 0, 1], free_port()?)),
        ));
        keys.push(key);
    }
    let genesis = Genesis {
        chain: "ehrchain-bench-bare".into(),
        time: Timestamp(SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as u64),
        validators: keys
            .iter()
            .enumerate()
            .map(|(i, k)| GenesisValidator {
                name: format!("node-{i}"),
                key: k.public(),
            })
            .collect(),
    };
    let mut out = Vec::new();
    for (i, key) in keys.into_iter().enumerate() {
        let mut engine = EngineConfig::new(genesis.clone(), key, "bare");
        engine.max_block_txs = txs.len().max(1);
        out.push(spawn_bare(
            engine,
            PeerConfig {
                listen: peers[i].1,
                peers: peers.clone(),
                storage: dir.join(format!("node-{i}")),
                worker_threads: 1,
            },
            txs.to_vec(),
        )?);
    }
    Ok(out)
}

pub fn run(args: BareArgs, json_out: bool) -> Result<()> {
    let machine = Machine::detect();
    let world = World::generate(8, 200);
    let mut rows = Vec::new();
    for &n in &args.validators {
        for &k in &args.block_txs {
            let tmp = temp_dir(args.data_dir.as_ref(), "ehrchain-bare-")?;
            let txs = world.stream(k, &args.mix, 7);
            let nodes = start(n, &txs, tmp.path())?;
            std::thread::sleep(Duration::from_secs(args.warmup_secs));
            let counts = &nodes[0].counts;
            let (b0, t0) = (
                counts.blocks.load(Ordering::Relaxed),
                counts.txs.load(Ordering::Relaxed),
            );
            let cpu0 = process_cpu();
            let start_at = Instant::now();
            std::thread::sleep(Duration::from_secs(args.seconds));
            let row = Row {
                validators: n,
                block_txs: k,
                blocks: counts.blocks.load(Ordering::Relaxed) - b0,
                txs: counts.txs.load(Ordering::Relaxed) - t0,
                secs: start_at.elapsed().as_secs_f64(),
                cpu_secs: process_cpu() - cpu0,
            };
            eprintln!("  {}", row.json());
            rows.push(row);
            drop(nodes);
            drop(tmp);
        }
    }
    let mut table = String::from(
        "| validators | txs per block | finalized blocks/s | tx/s carried | CPU ms per block |\n|---|---|---|---|---|\n",
    );
    for r in &rows {
        table.push_str(&format!(
            "| {} | {} | {:.1} | {:.0} | {:.2} |\n",
            r.validators,
            r.block_txs,
            r.blocks_per_sec(),
            r.tps(),
            r.cpu_ms_per_block()
        ));
    }
    eprintln!(
        "machine: {} cores, {}, {}\ncommand: {}",
        machine.nproc, machine.cpu_model, machine.mem_total, machine.command
    );
    eprintln!("{table}");
    if json_out {
        let rows: Vec<Value> = rows.iter().map(Row::json).collect();
        println!("{}", serde_json::to_string_pretty(&json!({"rows": rows}))?);
    }
    Ok(())
}
