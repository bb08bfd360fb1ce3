//! Prometheus metrics: node counters rendered in the text exposition format on each scrape.

use std::sync::atomic::{AtomicU64, Ordering};

use ehrchain_node::Node;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Counters the HTTP layer keeps itself.
#[derive(Debug, Default)]
pub struct HttpStats {
    pub requests: AtomicU64,
    pub client_errors: AtomicU64,
    pub server_errors: AtomicU64,
}

pub fn render(node: &Node, http: &HttpStats) -> String {
    let mut registry = Registry::with_prefix("ehrchain");
    let s = node.stats();
    let counter = |registry: &mut Registry, name: &str, help: &str, v: u64| {
        let c: Counter = Counter::default();
        c.inc_by(v);
        registry.register(name, help, c);
    };
    counter(
        &mut registry,
        "blocks",
        "Blocks committed",
        s.blocks.load(Ordering::Relaxed),
    );
    counter(
        &mut registry,
        "transactions",
        "Transactions committed (any outcome)",
        s.txs.load(Ordering::Relaxed),
    );
    counter(
        &mut registry,
        "transactions_rejected",
        "Transactions rejected by the ledger",
        s.rejected.load(Ordering::Relaxed),
    );
    counter(
        &mut registry,
        "access_permitted",
        "Access events permitted",
        s.access_permitted.load(Ordering::Relaxed),
    );
    counter(
        &mut registry,
        "access_denied",
        "Access events denied",
        s.access_denied.load(Ordering::Relaxed),
    );
    counter(
        &mut registry,
        "http_requests",
        "HTTP requests served",
        http.requests.load(Ordering::Relaxed),
    );
    counter(
        &mut registry,
        "http_client_errors",
        "HTTP 4xx answers",
        http.client_errors.load(Ordering::Relaxed),
    );
    counter(
        &mut registry,
        "http_server_errors",
        "HTTP 5xx answers",
        http.server_errors.load(Ordering::Relaxed),
    );
    let height: Gauge = Gauge::default();
    height.set(s.height.load(Ordering::Relaxed) as i64);
    registry.register("height", "Height of the last committed block", height);
    let alerts: Gauge = Gauge::default();
    alerts.set(node.alerts().len() as i64);
    registry.register(
        "tamper_alerts",
        "Tamper and damage alerts raised since start",
        alerts,
    );
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut out, &registry);
    out
}
