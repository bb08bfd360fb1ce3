//! `reads`: authorised record reads per second over real HTTP on loopback. Each read posts a
//! signed access transaction; the node commits it (the audit event) before it releases the
//! envelope and ciphertext.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use bytes::Bytes;
use clap::Args;
use ehrchain_crypto::{envelope, CidHasher, DataKey, Decryptor, Encryptor, Envelope, Identity};
use ehrchain_node::{EnvelopeUpload, Node};
use ehrchain_types::{
    Canonical, CategoryPattern, Grant, GrantId, Grantee, Mode, OrgKind, Outcome, PatientId,
    Purpose, RecordId, Role, Scope, SignedTx, Timestamp, TxBody,
};
use rand::rngs::OsRng;
use rand::RngCore;
use serde_json::json;

use crate::machine::{load_average, wait_quiet, CpuSample, Machine};
use crate::report::{cpu_section, fmt_ms, fmt_rate, met, Latency, Report, Section};
use crate::txbench::{open_config, temp_dir};
use crate::workload::{anchor_body, now_ms, par_map, sign, threads};

pub const TARGET_READS_PER_SEC: f64 = 10_000.0;
pub const TARGET_P99_MS: f64 = 10.0;

#[derive(Args, Debug, Clone)]
pub struct ReadsArgs {
    /// Measured seconds (after the warm-up).
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Concurrent keep-alive HTTP/1 connections, each with one request in flight.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Warm-up seconds before measuring (connections opened, caches warm); not counted.
    #[arg(long, default_value_t = 1)]
    pub warmup: u64,
    /// Record plaintext size in bytes.
    #[arg(long, default_value_t = 2048)]
    pub record_bytes: usize,
    /// Pre-signed access transactions available (each read spends one); default
    /// 25000 per second of warm-up + measurement.
    #[arg(long)]
    pub pool: Option<usize>,
    /// Tokio worker threads of the server runtime (node + API).
    #[arg(long, default_value_t = 2)]
    pub server_threads: usize,
    /// Tokio worker threads of the client runtime (reqwest).
    #[arg(long, default_value_t = 2)]
    pub client_threads: usize,
    /// Folder under which the node's temporary data folder is made (default: the system temp).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Diagnostic: serve the same router (`ehrchain_api::app`) through `axum::serve` with
    /// TCP_NODELAY set on each accepted connection, whatever `ehrchain_api::serve` does (at git
    /// 565b352 it did not set it). Not the shipped setup.
    #[arg(long)]
    pub server_nodelay: bool,
}

/// What the setup made: who reads what.
struct Fixture {
    doctor: Identity,
    record: RecordId,
    plaintext: Vec<u8>,
    ciphertext_len: u64,
}

