//! `fhir-import`: resources per second for importing a FHIR transaction Bundle (Synthea's), in
//! two measures: planning alone (parse + de-identify + name records, pure, one thread), and the
//! whole `ehrchain fhir import` flow against an embedded node over loopback HTTP (persona
//! store, then per resource: encrypt, upload, anchor with the block commit, seal the key).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use clap::Args;
use ehrchain_crypto::Identity;
use ehrchain_node::Node;
use ehrchain_types::{
    AgentId, CategoryPattern, Grant, GrantId, Grantee, Mode, OrgKind, Outcome, PatientId, Purpose,
    Role, Scope, Timestamp, TxBody,
};
use rand::rngs::OsRng;
use rand::RngCore;
use serde_json::{json, Value};

use crate::machine::{load_average, wait_quiet, Machine};
use crate::report::{fmt_rate, Report, Section};
use crate::txbench::{open_config, temp_dir};
use crate::workload::{now_ms, sign};

#[derive(Args, Debug, Clone)]
pub struct FhirImportArgs {
    /// The Bundle to import (default: the largest Synthea sample beside the repository).
    #[arg(long)]
    pub bundle: Option<PathBuf>,
    /// Folder under which the node's temporary data folder is made (default: the system temp).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

/// The shared sample data: `$EHRCHAIN_SAMPLE_DATA` if set, else `shared/data` beside the
/// repository or beside any folder above it, else `/work/shared/data` (where this project's
/// machines keep it, wherever CI clones the repository).
fn sample_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("EHRCHAIN_SAMPLE_DATA") {
        return PathBuf::from(dir);
    }
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .map(|a| a.join("shared/data"))
        .find(|d| d.is_dir())
        .unwrap_or_else(|| PathBuf::from("/work/shared/data"))
}

fn default_bundle() -> PathBuf {
    sample_root().join("synthea/Verna_Satterfield_afe4d0ff.json")
}

pub fn run(args: FhirImportArgs, quiet: Duration, json_out: bool) -> Result<()> {
    let machine = Machine::detect();
    let bundle = args.bundle.clone().unwrap_or_else(default_bundle);
    let bytes = std::fs::read(&bundle)?;
    let input: Value = serde_json::from_slice(&bytes)?;

    // Planning alone.
    wait_quiet(quiet, 0.1);
    let pid = PatientId::from_bytes([7; 16]);
    let t = Instant::now();
    let plan = ehrchain_fhir::plan(&input, &pid, None);
    let plan_secs = t.elapsed().as_secs_f64();
    let n = plan.records.len();
    if !plan.problems.is_empty() {
        bail!("the bundle has problems: {:?}", plan.problems);
    }

    // The whole flow against a node.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("srv-rt")
        .enable_all()
        .build()?;
    let tmp = temp_dir(args.data_dir.as_ref(), "ehrchain-bench-fhir-")?;
    let node = rt.block_on(Node::open(open_config(tmp.path())))?;
    let (doctor, patient) = rt.block_on(setup(&node))?;
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = rt.spawn(ehrchain_api::serve(node.clone(), listener, async move {
        let _ = stop_rx.await;
    }));
    let client = ehrchain_cli::client::Client::new(&format!("http://{addr}"))?;
    wait_quiet(quiet, 0.1);
    let load1 = load_average();
    let t = Instant::now();
    let report = ehrchain_cli::fhir::import(
        &client,
        &doctor,
        &patient,
        std::slice::from_ref(&bundle),
        false,
    )?;
    let import_secs = t.elapsed().as_secs_f64();
    if report.imported != n || !report.problems.is_empty() {
        bail!(
            "imported {} of {n}, problems: {:?}",
            report.imported,
            report.problems
        );
    }
    let t = Instant::now();
    let again = ehrchain_cli::fhir::import(
        &client,
        &doctor,
        &patient,
        std::slice::from_ref(&bundle),
        false,
    )?;
    let again_secs = t.elapsed().as_secs_f64();
    if again.imported != 0 || again.already != n {
        bail!("re-import was not idempotent: {again:?}");
    }
    let _ = stop_tx.send(());
    let _ = rt.block_on(server);

    let mut r = Report::new("fhir-import", machine);
    let mut s = Section::new("workload");
    s.row("bundle", bundle.display().to_string())
        .row("bundle size", format!("{:.1} MB", bytes.len() as f64 / 1e6))
        .row("resources", n.to_string())
        .row("load average before import", load1);
    r.sections.push(s);
    let mut s = Section::new("results");
    s.row(
        "plan (parse done; de-identify + name records), 1 thread",
        format!(
            "{} resources/s ({plan_secs:.3} s)",
            fmt_rate(n as f64 / plan_secs)
        ),
    )
    .row(
        "import end to end (persona + encrypt, upload, anchor, seal), 4 client workers",
        format!(
            "{} resources/s ({import_secs:.2} s)",
            fmt_rate(n as f64 / import_secs)
        ),
    )
    .row(
        "re-import (all already anchored, nothing stored)",
        format!(
            "{} resources/s ({again_secs:.2} s)",
            fmt_rate(n as f64 / again_secs)
        ),
    );
    r.sections.push(s);
    r.json = json!({
        "bundle": bundle, "resources": n,
        "plan_resources_per_sec": n as f64 / plan_secs,
        "import_resources_per_sec": n as f64 / import_secs,
        "import_seconds": import_secs,
        "reimport_seconds": again_secs,
    });
    r.print(json_out);
    Ok(())
}

/// A hospital, a doctor (the front desk importing), a patient who granted the doctor append.
async fn setup(node: &Node) -> Result<(Identity, PatientId)> {
    let (org, c) = node
        .create_organisation("Bench General Hospital", OrgKind::Hospital)
        .await?;
    applied("organisation", &c.outcome)?;
    let doctor = Identity::generate(&mut OsRng);
    let c = node
        .register_agent_for(
            org.id,
            Role::Doctor,
            "Dr Bench",
            "LIC-00001",
            doctor.public().sign,
            doctor.public().encrypt,
        )
        .await?;
    applied("doctor", &c.outcome)?;
    let patient = Identity::generate(&mut OsRng);
    let pid = PatientId::of(&patient.public().sign);
    let c = node
        .submit(sign(
            patient.signing(),
            OsRng.next_u64(),
            TxBody::RegisterPatient {
                encrypt_key: patient.public().encrypt,
            },
        ))
        .await?;
    applied("patient", &c.outcome)?;
    for mode in [Mode::Append, Mode::Read] {
        let mut gid = [0u8; 16];
        OsRng.fill_bytes(&mut gid);
        let c = node
            .submit(sign(
                patient.signing(),
                OsRng.next_u64(),
                TxBody::Grant(Grant {
                    grant: GrantId::from_bytes(gid),
                    grantee: Grantee::Agent(AgentId::of(&doctor.public().sign)),
                    scope: Scope {
                        categories: vec![CategoryPattern::new("*")?],
                        records: Vec::new(),
                    },
                    mode,
                    purpose: Purpose::Treatment,
                    not_before: Timestamp(0),
                    expires: Timestamp(now_ms() + 24 * 3600 * 1000),
                }),
            ))
            .await?;
        applied("grant", &c.outcome)?;
    }
    Ok((doctor, pid))
}

fn applied(what: &str, o: &Outcome) -> Result<()> {
    if *o != Outcome::Applied {
        bail!("setup {what}: {o:?}");
    }
    Ok(())
}
