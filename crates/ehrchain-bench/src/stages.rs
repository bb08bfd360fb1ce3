//! `tx-stages`: the node's per-block work, stage by stage, on one thread, with the same workload
//! as `tx`. It calls the public pieces the node's threads call (`verify_all` as admission does,
//! the replay lookup, `execute`, `BlockBuilder::build` = execute + certify + `Store::commit_block`)
//! on a `Store` of its own, and times each, so a miss in `tx` can be attributed without a
//! profiler.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use ehrchain_crypto::{Identity, SigningKey};
use ehrchain_ledger::{execute, genesis_state, BlockContext, StateView};
use ehrchain_node::producer::BlockBuilder;
use ehrchain_store::Store;
use ehrchain_types::{
    verify_all, Canonical, Genesis, GenesisValidator, Height, OrgKind, Outcome, RegisterAgent,
    RegisterOrganisation, Role, SignedTx, Timestamp, TxBody, VerifiedTx,
};
use rand::rngs::OsRng;
use rand::RngCore;
use serde_json::json;

use crate::machine::{wait_quiet, CpuSample, Machine};
use crate::report::{cpu_section, fmt_rate, fmt_secs, Report, Section};
use crate::txbench::temp_dir;
use crate::workload::{now_ms, sign, Mix, World};