async fn setup(node: &Node, record_bytes: usize) -> Result<Fixture> {
    let (org, c) = node
        .create_organisation("Bench General Hospital", OrgKind::Hospital)
        .await?;
    ensure_applied("organisation", &c.outcome)?;
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
    ensure_applied("doctor", &c.outcome)?;
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
    ensure_applied("patient", &c.outcome)?;

    // The record: a small lab result, encrypted client-side and stored as a blob.
    let mut plaintext = vec![0u8; record_bytes];
    let filler = br#"{"resourceType":"Observation","status":"final","code":{"text":"CBC"},"valueQuantity":{"value":13.2,"unit":"g/dL"}} "#;
    for (i, b) in plaintext.iter_mut().enumerate() {
        *b = filler[i % filler.len()];
    }
    let key = DataKey::generate(&mut OsRng);
    let mut enc = Encryptor::new(&key, &mut OsRng);
    let mut ciphertext = enc.header().to_vec();
    enc.update(&plaintext, &mut ciphertext)?;
    enc.finish(&mut ciphertext)?;
    let ct_len = ciphertext.len() as u64;
    let stored = node
        .put_blob(futures::stream::iter([Ok::<_, std::io::Error>(
            Bytes::from(ciphertext),
        )]))
        .await?;
    let mut rid = [0u8; 16];
    OsRng.fill_bytes(&mut rid);
    let record = RecordId::from_bytes(rid);
    let mut anchor = anchor_body(pid, record, &mut OsRng);
    if let TxBody::AnchorRecord(a) = &mut anchor {
        a.cid = stored.cid;
        a.size = stored.len;
    }
    let c = node
        .submit(sign(patient.signing(), OsRng.next_u64(), anchor))
        .await?;
    ensure_applied("anchor", &c.outcome)?;
    let mut gid = [0u8; 16];
    OsRng.fill_bytes(&mut gid);
    let c = node
        .submit(sign(
            patient.signing(),
            OsRng.next_u64(),
            TxBody::Grant(Grant {
                grant: GrantId::from_bytes(gid),
                grantee: Grantee::Agent(ehrchain_types::AgentId::of(&doctor.public().sign)),
                scope: Scope {
                    categories: vec![CategoryPattern::new("laboratory")?],
                    records: Vec::new(),
                },
                mode: Mode::Read,
                purpose: Purpose::Treatment,
                not_before: Timestamp(0),
                expires: Timestamp(now_ms() + 24 * 3600 * 1000),
            }),
        ))
        .await?;
    ensure_applied("grant", &c.outcome)?;
    let mut uploads = Vec::new();
    for recipient in [patient.public().encrypt, doctor.public().encrypt] {
        let env = envelope::seal(&mut OsRng, &recipient, record.as_bytes(), &key)?;
        uploads.push(EnvelopeUpload {
            recipient,
            sealed: env.to_bytes(),
        });
    }
    node.put_envelopes(&patient.public().sign, &record, &uploads)
        .map_err(|e| anyhow::anyhow!("put envelopes: {e}"))?;
    Ok(Fixture {
        doctor,
        record,
        plaintext,
        ciphertext_len: ct_len,
    })
}

fn ensure_applied(what: &str, o: &Outcome) -> Result<()> {
    if *o != Outcome::Applied {
        bail!("setup {what}: {o:?}");
    }
    Ok(())
}

fn access_tx(doctor: &Identity, record: RecordId) -> SignedTx {
    sign(
        doctor.signing(),
        OsRng.next_u64(),
        TxBody::Access {
            record,
            purpose: Purpose::Treatment,
        },
    )
}

/// One untimed read as the CLI's `records::get` does it: open the envelope, check the CID,
/// decrypt, compare.
async fn check_one_read(http: &reqwest::Client, url: &str, fx: &Fixture) -> Result<()> {
    let tx = access_tx(&fx.doctor, fx.record);
    let resp = http
        .post(url)
        .header("content-type", "application/octet-stream")
        .body(tx.to_bytes())
        .send()
        .await?;
    if resp.status() != reqwest::StatusCode::OK {
        bail!("check read: HTTP {} {}", resp.status(), resp.text().await?);
    }
    let header = |n: &str| -> Result<String> {
        Ok(resp
            .headers()
            .get(n)
            .with_context(|| format!("missing {n}"))?
            .to_str()?
            .to_owned())
    };
    let env = Envelope::from_bytes(
        &base64::engine::general_purpose::STANDARD.decode(header("x-ehr-envelope")?)?,
    )?;
    let cid: ehrchain_crypto::Cid = header("x-ehr-cid")?.parse()?;
    let body = resp.bytes().await?;
    let key = envelope::open(fx.doctor.decryption(), fx.record.as_bytes(), &env)?;
    let mut h = CidHasher::new();
    h.update(&body);
    if h.finish() != cid {
        bail!("check read: body does not match the CID");
    }
    let head: [u8; ehrchain_crypto::stream::HEADER_LEN] = body
        .get(..ehrchain_crypto::stream::HEADER_LEN)
        .context("short body")?
        .try_into()?;
    let mut dec = Decryptor::new(&key, &head)?;
    let mut plain = Vec::new();
    dec.update(&body[head.len()..], &mut plain)?;
    dec.finish(&mut plain)?;
    if plain != fx.plaintext {
        bail!("check read: decrypted record differs");
    }
    Ok(())
}

