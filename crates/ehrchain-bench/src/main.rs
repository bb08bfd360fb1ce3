//! `ehrchain-bench`: the benchmark harness.
//!
//! - `tx`: committed signed transactions per second on the embedded node;
//! - `tx-stages`: the same workload, the node's per-block stages timed one by one;
//! - `ingest`: encrypt + CID + store of a large record, end to end and per stage;
//! - `reads`: authorised reads per second over HTTP on loopback, each with its audit event;
//! - `cluster`: consortia of N validators under rising offered load (latency, failures, CPU);
//! - `bare`: the same consensus wiring with no ledger work, the baseline `cluster` is compared to;
//! - `fhir-import`: FHIR resources per second imported from a Synthea bundle.
//!
//! Every run prints the machine's facts and its exact command line, then a result table
//! (`--json`: the JSON document on stdout, the table on stderr). Build with `--release`.

mod bare;
mod cluster;
mod fhirimport;
mod ingest;
mod machine;
mod reads;
mod report;
mod stages;
mod txbench;
mod workload;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "ehrchain-bench", version, about)]
struct Cli {
    /// Print the results as JSON on stdout (the table goes to stderr).
    #[arg(long, global = true)]
    json: bool,
    /// Before each timed phase, wait up to this many seconds for other processes to use less
    /// than 0.1 core (0: don't wait). The report says how busy the machine was either way.
    #[arg(long, global = true, default_value_t = 0)]
    wait_quiet: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Committed signed transactions per second on the embedded node (mixed workload).
    Tx(txbench::TxArgs),
    /// The `tx` workload's per-block stages (verify, replay check, execute, commit) timed alone.
    TxStages(stages::StagesArgs),
    /// Ingest of a large record: STREAM AES-256-GCM + CID + filesystem blob store.
    Ingest(ingest::IngestArgs),
    /// Authorised reads per second over HTTP/1 on loopback, each committing its access event.
    Reads(reads::ReadsArgs),
    /// Consortia of 1, 4, 7, 10 validators under rising offered load (the seeds' evaluation).
    Cluster(cluster::ClusterArgs),
    /// The engine alone: the same consensus wiring with an application that does no ledger
    /// work (finalized blocks/s and the transactions they carry), for N validators.
    Bare(bare::BareArgs),
    /// FHIR import: resources per second for a Synthea bundle (planning alone, and end to end).
    FhirImport(fhirimport::FhirImportArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if cfg!(debug_assertions) {
        eprintln!(
            "warning: debug build; benchmark numbers need `cargo run --release -p ehrchain-bench`"
        );
    }
    let quiet = std::time::Duration::from_secs(cli.wait_quiet);
    match cli.command {
        Command::Tx(a) => txbench::run(a, quiet, cli.json),
        Command::TxStages(a) => stages::run(a, quiet, cli.json),
        Command::Ingest(a) => ingest::run(a, quiet, cli.json),
        Command::Reads(a) => reads::run(a, quiet, cli.json),
        Command::Cluster(a) => cluster::run(a, cli.json),
        Command::Bare(a) => bare::run(a, cli.json),
        Command::FhirImport(a) => fhirimport::run(a, quiet, cli.json),
    }
}
