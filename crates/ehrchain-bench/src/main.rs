//! `ehrchain-bench`: the benchmark harness.
//!
//! - `tx`: committed signed transactions per second on the embedded node;
//! - `tx-stages`: the same workload, the node's per-block stages timed one by one;
//! - `ingest`: encrypt + CID + store of a large record, end to end and per stage;
//! - `reads`: authorised reads per second over HTTP on loopback, each with its audit event.
//!
//! Every run prints the machine's facts and its exact command line, then a result table
//! (`--json`: the JSON document on stdout, the table on stderr). Build with `--release`.

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
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if cfg!(debug_assertions) {
        eprintln!(
            "warning: debug build; benchmark numbers need `cargo run --release -p ehrchain-bench`"
        );
    }
    match cli.command {
        Command::Tx(a) => txbench::run(a, cli.json),
        Command::TxStages(a) => stages::run(a, cli.json),
        Command::Ingest(a) => ingest::run(a, cli.json),
        Command::Reads(a) => reads::run(a, cli.json),
    }
}