#[derive(Args, Debug, Clone)]
pub struct StagesArgs {
    /// Transactions in the timed stream.
    #[arg(long, default_value_t = 200_000)]
    pub count: usize,
    /// Transactions per block (the node's default `max_block_txs`).
    #[arg(long, default_value_t = 8192)]
    pub block: usize,
    #[arg(long, default_value_t = 10_000)]
    pub patients: usize,
    #[arg(long, default_value_t = 32)]
    pub doctors: usize,
    #[arg(long, default_value = "access=70,grant=10,anchor=10,register=10")]
    pub mix: Mix,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

struct Chain {
    store: Arc<Store>,
    builder: BlockBuilder,
}

impl Chain {
    fn commit(&mut self, txs: Vec<SignedTx>) -> Result<()> {
        let verified: Vec<VerifiedTx> = verify_all(txs)
            .into_iter()
            .collect::<Result<_, _>>()
            .context("setup signature")?;
        for chunk in verified.chunks(8192) {
            let block = self.builder.build(chunk, Timestamp(now_ms()))?;
            if let Some(r) = block
                .receipts
                .iter()
                .find(|r| r.outcome != Outcome::Applied)
            {
                bail!("setup tx not applied: {:?}", r.outcome);
            }
        }
        Ok(())
    }
}

#[derive(Default)]
struct Totals {
    verify: Duration,
    replay: Duration,
    execute: Duration,
    build: Duration,
    encode: Duration,
    blocks: usize,
    txs: usize,
    bytes: usize,
}

pub fn run(args: StagesArgs, quiet: Duration, json: bool) -> Result<()> {
    let machine = Machine::detect();
    let tmp = temp_dir(args.data_dir.as_ref(), "ehrchain-bench-stages-")?;
    let validator = SigningKey::generate(&mut OsRng);
    let genesis = Genesis {
        chain: "ehrchain-bench".into(),
        time: Timestamp(now_ms()),
        validators: vec![GenesisValidator {
            name: "bench".into(),
            key: validator.public(),
        }],
    };
    let store = Arc::new(Store::open(&tmp.path().join("ledger.redb"))?);
    store.init_genesis(&genesis, &genesis_state(&genesis).0)?;
    let builder = BlockBuilder::new(store.clone(), validator.clone(), &genesis)?;
    let mut chain = Chain { store, builder };

    eprintln!("tx-stages: setup");
    let t_setup = Instant::now();
    let world = World::generate(args.doctors, args.patients);
    let org = Identity::generate(&mut OsRng);
    let org_id = crate::workload::org_id_of(&org);
    chain.commit(vec![sign(
        &validator,
        OsRng.next_u64(),
        TxBody::RegisterOrganisation(RegisterOrganisation {
            name: "Bench General Hospital".into(),
            kind: OrgKind::Hospital,
            sign_key: org.public().sign,
            encrypt_key: org.public().encrypt,
        }),
    )])?;
    chain.commit(
        world
            .doctors
            .iter()
            .enumerate()
            .map(|(i, d)| {
                sign(
                    org.signing(),
                    OsRng.next_u64(),
                    TxBody::RegisterAgent(RegisterAgent {
                        org: org_id,
                        role: Role::Doctor,
                        name: format!("Dr Bench {i}"),
                        licence: format!("LIC-{i:05}"),
                        sign_key: d.public().sign,
                        encrypt_key: d.public().encrypt,
                    }),
                )
            })
            .collect(),
    )?;
    chain.commit(world.register_patients())?;
    chain.commit(world.records_and_grants())?;
    let setup = t_setup.elapsed();
    eprintln!("tx-stages: setup done in {}; signing", fmt_secs(setup));
    let stream = world.stream(args.count, &args.mix, args.seed);

    eprintln!(
        "tx-stages: timing {} txs in blocks of {}",
        stream.len(),
        args.block
    );
    wait_quiet(quiet, 0.1);
    let mut t = Totals::default();
    let cpu0 = CpuSample::now();
    let t_all = Instant::now();
    let mut it = stream.into_iter();
    loop {
        let batch: Vec<SignedTx> = it.by_ref().take(args.block.max(1)).collect();
        if batch.is_empty() {
            break;
        }
        // Admission: batched signature check, then the replay lookup on committed state.
        let t0 = Instant::now();
        let verified: Vec<VerifiedTx> = verify_all(batch)
            .into_iter()
            .collect::<Result<_, _>>()
            .context("signature")?;
        t.verify += t0.elapsed();
        let t0 = Instant::now();
        let snap = chain.store.snapshot()?;
        for v in &verified {
            if snap.tx_location(&v.id())?.is_some() {
                bail!("replay in the stream");
            }
        }
        drop(snap);
        t.replay += t0.elapsed();
        // Producer: execution alone (a dry run on the same snapshot) ...
        let tip = chain.store.tip()?.context("tip")?;
        let ctx = BlockContext {
            height: Height(tip.height.0 + 1),
            time: Timestamp(now_ms().max(tip.time.0)),
            prev_state_root: tip.state_root,
        };
        let t0 = Instant::now();
        let snap = chain.store.snapshot()?;
        let ex = execute(&snap, &ctx, &verified)?;
        drop(snap);
        t.execute += t0.elapsed();
        drop(ex);
        // ... then the real thing: execute + certify + commit (block log fsync + redb commit).
        let t0 = Instant::now();
        let block = chain.builder.build(&verified, Timestamp(now_ms()))?;
        t.build += t0.elapsed();
        let t0 = Instant::now();
        t.bytes += block.to_bytes().len();
        t.encode += t0.elapsed();
        t.blocks += 1;
        t.txs += verified.len();
    }

    let (cpu_sec, cpu_json, _) = cpu_section(
        "cpu during the timed part (cores busy; one thread works)",
        &cpu0,
        &CpuSample::now(),
        t_all.elapsed(),
        |_| "bench thread",
        "threads that exited",
    );
    let per_tx = |d: Duration| d.as_secs_f64() * 1e6 / t.txs.max(1) as f64;
    let ceiling = |d: Duration| t.txs as f64 / d.as_secs_f64().max(1e-9);
    let commit = t.build.saturating_sub(t.execute);
    let admission = t.verify + t.replay;
    let mut report = Report::new("tx-stages", machine);
    let mut w = Section::new("workload (same as `tx`)");
    w.row(
        "stream",
        format!(
            "{} txs in {} blocks of <= {}: {}",
            t.txs,
            t.blocks,
            args.block,
            args.mix.describe()
        ),
    )
    .row(
        "setup (untimed)",
        format!(
            "{} doctors, {} patients: {}",
            args.doctors,
            args.patients,
            fmt_secs(setup)
        ),
    )
    .row(
        "mean block size",
        format!(
            "{:.1} MiB",
            t.bytes as f64 / t.blocks.max(1) as f64 / 1048576.0
        ),
    );
    report.sections.push(w);
    let mut s = Section::new("stage: total / per tx / one-core ceiling tx/s");
    let mut row = |name: &str, d: Duration| {
        s.row(
            name,
            format!(
                "{} / {:.2} us / {}",
                fmt_secs(d),
                per_tx(d),
                fmt_rate(ceiling(d))
            ),
        );
    };
    row("admission: verify_all (batched Ed25519)", t.verify);
    row(
        "admission: replay lookup (snapshot + tx_location)",
        t.replay,
    );
    row("admission total", admission);
    row("producer: execute (dry run)", t.execute);
    row(
        "producer: build = execute + certify + commit_block",
        t.build,
    );
    row(
        "producer: certify + commit_block (= build - execute)",
        commit,
    );
    row("(extra) Block::to_bytes once more", t.encode);
    report.sections.push(s);
    let mut m = Section::new("model");
    let pipeline = ceiling(admission).min(ceiling(t.build));
    let serial = ceiling(admission + t.build);
    m.row(
        "admission || producer on 2 free cores (upper bound)",
        fmt_rate(pipeline),
    )
    .row("all stages on one core", fmt_rate(serial));
    report.sections.push(m);
    report.sections.push(cpu_sec);
    report.json = json!({
        "txs": t.txs,
        "blocks": t.blocks,
        "block_bytes_mean": t.bytes as f64 / t.blocks.max(1) as f64,
        "us_per_tx": {
            "verify": per_tx(t.verify),
            "replay": per_tx(t.replay),
            "execute": per_tx(t.execute),
            "build": per_tx(t.build),
            "certify_commit": per_tx(commit),
            "encode": per_tx(t.encode),
        },
        "ceiling_tx_per_s": {
            "admission": ceiling(admission),
            "producer": ceiling(t.build),
            "pipeline_2_cores": pipeline,
            "one_core": serial,
        },
        "cpu": cpu_json,
    });
    report.print(json);
    Ok(())
}