fn reads_group(name: &str) -> &'static str {
    if name.starts_with("ehrchain-admiss") {
        "node admission thread (verify)"
    } else if name.starts_with("ehrchain-produc") {
        "node producer thread (execute + commit + fsync)"
    } else if name.starts_with("srv-rt") {
        "server runtime (hyper/axum, read flow, tokio fs pool)"
    } else if name.starts_with("cli-rt") {
        "client runtime (reqwest)"
    } else {
        "other threads (main, ...)"
    }
}

/// Per-task results.
struct TaskOut {
    latencies_us: Vec<u64>,
    /// completion times of counted reads, µs since the measurement start
    done_us: Vec<u64>,
    ok_total: u64,
    bad: Vec<String>,
}

pub fn run(args: ReadsArgs, quiet: Duration, json: bool) -> Result<()> {
    let machine = Machine::detect();
    if args.seconds == 0 || args.concurrency == 0 {
        bail!("--seconds and --concurrency must be positive");
    }
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.server_threads.max(1))
        .thread_name("srv-rt")
        .enable_all()
        .build()?;
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads.max(1))
        .thread_name("cli-rt")
        .enable_all()
        .build()?;

    let tmp = temp_dir(args.data_dir.as_ref(), "ehrchain-bench-reads-")?;
    eprintln!("reads: opening node in {}", tmp.path().display());
    let node = server_rt.block_on(Node::open(open_config(tmp.path())))?;
    let fx = server_rt.block_on(setup(&node, args.record_bytes))?;
    let listener = server_rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        let _ = stop_rx.await;
    };
    let server = if args.server_nodelay {
        use axum::serve::ListenerExt;
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let app = ehrchain_api::app(ehrchain_api::AppState::new(node.clone()));
        server_rt.spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
        })
    } else {
        server_rt.spawn(ehrchain_api::serve(node.clone(), listener, shutdown))
    };
    let url = format!("http://{addr}/v1/records/{}/read", fx.record);
    eprintln!("reads: serving on http://{addr}");

    let http = reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(args.concurrency)
        .timeout(Duration::from_secs(30))
        .build()?;
    client_rt.block_on(check_one_read(&http, &url, &fx))?;
    eprintln!("reads: check read ok (envelope opened, CID matched, record decrypted)");

    let pool_n = args
        .pool
        .unwrap_or(25_000 * (args.seconds + args.warmup) as usize);
    let t_sign = Instant::now();
    let pool: Arc<Vec<Bytes>> = Arc::new(par_map((0..pool_n).collect(), threads(), |_| {
        Bytes::from(access_tx(&fx.doctor, fx.record).to_bytes())
    }));
    eprintln!(
        "reads: {} access txs pre-signed in {:.2} s; {} connections, {} s warm-up + {} s",
        pool.len(),
        t_sign.elapsed().as_secs_f64(),
        args.concurrency,
        args.warmup,
        args.seconds
    );

    wait_quiet(quiet, 0.1);
    let load1 = load_average();
    let permitted0 = node.stats().access_permitted.load(Ordering::Relaxed);
    let blocks0 = node.stats().blocks.load(Ordering::Relaxed);
    let next = Arc::new(AtomicUsize::new(0));
    let exhausted = Arc::new(AtomicBool::new(false));
    let expected_len = fx.ciphertext_len;
    eprintln!("reads: timed phase starts");
    let start = Instant::now();
    let measure_from = start + Duration::from_secs(args.warmup);
    let deadline = measure_from + Duration::from_secs(args.seconds);

    let (outs, cpu0, cpu1, blocks_window) = client_rt.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..args.concurrency {
            let http = http.clone();
            let url = url.clone();
            let pool = pool.clone();
            let next = next.clone();
            let exhausted = exhausted.clone();
            tasks.push(tokio::spawn(async move {
                let mut out = TaskOut {
                    latencies_us: Vec::new(),
                    done_us: Vec::new(),
                    ok_total: 0,
                    bad: Vec::new(),
                };
                loop {
                    let t0 = Instant::now();
                    if t0 >= deadline {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(body) = pool.get(i).cloned() else {
                        exhausted.store(true, Ordering::Relaxed);
                        break;
                    };
                    let result = async {
                        let resp = http
                            .post(&url)
                            .header("content-type", "application/octet-stream")
                            .body(body)
                            .send()
                            .await
                            .map_err(|e| format!("send: {e}"))?;
                        let status = resp.status();
                        let bytes = resp.bytes().await.map_err(|e| format!("body: {e}"))?;
                        if status != reqwest::StatusCode::OK {
                            return Err(format!("HTTP {status}"));
                        }
                        if bytes.len() as u64 != expected_len {
                            return Err(format!("body of {} bytes", bytes.len()));
                        }
                        Ok(())
                    }
                    .await;
                    let done = Instant::now();
                    match result {
                        Ok(()) => {
                            out.ok_total += 1;
                            if t0 >= measure_from && done <= deadline {
                                out.latencies_us
                                    .push(done.duration_since(t0).as_micros() as u64);
                                out.done_us
                                    .push(done.duration_since(measure_from).as_micros() as u64);
                            }
                        }
                        Err(e) => out.bad.push(e),
                    }
                }
                out
            }));
        }
        tokio::time::sleep_until(measure_from.into()).await;
        let cpu0 = CpuSample::now();
        let b0 = node.stats().blocks.load(Ordering::Relaxed);
        tokio::time::sleep_until(deadline.into()).await;
        let cpu1 = CpuSample::now();
        let b1 = node.stats().blocks.load(Ordering::Relaxed);
        let mut outs = Vec::new();
        for t in tasks {
            if let Ok(o) = t.await {
                outs.push(o);
            }
        }
        (outs, cpu0, cpu1, b1 - b0)
    });
    let finished = start.elapsed();

    let _ = stop_tx.send(());
    let _ =
        server_rt.block_on(async { tokio::time::timeout(Duration::from_secs(5), server).await });
    // Every released read needs a committed Permitted access event.
    let permitted = node.stats().access_permitted.load(Ordering::Relaxed) - permitted0;
    let blocks_all = node.stats().blocks.load(Ordering::Relaxed) - blocks0;

    let mut lat: Vec<u64> = outs
        .iter()
        .flat_map(|o| o.latencies_us.iter().copied())
        .collect();
    let counted = lat.len();
    let latency = Latency::of(&mut lat);
    let ok_total: u64 = outs.iter().map(|o| o.ok_total).sum();
    let mut bad: std::collections::BTreeMap<String, u64> = Default::default();
    for o in &outs {
        for b in &o.bad {
            *bad.entry(b.clone()).or_default() += 1;
        }
    }
    let bad_total: u64 = bad.values().sum();
    let window = Duration::from_secs(args.seconds);
    let rps = counted as f64 / window.as_secs_f64();
    let mut windows = vec![0u64; args.seconds as usize];
    for o in &outs {
        for d in &o.done_us {
            if let Some(w) = windows.get_mut((*d / 1_000_000) as usize) {
                *w += 1;
            }
        }
    }
    let (cpu_sec, cpu_json, _) = cpu_section(
        "cpu during the measured window (cores busy; 2.0 = both cores)",
        &cpu0,
        &cpu1,
        window,
        reads_group,
        "threads that exited (tokio blocking pool)",
    );
    let exhausted = exhausted.load(Ordering::Relaxed);
    let p99_ms = latency.p99_us as f64 / 1000.0;
    let both = rps >= TARGET_READS_PER_SEC && p99_ms <= TARGET_P99_MS && bad_total == 0;

    let mut report = Report::new("reads", machine);
    let mut w = Section::new("workload");
    w.row(
        "server",
        format!(
            "in-process Node::open + {} on {addr} ({} tokio workers), scrub off",
            if args.server_nodelay {
                "DIAGNOSTIC axum::serve(ehrchain_api::app) with TCP_NODELAY"
            } else {
                "ehrchain_api::serve (as shipped)"
            },
            args.server_threads
        ),
    )
    .row(
        "client",
        format!(
            "reqwest async, HTTP/1 keep-alive, {} connections, {} tokio workers, same process",
            args.concurrency, args.client_threads
        ),
    )
    .row(
        "note",
        "client and node share the same 2 cores: the CPU split below shows who used them",
    )
    .row("load average (1 min) before the run", load1.clone())
    .row(
        "record",
        format!(
            "{} B lab result -> {} B ciphertext; doctor reads under a patient grant",
            args.record_bytes, fx.ciphertext_len
        ),
    )
    .row(
        "request",
        "POST /v1/records/{id}/read with a pre-signed Access tx; 200 + full body required",
    )
    .row(
        "timing",
        format!(
            "{} s warm-up (not counted) + {} s measured; pool {} pre-signed txs{}",
            args.warmup,
            args.seconds,
            pool.len(),
            if exhausted {
                " (EXHAUSTED: run ended early)"
            } else {
                ""
            }
        ),
    );
    report.sections.push(w);
    let mut r = Section::new("results");
    r.row("reads/s (measured window)", fmt_rate(rps))
        .row("reads counted", counted.to_string())
        .row(
            "latency p50 / p90 / p99 / max",
            format!(
                "{} / {} / {} / {}",
                fmt_ms(latency.p50_us),
                fmt_ms(latency.p90_us),
                fmt_ms(latency.p99_us),
                fmt_ms(latency.max_us)
            ),
        )
        .row("latency mean", format!("{:.2} ms", latency.mean_us / 1000.0))
        .row(
            "reads/s per 1 s window (min / max)",
            format!(
                "{} / {}",
                windows.iter().min().copied().unwrap_or(0),
                windows.iter().max().copied().unwrap_or(0)
            ),
        )
        .row(
            "blocks committed in window",
            format!(
                "{blocks_window} (mean {:.1} reads per block)",
                counted as f64 / blocks_window.max(1) as f64
            ),
        )
        .row("non-200 / failed responses", format!("{bad_total} {bad:?}"))
        .row(
            "audit check",
            format!(
                "{ok_total} reads released (whole run), {permitted} permitted access events committed, {blocks_all} blocks"
            ),
        )
        .row(
            format!(
                "target >= {TARGET_READS_PER_SEC:.0} reads/s, p99 <= {TARGET_P99_MS:.0} ms"
            ),
            format!(
                "{} (reads/s {}, p99 {})",
                met(both),
                met(rps >= TARGET_READS_PER_SEC),
                met(p99_ms <= TARGET_P99_MS)
            ),
        );
    report.sections.push(r);
    report.sections.push(cpu_sec);
    report.json = json!({
        "seconds": args.seconds,
        "warmup": args.warmup,
        "concurrency": args.concurrency,
        "server_nodelay_diagnostic": args.server_nodelay,
        "server_threads": args.server_threads,
        "client_threads": args.client_threads,
        "record_bytes": args.record_bytes,
        "ciphertext_bytes": fx.ciphertext_len,
        "reads_per_s": rps,
        "reads_counted": counted,
        "latency": latency.json(),
        "per_second_windows": windows,
        "blocks_in_window": blocks_window,
        "failed": bad,
        "released_total": ok_total,
        "permitted_access_events": permitted,
        "pool": pool.len(),
        "pool_exhausted": exhausted,
        "cpu": cpu_json,
        "load_average_1m_at_start": load1,
        "target_reads_per_s": TARGET_READS_PER_SEC,
        "target_p99_ms": TARGET_P99_MS,
        "target_met": both,
        "run_s": finished.as_secs_f64(),
    });
    report.print(json);
    drop(node);
    drop(server_rt);
    drop(client_rt);
    drop(tmp);
    Ok(())
}
