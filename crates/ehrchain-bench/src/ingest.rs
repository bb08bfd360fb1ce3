//! `ingest`: a large record encrypted (STREAM AES-256-GCM), content-addressed (CIDv1 sha2-256)
//! and stored in the filesystem blob store; end to end and stage by stage.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use clap::{Args, ValueEnum};
use ehrchain_blob::{BlobStore, Integrity};
use ehrchain_crypto::stream::ciphertext_len;
use ehrchain_crypto::{Cid, CidHasher, DataKey, Decryptor, Encryptor};
use futures::StreamExt;
use rand::rngs::OsRng;
use serde_json::{json, Value};

use crate::machine::{load_average, wait_quiet, CpuSample, Machine};
use crate::report::{cpu_section, met, Report, Section, NOISY_CORES};
use crate::txbench::temp_dir;

pub const TARGET_MB_PER_SEC: f64 = 500.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Source {
    /// Plaintext generated into memory once, before any clock starts.
    Memory,
    /// Plaintext written to a temp file and read once to warm the page cache; every run reads
    /// the file (from page cache) as it encrypts.
    File,
}

#[derive(Args, Debug, Clone)]
pub struct IngestArgs {
    /// Plaintext size in MB (10^6 bytes).
    #[arg(long, default_value_t = 100)]
    pub size_mb: u64,
    /// Where the plaintext comes from.
    #[arg(long, value_enum, default_value_t = Source::Memory)]
    pub source: Source,
    /// Bytes handed to the encryptor per call, in KiB.
    #[arg(long, default_value_t = 1024)]
    pub chunk_kib: usize,
    /// Runs of each measurement (the median and the best are reported).
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// Folder under which the blob stores are made (default: the system temp).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

/// Deterministic incompressible bytes (xorshift64*), fast enough not to matter.
fn fill_random(buf: &mut [u8], seed: u64) {
    let mut x = seed | 1;
    for chunk in buf.chunks_mut(8) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        let v = x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
}

/// Where each run gets its plaintext.
enum Plain {
    Memory(Vec<u8>),
    File(PathBuf, u64),
}

impl Plain {
    fn len(&self) -> u64 {
        match self {
            Plain::Memory(v) => v.len() as u64,
            Plain::File(_, n) => *n,
        }
    }

