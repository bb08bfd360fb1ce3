//! `ehrchain`: run a node, make keys, register, put and get records, grant, revoke, break-glass,
//! read the audit trail, erase, verify, and a seeded demo.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use clap::{Args, Parser, Subcommand};
use ehrchain_cli::client::Client;
use ehrchain_cli::records::{self, GrantSpec, PutRecord};
use ehrchain_cli::{consortium, keys, serve, txs};
use ehrchain_consensus::EngineCheck;
use ehrchain_crypto::PublicKey;
use ehrchain_fhir::smart::Scope as SmartScope;
use ehrchain_ledger::{CertificateCheck, InclusionProof};
use ehrchain_node::{BlobConfig, NodeConfig};
use ehrchain_types::{
    AgentId, AggregateQuery, BreakGlass, Canonical, Category, CategoryPattern, Certificate,
    Grantee, GroupBy, Mode, OrgId, PatientId, Purpose, RecordId, Role, SignedTx, Timestamp, TxBody,
};
use serde_json::{json, Value};

#[derive(Parser)]
#[command(
    name = "ehrchain",
    version,
    about = "Patient-controlled health-record exchange"
)]
struct Cli {
    /// The node's API address.
    #[arg(
        long,
        global = true,
        env = "EHRCHAIN_NODE",
        default_value = "http://127.0.0.1:8080"
    )]
    node: String,
    /// Print machine-readable JSON instead of prose.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Initialise a node's data folder (validator key, persona key, genesis) and exit.
    Init(RunArgs),
    /// Run a node (the embedded default: one validator, local disk) with its API on localhost.
    /// Initialises the data folder on first start.
    Run(RunArgs),
    /// Start a node seeded with a small consortium and print what to try next.
    Demo(RunArgs),
    /// Write keys, a shared genesis and a consortium file for N validators on 127.0.0.1, and
    /// print the command that runs each.
    Testnet(TestnetArgs),
    /// Make and inspect key files (sealed with EHRCHAIN_PASSPHRASE).
    #[command(subcommand)]
    Keys(KeysCmd),
    /// Organisations hosted by a node (needs the node's data folder for its validator key).
    #[command(subcommand)]
    Org(OrgCmd),
    /// Register staff of a hosted organisation.
    #[command(subcommand)]
    Agent(AgentCmd),
    /// Staff account requests made in the web UI (the node operator approves the first org admin).
    #[command(subcommand)]
    Staff(StaffCmd),
    /// Patients register themselves with their own key.
    #[command(subcommand)]
    Patient(PatientCmd),
    /// Identifying data, kept encrypted off the ledger by the front desk.
    #[command(subcommand)]
    Persona(PersonaCmd),
    /// Put, get and list records.
    #[command(subcommand)]
    Record(RecordCmd),
    /// FHIR R4: import bundles (de-identified), export your records as a Bundle.
    #[command(subcommand)]
    Fhir(FhirCmd),
    /// DICOM tools.
    #[command(subcommand)]
    Dicom(DicomCmd),
    /// Device feed: a registered device pushes vital-sign Observations, anchored in batches.
    #[command(subcommand)]
    Device(DeviceCmd),
    /// Grant access to your records (as the patient).
    Grant(GrantArgs),
    /// Revoke a grant (as the patient).
    Revoke {
        #[arg(long = "as")]
        key: PathBuf,
        #[arg(long)]
        grant: String,
    },
    /// Declare an emergency (break-glass) for a patient: time-limited, audited, shown to the patient.
    BreakGlass {
        #[arg(long = "as")]
        key: PathBuf,
        #[arg(long)]
        patient: String,
        #[arg(long)]
        reason: String,
        /// How long, e.g. 30m, 2h (at most 24h).
        #[arg(long, default_value = "1h")]
        r#for: String,
    },
    /// Population counts (as a public-health officer or researcher): how many patients have a
    /// condition, in total or by age band, region or condition code, over the patients who
    /// granted the purpose to your organisation. Noisy (Laplace), small cells suppressed, charged
    /// to your privacy budget, and recorded on the ledger.
    Aggregate {
        #[arg(long = "as")]
        key: PathBuf,
        /// public-health or research.
        #[arg(long, default_value = "public-health")]
        purpose: String,
        /// Count only patients with this SNOMED CT code, e.g. 44054006 (diabetes).
        #[arg(long)]
        condition: Option<String>,
        /// total, age-band, region=Massachusetts,Ohio or condition=44054006,38341003.
        #[arg(long, default_value = "total")]
        by: String,
        /// The privacy loss this release spends (at most 1.0).
        #[arg(long, default_value = "0.5")]
        epsilon: f64,
    },
    /// Your audit trail (as the patient): every access, who, when, which record, why, on what basis.
    Audit {
        #[arg(long = "as")]
        key: PathBuf,
    },
    /// Your grants (as the patient).
    Grants {
        #[arg(long = "as")]
        key: PathBuf,
    },
    /// Erase a record (as the patient): every node deletes ciphertext and envelopes and signs a receipt.
    Erase {
        #[arg(long = "as")]
        key: PathBuf,
        #[arg(long)]
        record: String,
        /// Wait until every validator's receipt is committed.
        #[arg(long)]
        wait: bool,
    },
    /// Verify the chain, a transaction's inclusion proof, or the node's integrity alerts.
    #[command(subcommand)]
    Verify(VerifyCmd),
    /// The node's chain, tip and alerts.
    Status,
}

#[derive(Args, Clone)]
struct RunArgs {
    #[arg(long, env = "EHRCHAIN_DATA", default_value = "ehrchain-data")]
    data_dir: PathBuf,
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Run as one validator of a consortium (a file written by `ehrchain testnet`); without it,
    /// the node is a consortium of one.
    #[arg(long)]
    consortium: Option<PathBuf>,
    /// Seconds between integrity scrubs (0 disables).
    #[arg(long, default_value_t = 600)]
    scrub_secs: u64,
    /// Population counts this node releases: cells whose noisy count is under this are
    /// suppressed (at least 1).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    suppress_below: u64,
    /// Store ciphertexts in an S3-compatible bucket instead of local disk.
    #[arg(long, requires_all = ["s3_bucket"])]
    s3_endpoint: Option<String>,
    #[arg(long)]
    s3_bucket: Option<String>,
    #[arg(long, default_value = "us-east-1")]
    s3_region: String,
    #[arg(long, env = "AWS_ACCESS_KEY_ID", default_value = "")]
    s3_access_key: String,
    #[arg(
        long,
        env = "AWS_SECRET_ACCESS_KEY",
        default_value = "",
        hide_env_values = true
    )]
    s3_secret_key: String,
}

