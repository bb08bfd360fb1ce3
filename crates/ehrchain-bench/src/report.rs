//! Result tables (for people) and JSON (for machines), plus latency percentiles.

use std::time::Duration;

use serde_json::{json, Value};

use crate::machine::{cpu_split, CpuSample, Machine};

/// One section of a report: a heading and rows of name / value.
#[derive(Debug, Clone)]
pub struct Section {
    pub title: String,
    pub rows: Vec<(String, String)>,
}

impl Section {
    pub fn new(title: impl Into<String>) -> Section {
        Section {
            title: title.into(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, name: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.rows.push((name.into(), value.into()));
        self
    }
}

/// A benchmark's full result.
pub struct Report {
    pub bench: &'static str,
    pub machine: Machine,
    pub sections: Vec<Section>,
    pub json: Value,
}

impl Report {
    pub fn new(bench: &'static str, machine: Machine) -> Report {
        Report {
            bench,
            machine,
            sections: Vec::new(),
            json: json!({}),
        }
    }

    pub fn table(&self) -> String {
        let mut all = vec![Section {
            title: "machine".into(),
            rows: self.machine.rows(),
        }];
        all.extend(self.sections.iter().cloned());
        let width = all
            .iter()
            .flat_map(|s| s.rows.iter().map(|(n, _)| n.len()))
            .max()
            .unwrap_or(0);
        let mut out = format!("== ehrchain-bench {} ==\n", self.bench);
        for s in &all {
            out.push_str(&format!("\n[{}]\n", s.title));
            for (n, v) in &s.rows {
                out.push_str(&format!("  {n:<width$}  {v}\n"));
            }
        }
        out
    }

    /// Prints the table to stdout, or with `json` the JSON document to stdout and the table to
    /// stderr.
    pub fn print(&self, json: bool) {
        if json {
            eprint!("{}", self.table());
            let doc = json!({
                "bench": self.bench,
                "machine": self.machine.json(),
                "results": self.json,
            });
            println!(
                "{}",
                serde_json::to_string_pretty(&doc).unwrap_or_else(|_| "{}".into())
            );
        } else {
            print!("{}", self.table());
        }
    }
}

/// Latency summary of a set of samples in microseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Latency {
    pub count: usize,
    pub mean_us: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
}

impl Latency {
    /// Summarises `samples` (sorted in place).
    pub fn of(samples: &mut [u64]) -> Latency {
        if samples.is_empty() {
            return Latency::default();
        }
        samples.sort_unstable();
        let pct = |p: f64| -> u64 {
            // nearest-rank
            let rank = ((p / 100.0) * samples.len() as f64).ceil() as usize;
            samples[rank.clamp(1, samples.len()) - 1]
        };
        let sum: u128 = samples.iter().map(|&s| u128::from(s)).sum();
        Latency {
            count: samples.len(),
            mean_us: sum as f64 / samples.len() as f64,
            p50_us: pct(50.0),
            p90_us: pct(90.0),
            p99_us: pct(99.0),
            p999_us: pct(99.9),
            max_us: *samples.last().unwrap_or(&0),
        }
    }

    pub fn json(&self) -> Value {
        json!({
            "count": self.count,
            "mean_ms": self.mean_us / 1000.0,
            "p50_ms": ms(self.p50_us),
            "p90_ms": ms(self.p90_us),
            "p99_ms": ms(self.p99_us),
            "p999_ms": ms(self.p999_us),
            "max_ms": ms(self.max_us),
        })
    }
}

pub fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

pub fn fmt_ms(us: u64) -> String {
    format!("{:.2} ms", ms(us))
}

pub fn fmt_secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

pub fn fmt_rate(n: f64) -> String {
    if n >= 100.0 {
        format!("{n:.0}")
    } else {
        format!("{n:.2}")
    }
}

pub fn met(ok: bool) -> &'static str {
    if ok {
        "MET"
    } else {
        "MISSED"
    }
}

/// Cores above which other processes are said to have disturbed a run.
pub const NOISY_CORES: f64 = 0.15;

/// The CPU section every benchmark prints: this process (whole and by thread group), other
/// processes on the machine, hypervisor steal. Returns the section, its JSON, and the cores
/// other processes used.
pub fn cpu_section(
    title: &str,
    before: &CpuSample,
    after: &CpuSample,
    wall: Duration,
    group: impl Fn(&str) -> &'static str,
    exited: &'static str,
) -> (Section, Value, f64) {
    let (mine, split) = cpu_split(before, after, wall, group, exited);
    let (others, steal) = CpuSample::others(before, after, wall);
    let mut c = Section::new(title);
    c.row("this process", format!("{mine:.2}"));
    for (g, v) in &split {
        c.row(format!("  {g}"), format!("{v:.2}"));
    }
    c.row("other processes on the machine", format!("{others:.2}"));
    c.row("hypervisor steal", format!("{steal:.2}"));
    if others > NOISY_CORES {
        c.row(
            "WARNING",
            format!("the machine was not quiet ({others:.2} cores used by other processes): numbers are pessimistic, rerun"),
        );
    }
    let json = json!({
        "process_cores": mine,
        "split": split.iter().map(|(g, v)| json!({"group": g, "cores": v})).collect::<Vec<_>>(),
        "other_processes_cores": others,
        "steal_cores": steal,
        "quiet": others <= NOISY_CORES,
    });
    (c, json, others)
}