    /// Calls `f` with successive chunks of at most `chunk` bytes.
    fn for_each_chunk(&self, chunk: usize, mut f: impl FnMut(&[u8]) -> Result<()>) -> Result<()> {
        match self {
            Plain::Memory(v) => {
                for c in v.chunks(chunk) {
                    f(c)?;
                }
            }
            Plain::File(path, _) => {
                let mut file = std::fs::File::open(path)?;
                let mut buf = vec![0u8; chunk];
                loop {
                    let n = read_full(&mut file, &mut buf)?;
                    if n == 0 {
                        break;
                    }
                    f(&buf[..n])?;
                }
            }
        }
        Ok(())
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = r.read(&mut buf[filled..])?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

/// Encrypts the whole plaintext in chunks, handing each piece of ciphertext (header first) to
/// `sink`.
fn encrypt_into(
    plain: &Plain,
    chunk: usize,
    mut sink: impl FnMut(Vec<u8>) -> Result<()>,
) -> Result<()> {
    let key = DataKey::generate(&mut OsRng);
    let mut enc = Encryptor::new(&key, &mut OsRng);
    sink(enc.header().to_vec())?;
    plain.for_each_chunk(chunk, |c| {
        let mut out = Vec::with_capacity(c.len() + c.len() / 4096 + 64);
        enc.update(c, &mut out)?;
        if !out.is_empty() {
            sink(out)?;
        }
        Ok(())
    })?;
    let mut last = Vec::new();
    enc.finish(&mut last)?;
    sink(last)
}

struct Runs {
    name: &'static str,
    what: String,
    secs: Vec<f64>,
}

impl Runs {
    fn new(name: &'static str, what: impl Into<String>) -> Runs {
        Runs {
            name,
            what: what.into(),
            secs: Vec::new(),
        }
    }

    fn median(&self) -> f64 {
        let mut s = self.secs.clone();
        s.sort_by(f64::total_cmp);
        s.get(s.len() / 2).copied().unwrap_or(f64::NAN)
    }

    fn best(&self) -> f64 {
        self.secs.iter().copied().fold(f64::INFINITY, f64::min)
    }
}

fn mbps(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / 1e6 / secs.max(1e-12)
}

/// The path `FsBackend` keeps a blob at (`root/blobs/<last two chars>/<cid>`), for the
/// untimed decryption check.
fn blob_path(root: &Path, cid: &Cid) -> PathBuf {
    let name = cid.to_string();
    let shard = name[name.len() - 2..].to_owned();
    root.join("blobs").join(shard).join(name)
}

fn stream_of(chunks: Vec<Bytes>) -> impl futures::Stream<Item = std::io::Result<Bytes>> + Send {
    futures::stream::iter(chunks.into_iter().map(Ok))
}

pub fn run(args: IngestArgs, quiet: std::time::Duration, json: bool) -> Result<()> {
    let machine = Machine::detect();
    if args.size_mb == 0 || args.repeat == 0 || args.chunk_kib == 0 {
        bail!("--size-mb, --repeat and --chunk-kib must be positive");
    }
    let len = args.size_mb * 1_000_000;
    let chunk = args.chunk_kib * 1024;
    let work = temp_dir(args.data_dir.as_ref(), "ehrchain-bench-ingest-")?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name("bench-rt")
        .build()?;

    eprintln!(
        "ingest: generating {} MB of plaintext ({:?})",
        args.size_mb, args.source
    );
    let mut data = vec![0u8; len as usize];
    fill_random(&mut data, 0x5eed);
    let plain = match args.source {
        Source::Memory => Plain::Memory(data),
        Source::File => {
            let path = work.path().join("plaintext.bin");
            let mut f = std::fs::File::create(&path)?;
            f.write_all(&data)?;
            f.sync_all()?;
            drop(data);
            // warm the page cache
            let mut sink = vec![0u8; chunk];
            let mut f = std::fs::File::open(&path)?;
            while read_full(&mut f, &mut sink)? > 0 {}
            Plain::File(path, len)
        }
    };
    let ct_len = ciphertext_len(plain.len());

    let mut enc_runs = Runs::new(
        "encrypt only",
        "Encryptor::update over the plaintext, ciphertext to a reused buffer",
    );
    let mut cid_runs = Runs::new(
        "CID only",
        "CidHasher (SHA-256) over the ciphertext in memory",
    );
    let mut store_runs = Runs::new(
        "store only",
        "BlobStore::filesystem put of in-memory ciphertext (put hashes for the CID itself, writes, fsyncs, renames)",
    );
    let mut raw_runs = Runs::new(
        "reference: raw write + fsync",
        "std::fs write of the ciphertext + sync_all (the disk, no store)",
    );
    let mut seq_runs = Runs::new(
        "end to end, 1 thread",
        "encrypt inside the put stream on one thread; put hashes + writes (tokio fs on its blocking pool)",
    );
    let mut pipe_runs = Runs::new(
        "end to end, 2 threads (pipelined)",
        "encrypt thread -> bounded channel (8) -> put on the runtime thread (hash + write)",
    );
    let mut e2e_cpu: Vec<(CpuSample, CpuSample, std::time::Duration)> = Vec::new();
    wait_quiet(quiet, 0.1);
    let load1 = load_average();
    let all0 = CpuSample::now();
    let t_all = Instant::now();

    for round in 0..args.repeat {
        eprintln!("ingest: round {}/{}", round + 1, args.repeat);
        // encrypt only
        let t0 = Instant::now();
        let mut out = Vec::with_capacity(chunk + chunk / 4096 + 64);
        {
            let key = DataKey::generate(&mut OsRng);
            let mut enc = Encryptor::new(&key, &mut OsRng);
            plain.for_each_chunk(chunk, |c| {
                out.clear();
                enc.update(c, &mut out)?;
                Ok(())
            })?;
            out.clear();
            enc.finish(&mut out)?;
        }
        enc_runs.secs.push(t0.elapsed().as_secs_f64());

        // ciphertext in memory for the next stages (untimed)
        let mut pieces: Vec<Bytes> = Vec::new();
        encrypt_into(&plain, chunk, |v| {
            pieces.push(Bytes::from(v));
            Ok(())
        })?;
        let total: u64 = pieces.iter().map(|p| p.len() as u64).sum();
        if total != ct_len {
            bail!("ciphertext is {total} bytes, expected {ct_len}");
        }

        // CID only
        let t0 = Instant::now();
        let mut h = CidHasher::new();
        for p in &pieces {
            h.update(p);
        }
        let cid = h.finish();
        cid_runs.secs.push(t0.elapsed().as_secs_f64());

        // store only
        let root = work.path().join(format!("store-{round}"));
        let store = BlobStore::filesystem(&root)?;
        let t0 = Instant::now();
        let stored = rt.block_on(store.put(stream_of(pieces.clone()), u64::MAX))?;
        store_runs.secs.push(t0.elapsed().as_secs_f64());
        if stored.cid != cid || stored.len != ct_len {
            bail!(
                "store returned {} ({} bytes), expected {cid} ({ct_len})",
                stored.cid,
                stored.len
            );
        }
        std::fs::remove_dir_all(&root)?;

        // raw write + fsync reference
        let raw = work.path().join("raw.bin");
        let t0 = Instant::now();
        {
            let mut f = std::fs::File::create(&raw)?;
            for p in &pieces {
                f.write_all(p)?;
            }
            f.sync_all()?;
        }
        raw_runs.secs.push(t0.elapsed().as_secs_f64());
        std::fs::remove_file(&raw)?;
        drop(pieces);

        // end to end, one thread: the put stream encrypts as it is polled
        let root = work.path().join(format!("e2e1-{round}"));
        let store = BlobStore::filesystem(&root)?;
        let t0 = Instant::now();
        let stored = {
            let key = DataKey::generate(&mut OsRng);
            let enc = Encryptor::new(&key, &mut OsRng);
            let header = Bytes::copy_from_slice(&enc.header());
            let state = SeqState {
                plain: &plain,
                chunk,
                offset: 0,
                enc: Some(enc),
                file: None,
                buf: vec![0u8; chunk],
            };
            let s = futures::stream::once(async move { Ok::<_, std::io::Error>(header) }).chain(
                futures::stream::unfold(state, |mut st| async move { st.next().map(|r| (r, st)) }),
            );
            rt.block_on(store.put(s, u64::MAX))?
        };
        seq_runs.secs.push(t0.elapsed().as_secs_f64());
        check_blob(&rt, &store, &stored.cid, ct_len)?;
        std::fs::remove_dir_all(&root)?;

        // end to end, pipelined on two threads
        let root = work.path().join(format!("e2e2-{round}"));
        let store = BlobStore::filesystem(&root)?;
        let key = DataKey::generate(&mut OsRng);
        let cpu0 = CpuSample::now();
        let t0 = Instant::now();
        let stored = std::thread::scope(|s| -> Result<_> {
            let (tx, mut rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(8);
            let plain = &plain;
            let key = &key;
            let encryptor = std::thread::Builder::new()
                .name("bench-encrypt".into())
                .spawn_scoped(s, move || -> Result<()> {
                    let mut enc = Encryptor::new(key, &mut OsRng);
                    tx.blocking_send(Ok(Bytes::copy_from_slice(&enc.header())))
                        .ok()
                        .context("store side gone")?;
                    plain.for_each_chunk(chunk, |c| {
                        let mut out = Vec::with_capacity(c.len() + c.len() / 4096 + 64);
                        enc.update(c, &mut out)?;
                        tx.blocking_send(Ok(Bytes::from(out)))
                            .ok()
                            .context("store side gone")?;
                        Ok(())
                    })?;
                    let mut last = Vec::new();
                    enc.finish(&mut last)?;
                    tx.blocking_send(Ok(Bytes::from(last)))
                        .ok()
                        .context("store side gone")?;
                    Ok(())
                })?;
            let stream = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
            let stored = rt.block_on(store.put(stream, u64::MAX));
            encryptor
                .join()
                .map_err(|_| anyhow::anyhow!("encrypt thread panicked"))??;
            Ok(stored?)
        })?;
        let wall = t0.elapsed();
        pipe_runs.secs.push(wall.as_secs_f64());
        let cpu1 = CpuSample::now();
        e2e_cpu.push((cpu0, cpu1, wall));
        check_blob(&rt, &store, &stored.cid, ct_len)?;
        if round == 0 {
            // Untimed: the stored ciphertext decrypts back to the plaintext.
            check_decrypts(&blob_path(&root, &stored.cid), &key, &plain, chunk)?;
        }
        std::fs::remove_dir_all(&root)?;
    }

    let all_after = CpuSample::now();
    let total_wall = t_all.elapsed();
    let size = plain.len();
    let e2e_best = mbps(size, pipe_runs.median()).max(mbps(size, seq_runs.median()));
    let mut report = Report::new("ingest", machine);
    let mut w = Section::new("workload");
    w.row(
        "plaintext",
        format!(
            "{} MB ({} bytes), {}",
            args.size_mb,
            size,
            match args.source {
                Source::Memory => "generated in memory before timing",
                Source::File => "temp file, page-cached (read once before timing)",
            }
        ),
    )
    .row(
        "ciphertext",
        format!("{ct_len} bytes (STREAM, 64 KiB segments)"),
    )
    .row("encrypt chunk", format!("{} KiB", args.chunk_kib))
    .row(
        "blob store",
        format!("BlobStore::filesystem under {}", work.path().display()),
    )
    .row(
        "runs",
        format!(
            "{} per measurement; MB/s = plaintext MB (10^6 B) / s",
            args.repeat
        ),
    );
    report.sections.push(w);
    let mut r = Section::new("results: MB/s median (best) -- time median");
    let mut jruns: Vec<Value> = Vec::new();
    for runs in [
        &pipe_runs,
        &seq_runs,
        &enc_runs,
        &cid_runs,
        &store_runs,
        &raw_runs,
    ] {
        r.row(
            runs.name,
            format!(
                "{:.0} ({:.0}) -- {:.3} s",
                mbps(size, runs.median()),
                mbps(size, runs.best()),
                runs.median()
            ),
        );
        jruns.push(json!({
            "stage": runs.name,
            "what": runs.what,
            "mb_per_s_median": mbps(size, runs.median()),
            "mb_per_s_best": mbps(size, runs.best()),
            "secs": runs.secs,
        }));
    }
    r.row(
        format!("target >= {TARGET_MB_PER_SEC:.0} MB/s end to end"),
        met(e2e_best >= TARGET_MB_PER_SEC),
    );
    report.sections.push(r);
    let mut d = Section::new("what each stage is");
    for runs in [
        &pipe_runs,
        &seq_runs,
        &enc_runs,
        &cid_runs,
        &store_runs,
        &raw_runs,
    ] {
        d.row(runs.name, runs.what.clone());
    }
    report.sections.push(d);
    let mut cpu_json = json!(null);
    if let Some((cpu0, cpu1, wall)) = e2e_cpu.last() {
        let (c, j, _) = cpu_section(
            "cpu during the last pipelined end-to-end run (cores busy)",
            cpu0,
            cpu1,
            *wall,
            ingest_group,
            "encrypt thread (exited before the sample)",
        );
        report.sections.push(c);
        cpu_json = j;
    }
    let (others_all, _) = CpuSample::others(&all0, &all_after, total_wall);
    let mut q = Section::new("machine load over the whole benchmark");
    q.row("load average (1 min) at start", load1.clone())
        .row("other processes (cores, mean)", format!("{others_all:.2}"));
    if others_all > NOISY_CORES {
        q.row(
            "WARNING",
            "the machine was not quiet: numbers are pessimistic, rerun",
        );
    }
    report.sections.push(q);
    report.json = json!({
        "size_bytes": size,
        "ciphertext_bytes": ct_len,
        "source": format!("{:?}", args.source),
        "chunk_kib": args.chunk_kib,
        "runs": jruns,
        "end_to_end_mb_per_s": e2e_best,
        "cpu_last_pipelined": cpu_json,
        "other_processes_cores_mean": others_all,
        "load_average_1m_at_start": load1,
        "target_mb_per_s": TARGET_MB_PER_SEC,
        "target_met": e2e_best >= TARGET_MB_PER_SEC,
    });
    report.print(json);
    Ok(())
}

fn ingest_group(name: &str) -> &'static str {
    if name.starts_with("bench-encrypt") {
        "encrypt thread (AES-256-GCM)"
    } else if name.starts_with("bench-rt") {
        "tokio blocking pool (file writes, fsync, rename)"
    } else {
        "main thread (put: CID hashing, stream)"
    }
}

/// The one-thread end-to-end stream: encrypts the next chunk when polled.
struct SeqState<'a> {
    plain: &'a Plain,
    chunk: usize,
    offset: usize,
    enc: Option<Encryptor>,
    file: Option<std::fs::File>,
    buf: Vec<u8>,
}

impl SeqState<'_> {
    fn next(&mut self) -> Option<std::io::Result<Bytes>> {
        loop {
            let enc = self.enc.as_mut()?;
            let input: &[u8] = match self.plain {
                Plain::Memory(v) => {
                    let end = (self.offset + self.chunk).min(v.len());
                    let slice = &v[self.offset..end];
                    self.offset = end;
                    slice
                }
                Plain::File(path, _) => {
                    if self.file.is_none() {
                        match std::fs::File::open(path) {
                            Ok(f) => self.file = Some(f),
                            Err(e) => return Some(Err(e)),
                        }
                    }
                    let f = self.file.as_mut().expect("opened above");
                    match read_full(f, &mut self.buf) {
                        Ok(n) => &self.buf[..n],
                        Err(e) => return Some(Err(e)),
                    }
                }
            };
            let mut out = Vec::with_capacity(input.len() + input.len() / 4096 + 64);
            if input.is_empty() {
                let enc = self.enc.take().expect("checked above");
                if let Err(e) = enc.finish(&mut out) {
                    return Some(Err(std::io::Error::other(e)));
                }
            } else if let Err(e) = enc.update(input, &mut out) {
                return Some(Err(std::io::Error::other(e)));
            }
            if !out.is_empty() {
                return Some(Ok(Bytes::from(out)));
            }
        }
    }
}

fn check_blob(rt: &tokio::runtime::Runtime, store: &BlobStore, cid: &Cid, len: u64) -> Result<()> {
    match rt.block_on(store.verify(cid))? {
        Integrity::Intact { len: l } if l == len => Ok(()),
        other => bail!("stored blob {cid} is {other:?}, expected {len} intact bytes"),
    }
}

fn check_decrypts(path: &Path, key: &DataKey, plain: &Plain, chunk: usize) -> Result<()> {
    let mut file = std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
    let mut header = [0u8; ehrchain_crypto::stream::HEADER_LEN];
    file.read_exact(&mut header)?;
    let mut dec = Decryptor::new(key, &header)?;
    let mut recovered = Vec::with_capacity(plain.len() as usize);
    let mut buf = vec![0u8; chunk];
    loop {
        let n = read_full(&mut file, &mut buf)?;
        if n == 0 {
            break;
        }
        dec.update(&buf[..n], &mut recovered)?;
    }
    dec.finish(&mut recovered)?;
    let mut pos = 0usize;
    let mut same = recovered.len() as u64 == plain.len();
    plain.for_each_chunk(chunk, |c| {
        same &= recovered.get(pos..pos + c.len()) == Some(c);
        pos += c.len();
        Ok(())
    })?;
    if !same {
        bail!("the stored ciphertext does not decrypt to the plaintext");
    }
    Ok(())
}
