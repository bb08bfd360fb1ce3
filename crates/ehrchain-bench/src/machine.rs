//! Facts about the machine and this process: cores, CPU model, memory, the command line, and CPU
//! time consumed (per process and per thread, from `/proc`).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};

/// What every report starts with.
#[derive(Debug, Clone)]
pub struct Machine {
    pub nproc: usize,
    pub cpu_model: String,
    pub mem_total: String,
    pub kernel: String,
    pub command: String,
    /// `git describe`-like state of the work tree the benchmark runs in (best effort).
    pub source: String,
}

impl Machine {
    pub fn detect() -> Machine {
        let nproc = std::thread::available_parallelism().map_or(1, |n| n.get());
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|l| l.split_once(':'))
            .map_or_else(|| "unknown".to_owned(), |(_, v)| v.trim().to_owned());
        let flags: Vec<&str> = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("flags"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.split_whitespace().collect())
            .unwrap_or_default();
        let wanted = ["aes", "pclmulqdq", "sha_ni", "avx2", "vaes", "avx512f"];
        let present: Vec<&str> = wanted
            .iter()
            .copied()
            .filter(|f| flags.contains(f))
            .collect();
        let cpu_model = if present.is_empty() {
            cpu_model
        } else {
            format!("{cpu_model} ({})", present.join(" "))
        };
        let mem_total = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find_map(|l| l.strip_prefix("MemTotal:"))
                    .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            })
            .map_or_else(
                || "unknown".to_owned(),
                |kib| format!("{:.1} GiB", kib as f64 / 1024.0 / 1024.0),
            );
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|_| "unknown".to_owned());
        let command = std::env::args()
            .map(|a| {
                if a.is_empty() || a.contains(|c: char| c.is_whitespace() || c == '\'') {
                    format!("'{}'", a.replace('\'', "'\\''"))
                } else {
                    a
                }
            })
            .collect::<Vec<_>>()
            .join(" ");
        Machine {
            nproc,
            cpu_model,
            mem_total,
            kernel,
            command,
            source: source_state(),
        }
    }

    pub fn rows(&self) -> Vec<(String, String)> {
        vec![
            ("nproc".into(), self.nproc.to_string()),
            ("cpu".into(), self.cpu_model.clone()),
            ("memory".into(), self.mem_total.clone()),
            ("kernel".into(), self.kernel.clone()),
            ("build".into(), build_profile().into()),
            ("command".into(), self.command.clone()),
            ("source (work tree at run time)".into(), self.source.clone()),
        ]
    }

    pub fn json(&self) -> Value {
        json!({
            "nproc": self.nproc,
            "cpu_model": self.cpu_model,
            "mem_total": self.mem_total,
            "kernel": self.kernel,
            "build": build_profile(),
            "command": self.command,
            "source": self.source,
        })
    }
}

/// The commit checked out where the benchmark runs, and whether the tree had changes.
fn source_state() -> String {
    let git = |args: &[&str]| -> Option<String> {
        let out = std::process::Command::new("git").args(args).output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    match git(&["rev-parse", "--short", "HEAD"]) {
        Some(head) => {
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            format!(
                "git {head}{}",
                if dirty { " + uncommitted changes" } else { "" }
            )
        }
        None => "unknown (not in a git work tree)".into(),
    }
}

pub fn build_profile() -> &'static str {
    if cfg!(debug_assertions) {
        "debug (numbers are NOT representative: use --release)"
    } else {
        "release"
    }
}

/// Clock ticks per second for `/proc/*/stat` times. Linux has used 100 on every mainstream
/// architecture for decades; `getconf` confirms it where available.
fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|t| *t > 0.0)
            .unwrap_or(100.0)
    })
}

/// (comm, utime + stime in seconds) from a `/proc/.../stat` line.
fn parse_stat(stat: &str) -> Option<(String, f64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat[open + 1..close].to_owned();
    let rest: Vec<&str> = stat[close + 2..].split_whitespace().collect();
    // Fields after the comm start at field 3 (state); utime is field 14, stime field 15.
    let utime: f64 = rest.get(11)?.parse().ok()?;
    let stime: f64 = rest.get(12)?.parse().ok()?;
    Some((comm, (utime + stime) / clock_ticks()))
}

/// CPU seconds (user + system) this process has used, all threads, living or exited.
pub fn process_cpu() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| parse_stat(&s))
        .map_or(0.0, |(_, t)| t)
}