#[derive(Args)]
struct TestnetArgs {
    /// How many validators (organisations' nodes).
    #[arg(long, default_value_t = 4)]
    validators: usize,
    /// Folder to create, with one data folder per node and `consortium.json`.
    #[arg(long, default_value = "ehrchain-testnet")]
    dir: PathBuf,
    /// First port: node i's API listens on base+2i, its consensus p2p on base+2i+1.
    #[arg(long, default_value_t = 7400)]
    base_port: u16,
    #[arg(long, default_value = "ehrchain-testnet")]
    chain: String,
}

#[derive(Subcommand)]
enum KeysCmd {
    /// Generate a new identity (Ed25519 + X25519) into FILE, sealed with EHRCHAIN_PASSPHRASE.
    New { out: PathBuf },
    /// Print a key file's public keys and ids.
    Show { file: PathBuf },
}

#[derive(Subcommand)]
enum OrgCmd {
    /// Create an organisation hosted by the node, registered with its validator key.
    Create {
        #[arg(long, env = "EHRCHAIN_DATA", default_value = "ehrchain-data")]
        data_dir: PathBuf,
        #[arg(long)]
        name: String,
        /// hospital, clinic, laboratory, pharmacy, insurer, public-health-agency, research-institute
        #[arg(long)]
        kind: String,
    },
    /// List registered organisations.
    List,
}

#[derive(Subcommand)]
enum AgentCmd {
    /// Register the holder of KEY as staff of ORG (signed with the hosted organisation's key).
    Register {
        #[arg(long, env = "EHRCHAIN_DATA", default_value = "ehrchain-data")]
        data_dir: PathBuf,
        #[arg(long)]
        org: String,
        /// doctor, nurse, lab-technician, pharmacist, insurer-officer, public-health-officer, researcher, org-admin
        #[arg(long)]
        role: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        licence: String,
        /// The agent's key file (only its public sidecar is read).
        #[arg(long)]
        key: PathBuf,
    },
}

#[derive(Subcommand)]
enum StaffCmd {
    /// List web staff requests waiting for approval at this node.
    Pending {
        #[arg(long, env = "EHRCHAIN_DATA", default_value = "ehrchain-data")]
        data_dir: PathBuf,
    },
    /// Approve a web staff request: registers the agent, signed with its organisation's key.
    Approve {
        #[arg(long, env = "EHRCHAIN_DATA", default_value = "ehrchain-data")]
        data_dir: PathBuf,
        /// The login name the person chose when requesting the account.
        #[arg(long)]
        login: String,
    },
}

#[derive(Subcommand)]
enum PatientCmd {
    /// Register the holder of KEY as a patient (signed by the patient's own key).
    Register {
        #[arg(long)]
        key: PathBuf,
    },
}

#[derive(Subcommand)]
enum PersonaCmd {
    /// Store a patient's identifying data (as a front-desk agent).
    Put {
        #[arg(long = "as")]
        key: PathBuf,
        #[arg(long)]
        patient: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        birth_date: String,
        #[arg(long)]
        national_id: Option<String>,
        #[arg(long)]
        phone: Option<String>,
        #[arg(long)]
        address: Option<String>,
    },
    /// Find a returning patient by national id.
    Find {
        #[arg(long = "as")]
        key: PathBuf,
        #[arg(long)]
        national_id: String,
    },
}