/// CPU seconds per living thread, keyed by thread id, with the thread's name.
pub fn thread_cpu() -> BTreeMap<u64, (String, f64)> {
    let mut out = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(tid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u64>().ok())
        else {
            continue;
        };
        if let Some(stat) = std::fs::read_to_string(entry.path().join("stat"))
            .ok()
            .and_then(|s| parse_stat(&s))
        {
            out.insert(tid, stat);
        }
    }
    out
}

/// A CPU-time sample of the whole process and of each thread.
#[derive(Debug, Clone)]
pub struct CpuSample {
    pub process: f64,
    pub threads: BTreeMap<u64, (String, f64)>,
    /// CPU seconds the whole machine spent busy (all processes, `/proc/stat`).
    pub system_busy: f64,
    /// CPU seconds stolen by the hypervisor.
    pub steal: f64,
}

impl CpuSample {
    pub fn now() -> CpuSample {
        let (system_busy, steal) = system_cpu();
        CpuSample {
            process: process_cpu(),
            threads: thread_cpu(),
            system_busy,
            steal,
        }
    }

    /// Cores that other processes kept busy between two samples (a quiet machine shows ~0),
    /// and cores stolen by the hypervisor.
    pub fn others(before: &CpuSample, after: &CpuSample, wall: Duration) -> (f64, f64) {
        let secs = wall.as_secs_f64().max(1e-9);
        let busy = after.system_busy - before.system_busy;
        let mine = after.process - before.process;
        (
            ((busy - mine) / secs).max(0.0),
            ((after.steal - before.steal) / secs).max(0.0),
        )
    }
}

/// (busy, steal) CPU seconds of the whole machine since boot, from the `cpu` line of
/// `/proc/stat` (busy = user + nice + system + irq + softirq).
fn system_cpu() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return (0.0, 0.0);
    };
    let v: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let get = |i: usize| v.get(i).copied().unwrap_or(0.0);
    let busy = get(0) + get(1) + get(2) + get(5) + get(6);
    (busy / clock_ticks(), get(7) / clock_ticks())
}

/// The 1-minute load average.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

/// CPU used between two samples, grouped by `group(thread name)`. Time of threads that exited
/// in between lands in `exited`.
pub fn cpu_split(
    before: &CpuSample,
    after: &CpuSample,
    wall: Duration,
    group: impl Fn(&str) -> &'static str,
    exited: &'static str,
) -> (f64, Vec<(String, f64)>) {
    let total = after.process - before.process;
    let mut groups: BTreeMap<&'static str, f64> = BTreeMap::new();
    let mut seen = 0.0;
    for (tid, (name, t)) in &after.threads {
        let prev = before.threads.get(tid).map_or(0.0, |(_, p)| *p);
        let d = (t - prev).max(0.0);
        seen += d;
        *groups.entry(group(name)).or_default() += d;
    }
    let other = (total - seen).max(0.0);
    if other > 0.005 {
        *groups.entry(exited).or_default() += other;
    }
    let secs = wall.as_secs_f64().max(1e-9);
    let mut rows: Vec<(String, f64)> = groups
        .into_iter()
        .map(|(g, t)| (g.to_owned(), t / secs))
        .collect();
    rows.sort_by(|a, b| b.1.total_cmp(&a.1));
    (total / secs, rows)
}

/// (wchar, write_bytes) of this process from `/proc/self/io`: bytes passed to write calls, and
/// bytes sent (or to be sent) to storage.
pub fn io_written() -> (u64, u64) {
    let io = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
    let field = |name: &str| -> u64 {
        io.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    (field("wchar:"), field("write_bytes:"))
}

/// Waits (at most `max`) until other processes have used less than `cores` cores over one
/// whole second, so a timed run starts on a quiet machine. Returns whether it did.
pub fn wait_quiet(max: Duration, cores: f64) -> bool {
    if max.is_zero() {
        return true;
    }
    let until = std::time::Instant::now() + max;
    let mut said = false;
    loop {
        let before = CpuSample {
            process: process_cpu(),
            threads: BTreeMap::new(),
            system_busy: system_cpu().0,
            steal: 0.0,
        };
        let t0 = std::time::Instant::now();
        std::thread::sleep(Duration::from_secs(1));
        let after = CpuSample {
            process: process_cpu(),
            threads: BTreeMap::new(),
            system_busy: system_cpu().0,
            steal: 0.0,
        };
        let (others, _) = CpuSample::others(&before, &after, t0.elapsed());
        if others < cores {
            return true;
        }
        if std::time::Instant::now() >= until {
            eprintln!(
                "machine still busy ({others:.2} cores used by other processes); going ahead"
            );
            return false;
        }
        if !said {
            eprintln!("waiting for a quiet machine ({others:.2} cores used by other processes)...");
            said = true;
        }
    }
}