#[derive(Subcommand)]
enum RecordCmd {
    /// Encrypt a file of any size and store it as a record.
    Put {
        #[arg(long = "as")]
        key: PathBuf,
        #[arg(long)]
        patient: String,
        /// e.g. Observation/laboratory, ImagingStudy, DocumentReference/clinical-note. Without
        /// it, DICOM (by its metadata), WFDB, PDF and text files are classified.
        #[arg(long)]
        category: Option<String>,
        /// Without it, the classified type, or application/octet-stream.
        #[arg(long)]
        media_type: Option<String>,
        #[arg(long)]
        supersedes: Option<String>,
        file: PathBuf,
    },
    /// Read a record and decrypt it into OUT (the access is committed to the ledger first).
    Get {
        #[arg(long = "as")]
        key: PathBuf,
        #[arg(long)]
        record: String,
        #[arg(long, default_value = "treatment")]
        purpose: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// List a patient's records (agents see only what their grants allow).
    List {
        #[arg(long = "as")]
        key: PathBuf,
        #[arg(long)]
        patient: String,
    },
}

#[derive(Subcommand)]
enum FhirCmd {
    /// Import FHIR R4 JSON (transaction Bundles such as Synthea's, or single resources) for a
    /// patient, as an agent with an append grant: identifying data goes to this node's persona
    /// store, every resource becomes an encrypted record. Safe to run again.
    Import {
        #[arg(long = "as")]
        key: PathBuf,
        #[arg(long)]
        patient: String,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Serve FHIR R4 read and search to an EHR app on this machine: a gateway on the reader's
    /// side. Every record is read through the node (a committed, audited access decided by the
    /// patient's grants) and decrypted here; the app's SMART scopes narrow what it may ask for.
    Serve {
        #[arg(long = "as")]
        key: PathBuf,
        /// The patient in context (needed by patient/ scopes and by reads by id).
        #[arg(long)]
        patient: Option<String>,
        /// A SMART scope the app holds, e.g. 'patient/Observation.rs?category=laboratory'
        /// (repeat for more).
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        #[arg(long, default_value = "treatment")]
        purpose: String,
        #[arg(long, default_value = "127.0.0.1:8090")]
        listen: SocketAddr,
    },
    /// Export your records as a FHIR Bundle (as the patient), decrypted and re-identified on
    /// this side, with your grants as Consent, access events as AuditEvent and anchors as
    /// Provenance.
    Export {
        #[arg(long = "as")]
        key: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// Records exactly as stored (de-identified), without putting identifying data back.
        #[arg(long)]
        as_stored: bool,
    },
}

#[derive(Subcommand)]
enum DeviceCmd {
    /// Push Observations (a Bundle, a JSON array or one resource) for the patient the device is
    /// bound to (by the patient's append grant): one anchor transaction per batch.
    Push {
        #[arg(long = "as")]
        key: PathBuf,
        #[arg(long)]
        patient: String,
        /// Readings per anchor transaction (at most 64).
        #[arg(long, default_value_t = 64)]
        batch: usize,
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum DicomCmd {
    /// Write a research copy of a DICOM file without the attributes that identify the patient
    /// (names, ids, birth date, address, phone, institution and staff). Loads the file in memory.
    ResearchCopy { input: PathBuf, output: PathBuf },
}

#[derive(Args)]
struct GrantArgs {
    #[arg(long = "as")]
    key: PathBuf,
    /// An agent (ag_…), an organisation (org_…), or a role at an organisation (doctor@org_…).
    #[arg(long)]
    to: String,
    /// Category patterns: laboratory, ImagingStudy, Observation/vital-signs, * …
    #[arg(long, value_delimiter = ',')]
    categories: Vec<String>,
    /// Record ids.
    #[arg(long, value_delimiter = ',')]
    records: Vec<String>,
    #[arg(long, default_value = "treatment")]
    purpose: String,
    #[arg(long, default_value = "read")]
    mode: String,
    /// How long from now, e.g. 1d, 12h, 30m, 10s.
    #[arg(long = "for", default_value = "1d")]
    duration: String,
    /// Grant what a SMART scope names instead of --categories and --mode, e.g.
    /// 'patient/Observation.rs?category=laboratory' (a read grant of Observation/laboratory;
    /// c or u also grant append).
    #[arg(long = "smart-scope", conflicts_with_all = ["categories", "records", "mode"])]
    smart_scope: Option<String>,
}

#[derive(Subcommand)]
enum VerifyCmd {
    /// Fetch every block header and check hash links and certificates against the validators.
    Chain {
        /// Trusted validator keys (hex, comma-separated); default: those the node reports.
        #[arg(long, value_delimiter = ',')]
        validators: Vec<String>,
    },
    /// Fetch a transaction's inclusion proof and check it offline against the validators.
    Proof {
        #[arg(long)]
        tx: String,
        #[arg(long, value_delimiter = ',')]
        validators: Vec<String>,
        /// Check a proof saved in a file instead of fetching one.
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// The node's tamper and damage alerts.
    Alerts,
    /// Have the node re-check every block and every blob now (needs its data folder).
    Blobs {
        #[arg(long, env = "EHRCHAIN_DATA", default_value = "ehrchain-data")]
        data_dir: PathBuf,
    },
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    if let Err(e) = dispatch(cli) {
        eprintln!("error: {e:#}");
        if let Some(code) = ehrchain_cli::client::code_of(&e) {
            eprintln!("code: {code}");
        }
        std::process::exit(1);
    }
}

fn duration(s: &str) -> Result<Duration> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .with_context(|| format!("bad duration {s:?}: use e.g. 30s, 10m, 2h, 1d"))?;
    let secs = match unit {
        "s" | "" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => bail!("bad duration unit in {s:?}: use s, m, h or d"),
    };
    Ok(Duration::from_secs(secs))
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn identity(path: &Path) -> Result<ehrchain_crypto::Identity> {
    keys::load(path, &keys::passphrase()?)
}

/// `total`, `age-band`, `region=A,B` or `condition=CODE,CODE`.
fn group_by(text: &str) -> Result<GroupBy> {
    let list = |v: &str| -> Vec<String> {
        v.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    Ok(match text.split_once('=') {
        None if text == "total" => GroupBy::Total,
        None if text == "age-band" => GroupBy::AgeBand,
        Some(("region", v)) => GroupBy::Region(list(v)),
        Some(("condition", v)) => GroupBy::Condition(list(v)),
        _ => bail!(
            "--by must be total, age-band, region=NAME,NAME or condition=CODE,CODE (got {text:?})"
        ),
    })
}

fn aggregate_prose(out: &Value) -> String {
    let mut s = String::new();
    for c in out["cells"].as_array().into_iter().flatten() {
        let count = match c["count"].as_u64() {
            Some(n) => n.to_string(),
            None => format!("suppressed (under {})", out["noise"]["suppress_below"]),
        };
        s.push_str(&format!(
            "{:>24}  {count}\n",
            c["label"].as_str().unwrap_or("?")
        ));
    }
    s.push_str(&format!(
        "Laplace noise of scale {} added to every cell; privacy budget spent {} of {}. Release {} is on the ledger at block {}.",
        out["noise"]["scale"],
        out["budget"]["spent_epsilon"],
        out["budget"]["total_epsilon"],
        out["tx"].as_str().unwrap_or("?"),
        out["height"],
    ));
    s
}

fn print(json_mode: bool, value: &Value, prose: impl FnOnce() -> String) {
    if json_mode {
        println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_default()
        );
    } else {
        println!("{}", prose());
    }
}

fn node_config(a: &RunArgs) -> Result<NodeConfig> {
    let mut c = NodeConfig::new(&a.data_dir, serve::node_passphrase(&a.data_dir)?);
    if let Some(path) = &a.consortium {
        let me = validator_key(&a.data_dir)?.public().sign;
        let (listen, peers) = consortium::peers_of(path, &me)?;
        c.p2p_listen = listen;
        c.peers = peers;
    }
    c.scrub_interval = (a.scrub_secs > 0).then(|| Duration::from_secs(a.scrub_secs));
    c.suppress_below = a.suppress_below;
    if let (Some(endpoint), Some(bucket)) = (&a.s3_endpoint, &a.s3_bucket) {
        c.blobs = BlobConfig::S3 {
            endpoint: endpoint.clone(),
            bucket: bucket.clone(),
            region: a.s3_region.clone(),
            access_key: a.s3_access_key.clone(),
            secret_key: a.s3_secret_key.clone(),
        };
    }
    Ok(c)
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Loads the node's validator key from its data folder (for administration).
fn validator_key(data_dir: &Path) -> Result<ehrchain_crypto::Identity> {
    let pass = serve::node_passphrase(data_dir)?;
    let bytes = std::fs::read(data_dir.join("keys").join("validator.key")).with_context(|| {
        format!(
            "no validator key in {}: is this the node's data folder?",
            data_dir.display()
        )
    })?;
    Ok(ehrchain_crypto::Identity::open(&pass, &bytes)?)
}

fn dispatch(cli: Cli) -> Result<()> {
    let client = || Client::new(&cli.node);
    let jm = cli.json;
    match cli.command {
        Command::Run(a) => {
            let config = node_config(&a)?;
            let replication = match &a.consortium {
                Some(path) => {
                    let id = validator_key(&a.data_dir)?;
                    let peers = consortium::peer_apis(path, &id.public().sign)?;
                    Some(ehrchain_cli::replicator::Replication {
                        validator: id.signing().clone(),
                        peers,
                    })
                }
                None => None,
            };
            runtime()?.block_on(serve::run(config, a.listen, replication))
        }
        Command::Init(a) => {
            let config = node_config(&a)?;
            runtime()?.block_on(async {
                let node = ehrchain_node::Node::open(config).await?;
                let v = json!({
                    "data_dir": a.data_dir,
                    "chain_id": node.chain_id().to_string(),
                    "validator_key": node.validator_key().to_string(),
                    "height": node.tip()?.map_or(0, |h| h.height.0),
                });
                print(jm, &v, || format!("node initialised in {}\n  chain id:      {}\n  validator key: {}\n  height:        {}", a.data_dir.display(), v["chain_id"].as_str().unwrap_or(""), v["validator_key"].as_str().unwrap_or(""), v["height"]));
                anyhow::Ok(())
            })
        }
        Command::Demo(a) => demo(a),
        Command::Testnet(t) => {
            let out = consortium::create(&t.dir, t.validators, t.base_port, &t.chain)?;
            print(jm, &out, || {
                let mut lines = vec![format!(
                    "wrote a {}-validator consortium to {}\n  chain id: {}\nstart each node (one terminal each):",
                    t.validators,
                    t.dir.display(),
                    out["chain_id"].as_str().unwrap_or("")
                )];
                for n in out["nodes"].as_array().into_iter().flatten() {
                    lines.push(format!("  {}", n["command"].as_str().unwrap_or("")));
                }
                lines.join("\n")
            });
            Ok(())
        }
        Command::Keys(KeysCmd::New { out }) => {
            let id = keys::create(&out, &keys::passphrase()?)?;
            let info = keys::public_info(&id);
            print(jm, &serde_json::to_value(&info)?, || {
                format!(
                    "wrote {} (sealed) and {}\n  sign key:    {}\n  encrypt key: {}\n  as a patient: {}\n  as an agent:  {}",
                    out.display(),
                    keys::sidecar(&out).display(),
                    info.sign_key,
                    info.encrypt_key,
                    info.patient_id,
                    info.agent_id
                )
            });
            Ok(())
        }
        Command::Keys(KeysCmd::Show { file }) => {
            let info = keys::load_public(&file)?;
            println!("{}", serde_json::to_string_pretty(&info)?);
            Ok(())
        }
        Command::Org(OrgCmd::Create {
            data_dir,
            name,
            kind,
        }) => {
            let v = validator_key(&data_dir)?;
            let out = client()?.signed_post(
                v.signing(),
                "/v1/admin/organisations",
                &json!({"name": name, "kind": kind}),
            )?;
            print(jm, &out, || {
                format!(
                    "organisation {} ({}) registered",
                    out["organisation"]["id"].as_str().unwrap_or("?"),
                    name
                )
            });
            Ok(())
        }
        Command::Org(OrgCmd::List) => {
            let out = client()?.get("/v1/organisations")?;
            print(jm, &out, || {
                out["organisations"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|o| {
                        format!(
                            "{}  {}  ({})",
                            o["id"].as_str().unwrap_or(""),
                            o["name"].as_str().unwrap_or(""),
                            o["kind"].as_str().unwrap_or("")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
            Ok(())
        }
        Command::Agent(AgentCmd::Register {
            data_dir,
            org,
            role,
            name,
            licence,
            key,
        }) => {
            let v = validator_key(&data_dir)?;
            let info = keys::load_public(&key)?;
            let body = json!({"role": role, "name": name, "licence": licence, "sign_key": info.sign_key, "encrypt_key": info.encrypt_key});
            let out = client()?.signed_post(
                v.signing(),
                &format!("/v1/admin/organisations/{org}/agents"),
                &body,
            )?;
            print(jm, &out, || {
                format!(
                    "agent {} registered as {role} of {org}",
                    out["agent"].as_str().unwrap_or("?")
                )
            });
            Ok(())
        }
        Command::Staff(StaffCmd::Pending { data_dir }) => {
            let v = validator_key(&data_dir)?;
            let out = client()?.signed_get(v.signing(), "/v1/accounts/staff-requests")?;
            print(jm, &out, || {
                out["requests"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|r| {
                        format!(
                            "{}  {} as {} of {}",
                            r["login"].as_str().unwrap_or(""),
                            r["name"].as_str().unwrap_or(""),
                            r["role"].as_str().unwrap_or(""),
                            r["organisation"].as_str().unwrap_or("")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
            Ok(())
        }
        Command::Staff(StaffCmd::Approve { data_dir, login }) => {
            let v = validator_key(&data_dir)?;
            let out = client()?.signed_post(
                v.signing(),
                &format!("/v1/accounts/staff-requests/{login}/approve"),
                &json!({}),
            )?;
            print(jm, &out, || {
                format!(
                    "{login} approved: agent {} registered",
                    out["agent"].as_str().unwrap_or("?")
                )
            });
            Ok(())
        }
        Command::Patient(PatientCmd::Register { key }) => {
            let id = identity(&key)?;
            let tx = txs::sign(
                id.signing(),
                TxBody::RegisterPatient {
                    encrypt_key: id.public().encrypt,
                },
            );
            let out = client()?.submit(&tx)?;
            let pid = PatientId::of(&id.public().sign);
            print(
                jm,
                &json!({"patient": pid.to_string(), "receipt": out}),
                || format!("patient {pid} registered (block {})", out["height"]),
            );
            Ok(())
        }
        Command::Persona(PersonaCmd::Put {
            key,
            patient,
            name,
            birth_date,
            national_id,
            phone,
            address,
        }) => {
            let id = identity(&key)?;
            let body = json!({"patient": patient, "persona": {"name": name, "birth_date": birth_date, "national_id": national_id, "phone": phone, "address": address}});
            client()?.signed_post(id.signing(), "/v1/personas", &body)?;
            print(jm, &json!({"stored": true}), || {
                "identifying data stored encrypted in this node's persona store (never on the ledger)".into()
            });
            Ok(())
        }
        Command::Persona(PersonaCmd::Find { key, national_id }) => {
            let id = identity(&key)?;
            let out = client()?.signed_get(
                id.signing(),
                &format!("/v1/personas?national_id={}", urlencode(&national_id)),
            )?;
            print(jm, &out, || {
                out["patients"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p.as_str())
                    .collect::<Vec<_>>()
                    .join("\n")
            });
            Ok(())
        }
        Command::Record(RecordCmd::Put {
            key,
            patient,
            category,
            media_type,
            supersedes,
            file,
        }) => {
            let id = identity(&key)?;
            let classified = match &category {
                Some(_) => None,
                None => Some(ehrchain_media::classify(&file)?.with_context(|| {
                    format!(
                        "{} is not a kind of file recognised (DICOM, WFDB, PDF, text): give --category",
                        file.display()
                    )
                })?),
            };
            let category = match (&category, &classified) {
                (Some(c), _) => c.clone(),
                (None, Some(c)) => c.category.clone(),
                (None, None) => unreachable!("classified above"),
            };
            let media_type = media_type
                .or_else(|| classified.as_ref().map(|c| c.media_type.clone()))
                .unwrap_or_else(|| "application/octet-stream".into());
            let spec = PutRecord {
                patient: patient.parse()?,
                category: Category::new(&category)?,
                media_type: media_type.clone(),
                supersedes: supersedes.map(|s| s.parse()).transpose()?,
                file: &file,
                progress: !jm,
            };
            let out = records::put(&client()?, &id, &spec)?;
            let v = json!({"record": out.record.to_string(), "cid": out.cid.to_string(), "size": out.size, "anchor_tx": out.anchor_tx, "recipients": out.recipients,
                "category": category, "media_type": media_type, "classified": classified.map(|c| c.summary)});
            print(jm, &v, || {
                format!("record {} stored\n  cid {}\n  {} bytes of ciphertext, key sealed to {} recipient(s)", out.record, out.cid, out.size, out.recipients)
            });
            Ok(())
        }
        Command::Device(DeviceCmd::Push {
            key,
            patient,
            batch,
            file,
        }) => {
            let id = identity(&key)?;
            let patient: PatientId = patient.parse()?;
            let input: Value = serde_json::from_slice(
                &std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?,
            )?;
            let obs = ehrchain_cli::device::observations(&input);
            let r = ehrchain_cli::device::push(&client()?, &id, &patient, &obs, batch)?;
            let v = json!({"records": r.records, "batches": r.batch_txs.len(), "batch_txs": r.batch_txs});
            print(jm, &v, || {
                format!(
                    "{} reading(s) stored, anchored in {} transaction(s)",
                    r.records,
                    r.batch_txs.len()
                )
            });
            Ok(())
        }
        Command::Dicom(DicomCmd::ResearchCopy { input, output }) => {
            let removed = ehrchain_media::research_copy(&input, &output)?;
            print(jm, &json!({"out": output, "removed": removed}), || {
                format!(
                    "{removed} identifying attribute(s) removed; research copy written to {}",
                    output.display()
                )
            });
            Ok(())
        }
        Command::Fhir(FhirCmd::Import {
            key,
            patient,
            files,
        }) => {
            let id = identity(&key)?;
            let patient: PatientId = patient.parse()?;
            let started = std::time::Instant::now();
            let r = ehrchain_cli::fhir::import(&client()?, &id, &patient, &files, !jm)?;
            let secs = started.elapsed().as_secs_f64();
            let problems: Vec<Value> = r
                .problems
                .iter()
                .map(|(f, p)| json!({"file": f, "position": p.position, "message": p.message}))
                .collect();
            let v = json!({"patient": patient.to_string(), "resources": r.resources, "imported": r.imported,
                "already_imported": r.already, "problems": problems, "persona_stored": r.persona_stored,
                "seconds": secs});
            print(jm, &v, || {
                let mut out = format!(
                    "{} resources: {} imported, {} already there, {} problem(s) ({secs:.1} s)",
                    r.resources,
                    r.imported,
                    r.already,
                    r.problems.len()
                );
                for (f, p) in &r.problems {
                    out.push_str(&format!("\n  {f} {}: {}", p.position, p.message));
                }
                out
            });
            Ok(())
        }
        Command::Fhir(FhirCmd::Serve {
            key,
            patient,
            scopes,
            purpose,
            listen,
        }) => {
            let id = identity(&key)?;
            let scopes = scopes
                .iter()
                .map(|s| s.parse::<SmartScope>())
                .collect::<Result<Vec<_>, _>>()?;
            let patient: Option<PatientId> = patient.map(|p| p.parse()).transpose()?;
            let gateway = std::sync::Arc::new(ehrchain_cli::gateway::Gateway::new(
                client()?,
                id,
                patient,
                scopes,
                purpose.parse()?,
            )?);
            let rt = runtime()?;
            rt.block_on(async {
                let listener = tokio::net::TcpListener::bind(listen).await?;
                println!(
                    "FHIR gateway listening on http://{}/fhir",
                    listener.local_addr()?
                );
                ehrchain_api::fhir::serve(gateway.clone(), listener).await?;
                anyhow::Ok(())
            })?;
            // The gateway's blocking HTTP client is dropped here, outside the runtime.
            drop(gateway);
            Ok(())
        }
        Command::Fhir(FhirCmd::Export {
            key,
            out,
            as_stored,
        }) => {
            let id = identity(&key)?;
            let e = ehrchain_cli::fhir::export(&client()?, &id, !as_stored, !jm)?;
            std::fs::write(&out, serde_json::to_vec_pretty(&e.bundle)?)
                .with_context(|| format!("writing {}", out.display()))?;
            let v = json!({"out": out, "resources": e.resources, "consents": e.consents,
                "audit_events": e.audit_events, "provenances": e.provenances});
            print(jm, &v, || {
                format!(
                    "{} resources, {} Consent, {} AuditEvent, {} Provenance written to {}",
                    e.resources,
                    e.consents,
                    e.audit_events,
                    e.provenances,
                    out.display()
                )
            });
            Ok(())
        }
        Command::Record(RecordCmd::Get {
            key,
            record,
            purpose,
            out,
        }) => {
            let id = identity(&key)?;
            let record: RecordId = record.parse()?;
            let purpose: Purpose = purpose.parse()?;
            let got = records::get(&client()?, &id, &record, purpose, &out, !jm)?;
            let v = json!({"record": record.to_string(), "bytes": got.plaintext_len, "access_tx": got.access_tx, "basis": got.basis, "category": got.category});
            print(jm, &v, || {
                format!(
                    "{} bytes written to {} (access {} on basis {})",
                    got.plaintext_len,
                    out.display(),
                    got.access_tx,
                    got.basis
                )
            });
            Ok(())
        }
        Command::Record(RecordCmd::List { key, patient }) => {
            let id = identity(&key)?;
            let out =
                client()?.signed_get(id.signing(), &format!("/v1/patients/{patient}/records"))?;
            print(jm, &out, || {
                out["records"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|r| {
                        format!(
                            "{}  {}  {} bytes{}",
                            r["id"].as_str().unwrap_or(""),
                            r["category"].as_str().unwrap_or(""),
                            r["size"],
                            if r["erased"].is_null() {
                                ""
                            } else {
                                "  (erased)"
                            }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
            Ok(())
        }
        Command::Grant(g) => {
            let id = identity(&g.key)?;
            let grantee = parse_grantee(&g.to)?;
            let now = now_ms();
            let (categories, modes) = match &g.smart_scope {
                Some(scope) => {
                    let (pattern, modes) = scope.parse::<SmartScope>()?.grant();
                    (vec![pattern], modes)
                }
                None => (
                    g.categories
                        .iter()
                        .map(|c| CategoryPattern::new(c))
                        .collect::<Result<_, _>>()?,
                    vec![g.mode.parse::<Mode>()?],
                ),
            };
            let shown = if categories.is_empty() {
                g.records.join(",")
            } else {
                categories
                    .iter()
                    .map(|c| c.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            };
            let mut grants = Vec::new();
            for mode in modes {
                let spec = GrantSpec {
                    grantee,
                    categories: categories.clone(),
                    records: g
                        .records
                        .iter()
                        .map(|r| r.parse())
                        .collect::<Result<_, _>>()?,
                    mode,
                    purpose: g.purpose.parse()?,
                    not_before: Timestamp(now.saturating_sub(60_000)),
                    expires: Timestamp(now + duration(&g.duration)?.as_millis() as u64),
                };
                let until = spec.expires;
                let (gid, resealed) = records::grant(&client()?, &id, spec)?;
                grants.push(json!({"grant": gid.to_string(), "mode": mode.as_str(), "resealed": resealed, "expires": until.0}));
            }
            // One grant (the usual case) prints as before; a SMART scope may need two.
            let v = match grants.as_slice() {
                [one] => one.clone(),
                _ => json!({"grants": grants}),
            };
            print(jm, &v, || {
                grants
                    .iter()
                    .map(|x| format!("grant {} committed: {} may {} {shown} for {} until {} ms; {} existing record key(s) re-sealed", x["grant"].as_str().unwrap_or("?"), g.to, x["mode"].as_str().unwrap_or("?"), g.purpose, x["expires"], x["resealed"]))
                    .collect::<Vec<_>>()
                    .join("\n")
            });
            Ok(())
        }
        Command::Revoke { key, grant } => {
            let id = identity(&key)?;
            let tx = txs::sign(
                id.signing(),
                TxBody::Revoke {
                    grant: grant.parse()?,
                },
            );
            let out = client()?.submit(&tx)?;
            print(jm, &out, || {
                format!("grant {grant} revoked. Nodes delete the grantee's key envelopes and refuse further reads; what was already read cannot be un-read.")
            });
            Ok(())
        }
        Command::BreakGlass {
            key,
            patient,
            reason,
            r#for,
        } => {
            let id = identity(&key)?;
            let secs = duration(&r#for)?.as_secs();
            let tx = txs::sign(
                id.signing(),
                TxBody::BreakGlass(BreakGlass {
                    patient: patient.parse()?,
                    reason: reason.clone(),
                    duration_secs: u32::try_from(secs).unwrap_or(u32::MAX),
                }),
            );
            let out = client()?.submit(&tx)?;
            print(jm, &out, || {
                format!("BREAK-GLASS declared for {patient} ({reason}) for {}; it is on the ledger and shown to the patient", r#for)
            });
            Ok(())
        }
        Command::Aggregate {
            key,
            purpose,
            condition,
            by,
            epsilon,
        } => {
            let id = identity(&key)?;
            if !(epsilon > 0.0 && epsilon <= 1.0) {
                bail!("--epsilon must be more than 0 and at most 1.0");
            }
            let query = AggregateQuery {
                purpose: purpose.parse()?,
                condition,
                group_by: group_by(&by)?,
                epsilon_milli: (epsilon * 1000.0).round().max(1.0) as u32,
            };
            let tx = txs::sign(id.signing(), TxBody::ReleaseAggregate(query));
            // The node would refuse a malformed query; say why here, before anything is sent.
            SignedTx::decode_submitted(&txs::bytes(&tx))
                .map_err(|e| anyhow!("invalid query: {e}"))?;
            let out = client()?.aggregate(&tx)?;
            print(jm, &out, || aggregate_prose(&out));
            Ok(())
        }
        Command::Audit { key } => {
            let id = identity(&key)?;
            let pid = PatientId::of(&id.public().sign);
            let out = client()?.signed_get(id.signing(), &format!("/v1/patients/{pid}/audit"))?;
            print(jm, &out, || audit_prose(&out));
            Ok(())
        }
        Command::Grants { key } => {
            let id = identity(&key)?;
            let pid = PatientId::of(&id.public().sign);
            let out = client()?.signed_get(id.signing(), &format!("/v1/patients/{pid}/grants"))?;
            print(jm, &out, || {
                serde_json::to_string_pretty(&out).unwrap_or_default()
            });
            Ok(())
        }
        Command::Erase { key, record, wait } => {
            let id = identity(&key)?;
            let rid: RecordId = record.parse()?;
            let c = client()?;
            let tx = txs::sign(id.signing(), TxBody::EraseRequest { record: rid });
            c.submit(&tx)?;
            let mut meta = c.signed_get(id.signing(), &format!("/v1/records/{rid}"))?;
            if wait {
                let validators = c.get("/v1/chain")?["validators"]
                    .as_array()
                    .map_or(1, Vec::len);
                for _ in 0..300 {
                    if meta["erase_receipts"].as_array().map_or(0, Vec::len) >= validators {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                    meta = c.signed_get(id.signing(), &format!("/v1/records/{rid}"))?;
                }
            }
            print(jm, &meta, || {
                format!(
                    "record {rid} erased; receipts from: {}",
                    meta["erase_receipts"]
                )
            });
            Ok(())
        }
        Command::Verify(v) => verify(&client()?, v, jm),
        Command::Status => {
            let c = client()?;
            let chain = c.get("/v1/chain")?;
            let alerts = c.get("/v1/alerts")?;
            let v = json!({"chain": chain, "alerts": alerts["alerts"]});
            print(jm, &v, || {
                format!(
                    "chain {} ({})\ntip: {}\nalerts: {}",
                    chain["chain"], chain["chain_id"], chain["tip"], alerts["alerts"]
                )
            });
            Ok(())
        }
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn parse_grantee(s: &str) -> Result<Grantee> {
    if let Some((role, org)) = s.split_once('@') {
        return Ok(Grantee::Role {
            org: org.parse::<OrgId>()?,
            role: role.parse::<Role>()?,
        });
    }
    if s.starts_with(AgentId::PREFIX) {
        return Ok(Grantee::Agent(s.parse()?));
    }
    if s.starts_with(OrgId::PREFIX) {
        return Ok(Grantee::Organisation(s.parse()?));
    }
    bail!("--to must be an agent (ag_…), an organisation (org_…) or role@organisation")
}

/// A block time (Unix ms) as UTC, `YYYY-MM-DD HH:MM:SS`.
fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn audit_prose(out: &Value) -> String {
    let id = |v: &Value| v["id"].as_str().unwrap_or("?").to_owned();
    let s = |v: &Value| v.as_str().unwrap_or("?").to_owned();
    let mut alerts = Vec::new();
    let mut lines = Vec::new();
    for e in out["entries"].as_array().into_iter().flatten() {
        let ev = &e["event"];
        let line = match ev["kind"].as_str().unwrap_or("") {
            "access" => format!(
                "{} read {} for {}: {}",
                id(&ev["reader"]),
                s(&ev["record"]),
                s(&ev["purpose"]),
                match ev["outcome"]["status"].as_str() {
                    Some("permitted") => {
                        let b = &ev["outcome"]["basis"];
                        match b["kind"].as_str() {
                            Some("grant") => format!("PERMITTED under grant {}", s(&b["grant"])),
                            Some("break_glass") => "PERMITTED under BREAK-GLASS".to_owned(),
                            Some(k) => format!("PERMITTED ({k})"),
                            None => "PERMITTED".to_owned(),
                        }
                    }
                    Some("denied") => format!("DENIED ({})", s(&ev["outcome"]["code"])),
                    _ => ev["outcome"].to_string(),
                }
            ),
            "break_glass" => {
                let l = format!(
                    "!!! BREAK-GLASS declared by {}: \"{}\" until {}",
                    s(&ev["agent"]),
                    s(&ev["reason"]),
                    utc(ev["until"].as_u64().unwrap_or(0))
                );
                alerts.push(l.clone());
                l
            }
            "anchor" => format!("record {} added by {}", s(&ev["record"]), id(&ev["author"])),
            "grant" => format!("grant {} given", s(&ev["grant"])),
            "revoke" => format!("grant {} revoked", s(&ev["grant"])),
            "erase_request" => format!("erasure of {} requested", s(&ev["record"])),
            "erase_receipt" => format!(
                "validator {} erased {}",
                s(&ev["validator"]),
                s(&ev["record"])
            ),
            "counted" => format!(
                "counted in population statistics by {} for {} (noisy counts; your conditions, age band and region)",
                s(&ev["requester"]),
                s(&ev["purpose"])
            ),
            other => format!("{other} {ev}"),
        };
        lines.push(format!(
            "{}  block {:>6}  {line}",
            utc(e["at"].as_u64().unwrap_or(0)),
            e["height"]
        ));
    }
    if lines.is_empty() {
        return "no entries".into();
    }
    let mut out = String::new();
    if !alerts.is_empty() {
        out.push_str(&format!(
            "{} emergency (break-glass) declaration(s) on your records:\n",
            alerts.len()
        ));
        for a in &alerts {
            out.push_str(&format!("  {a}\n"));
        }
        out.push('\n');
    }
    out.push_str(&lines.join("\n"));
    out
}

/// A block's certificate from its JSON form (see the API's `dto::certificate`).
fn certificate_of(v: &Value) -> Option<Certificate> {
    match v["kind"].as_str()? {
        "engine" => Some(Certificate::Engine(
            hex::decode(v["finalization"].as_str()?).ok()?,
        )),
        "votes" => {
            let votes = v["votes"]
                .as_array()?
                .iter()
                .map(|vote| {
                    let k = vote["validator"].as_str()?.parse::<PublicKey>().ok()?;
                    let raw: [u8; 64] = hex::decode(vote["signature"].as_str()?)
                        .ok()?
                        .try_into()
                        .ok()?;
                    Some(ehrchain_types::Vote {
                        validator: k,
                        signature: ehrchain_crypto::Signature::from_bytes(&raw),
                    })
                })
                .collect::<Option<Vec<_>>>()?;
            Some(Certificate::Votes(votes))
        }
        _ => None,
    }
}

fn trusted_validators(c: &Client, given: &[String]) -> Result<Vec<PublicKey>> {
    if !given.is_empty() {
        return given
            .iter()
            .map(|k| k.parse::<PublicKey>().map_err(Into::into))
            .collect();
    }
    let chain = c.get("/v1/chain")?;
    chain["validators"]
        .as_array()
        .context("validators")?
        .iter()
        .map(|v| {
            v["key"]
                .as_str()
                .context("key")?
                .parse::<PublicKey>()
                .map_err(Into::into)
        })
        .collect()
}

fn verify(c: &Client, v: VerifyCmd, jm: bool) -> Result<()> {
    match v {
        VerifyCmd::Chain { validators } => {
            let validators = trusted_validators(c, &validators)?;
            let chain = c.get("/v1/chain")?;
            let tip = chain["tip"]["height"].as_u64().unwrap_or(0);
            let mut prev = chain["chain_id"].as_str().context("chain id")?.to_owned();
            let check = EngineCheck::for_chain(&prev.parse()?, &validators);
            let mut uncertified: Vec<u64> = Vec::new();
            let mut bad = Vec::new();
            for h in 1..=tip {
                match c.get(&format!("/v1/blocks/{h}")) {
                    Ok(b) => {
                        let header = &b["header"];
                        if header["prev"].as_str() != Some(prev.as_str()) {
                            bad.push(json!({"height": h, "problem": "hash link broken"}));
                        }
                        let hash: ehrchain_crypto::Hash =
                            header["hash"].as_str().context("hash")?.parse()?;
                        match certificate_of(&b["certificate"]) {
                            // Finalized through a descendant: its hash link to a certified
                            // block vouches for it.
                            Some(Certificate::Engine(f)) if f.is_empty() => uncertified.push(h),
                            Some(cert) if check.certifies(&cert, &validators, &hash) => {
                                uncertified.clear();
                            }
                            _ => bad.push(
                                json!({"height": h, "problem": "certificate does not verify against the validators"}),
                            ),
                        }
                        prev = header["hash"].as_str().unwrap_or_default().to_owned();
                    }
                    Err(e) => {
                        bad.push(json!({"height": h, "problem": e.to_string()}));
                        let next = c.get(&format!("/v1/blocks/{}", h + 1)).ok();
                        prev = next
                            .and_then(|n| n["header"]["prev"].as_str().map(str::to_owned))
                            .unwrap_or_default();
                    }
                }
            }
            for h in uncertified {
                bad.push(json!({"height": h, "problem": "no certified descendant yet"}));
            }
            let out = json!({"blocks": tip, "problems": bad});
            print(jm, &out, || {
                if bad.is_empty() {
                    format!("{tip} blocks verified: hash links and certificates hold")
                } else {
                    format!(
                        "{} problem(s): {}",
                        bad.len(),
                        serde_json::to_string_pretty(&bad).unwrap_or_default()
                    )
                }
            });
            if !bad.is_empty() {
                bail!("chain verification failed");
            }
            Ok(())
        }
        VerifyCmd::Proof {
            tx,
            validators,
            file,
        } => {
            let validators = trusted_validators(c, &validators)?;
            let bytes = match file {
                Some(f) => std::fs::read(f)?,
                None => B64.decode(
                    c.get(&format!("/v1/tx/{tx}/proof"))?["proof"]
                        .as_str()
                        .context("proof")?,
                )?,
            };
            let proof = InclusionProof::from_bytes(&bytes).context("malformed proof")?;
            if proof.tx.tx.id().to_string() != tx {
                bail!(
                    "the proof is for transaction {}, not {tx}",
                    proof.tx.tx.id()
                );
            }
            let chain_id: ehrchain_crypto::Hash = c.get("/v1/chain")?["chain_id"]
                .as_str()
                .context("chain id")?
                .parse()?;
            proof
                .verify_with(&validators, &EngineCheck::for_chain(&chain_id, &validators))
                .context("proof rejected")?;
            let out = json!({"tx": tx, "height": proof.header.height.0, "index": proof.index, "kind": proof.tx.tx.body.kind().as_str(), "outcome": format!("{:?}", proof.receipt.outcome)});
            print(jm, &out, || {
                format!("transaction {tx} ({}) is committed in block {} at index {} with outcome {:?}: proof verified against {} validator key(s)", proof.tx.tx.body.kind().as_str(), proof.header.height, proof.index, proof.receipt.outcome, validators.len())
            });
            Ok(())
        }
        VerifyCmd::Blobs { data_dir } => {
            let v = validator_key(&data_dir)?;
            let out = c.signed_post(v.signing(), "/v1/admin/verify", &json!({}))?;
            let alerts = out["alerts"].as_array().map_or(0, Vec::len);
            print(jm, &out, || {
                format!(
                    "checked {} blocks and {} blobs; {alerts} alert(s){}",
                    out["blocks_checked"],
                    out["blobs_checked"],
                    if alerts > 0 {
                        format!(
                            ":\n{}",
                            serde_json::to_string_pretty(&out["alerts"]).unwrap_or_default()
                        )
                    } else {
                        String::new()
                    }
                )
            });
            if alerts > 0 {
                bail!("integrity check raised alerts");
            }
            Ok(())
        }
        VerifyCmd::Alerts => {
            let out = c.get("/v1/alerts")?;
            print(jm, &out, || {
                serde_json::to_string_pretty(&out["alerts"]).unwrap_or_default()
            });
            Ok(())
        }
    }
}

/// Seeds a fresh node with a small consortium, then serves it.
fn demo(a: RunArgs) -> Result<()> {
    let config = node_config(&a)?;
    let rt = runtime()?;
    rt.block_on(async move {
        let node = ehrchain_node::Node::open(config).await?;
        let keys_dir = a.data_dir.join("demo-keys");
        let fresh = !keys_dir.exists();
        if fresh {
            seed_demo(&node, &keys_dir).await?;
        }
        println!("\nDemo consortium ready. Key files are in {} (passphrase: demo).", keys_dir.display());
        println!("In another terminal:\n");
        println!("  export EHRCHAIN_PASSPHRASE=demo EHRCHAIN_NODE=http://{}", a.listen);
        let pid = keys::load_public(&keys_dir.join("patient.key"))?.patient_id;
        let doc = keys::load_public(&keys_dir.join("doctor.key"))?.agent_id;
        println!("  echo '{{\"resourceType\":\"Observation\"}}' > lab.json");
        println!("  ehrchain record put  --as {k}/patient.key --patient {pid} --category Observation/laboratory lab.json", k = keys_dir.display());
        println!("  ehrchain record list --as {k}/patient.key --patient {pid}", k = keys_dir.display());
        println!("  ehrchain record get  --as {k}/doctor.key --record <id> --out lab.json      # denied: no grant", k = keys_dir.display());
        println!("  ehrchain grant --as {k}/patient.key --to {doc} --categories laboratory --for 1d", k = keys_dir.display());
        println!("  ehrchain record get  --as {k}/doctor.key --record <id> --out lab.json      # now permitted", k = keys_dir.display());
        println!("  ehrchain audit --as {k}/patient.key", k = keys_dir.display());
        println!("  ehrchain verify chain\n");
        serve::serve(node, a.listen).await
    })
}

async fn seed_demo(node: &ehrchain_node::Node, dir: &Path) -> Result<()> {
    use ehrchain_types::OrgKind;
    std::fs::create_dir_all(dir)?;
    let (hospital, _) = node
        .create_organisation("St Mary's Hospital", OrgKind::Hospital)
        .await?;
    let (_insurer_org, _) = node
        .create_organisation("Acme Health Insurance", OrgKind::Insurer)
        .await?;
    let pass = b"demo";
    let doctor = keys::create(&dir.join("doctor.key"), pass)?;
    let nurse = keys::create(&dir.join("nurse.key"), pass)?;
    let insurer = keys::create(&dir.join("insurer.key"), pass)?;
    let patient = keys::create(&dir.join("patient.key"), pass)?;
    for (who, role, name) in [
        (&doctor, Role::Doctor, "Dr Asha Rao"),
        (&nurse, Role::Nurse, "Nurse Tom Hill"),
    ] {
        node.register_agent_for(
            hospital.id,
            role,
            name,
            "MED-0001",
            who.public().sign,
            who.public().encrypt,
        )
        .await?;
    }
    node.register_agent_for(
        _insurer_org.id,
        Role::InsurerOfficer,
        "Claims Officer",
        "INS-42",
        insurer.public().sign,
        insurer.public().encrypt,
    )
    .await?;
    let tx = txs::sign(
        patient.signing(),
        TxBody::RegisterPatient {
            encrypt_key: patient.public().encrypt,
        },
    );
    node.submit(tx).await?;
    println!(
        "seeded: hospital {}, insurer {}, doctor {}, nurse {}, insurer officer {}, patient {}",
        hospital.id,
        _insurer_org.id,
        AgentId::of(&doctor.public().sign),
        AgentId::of(&nurse.public().sign),
        AgentId::of(&insurer.public().sign),
        PatientId::of(&patient.public().sign)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formats_block_times() {
        for (ms, want) in [
            (0, "1970-01-01 00:00:00 UTC"),
            (951_782_400_000, "2000-02-29 00:00:00 UTC"),
            (1_795_250_393_898, "2026-11-21 08:39:53 UTC"),
        ] {
            assert_eq!(utc(ms), want);
        }
    }

    #[test]
    fn durations_parse_or_say_how() {
        assert_eq!(duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(duration("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(duration("1d").unwrap(), Duration::from_secs(86_400));
        assert!(duration("1w").is_err());
        assert!(duration("soon").is_err());
    }
}
