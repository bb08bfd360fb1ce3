//! Architecture boundaries, checked with `cargo tree`: the pure core has no async runtime, HTTP
//! framework, database or consensus engine anywhere in its dependency tree, and among library
//! crates only this one (ehrchain-api) depends on an HTTP server framework or JSON directly
//! (ehrchain-fhir, whose subject is JSON, is otherwise held to the core's rules).

use std::process::Command;

fn tree(krate: &str, depth: Option<u32>) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args([
        "tree",
        "--offline",
        "--locked",
        "-e",
        "normal",
        "--prefix",
        "none",
        "--format",
        "{p}",
        "-p",
        krate,
    ]);
    if let Some(d) = depth {
        cmd.args(["--depth", &d.to_string()]);
    }
    let out = cmd
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

const CORE: &[&str] = &[
    "ehrchain-types",
    "ehrchain-crypto",
    "ehrchain-consent",
    "ehrchain-ledger",
];
const NEVER_IN_CORE: &[&str] = &[
    "tokio",
    "async-std",
    "futures",
    "mio",
    "axum",
    "hyper",
    "http",
    "reqwest",
    "tower",
    "redb",
    "object_store",
    "serde_json",
    "tracing",
    "commonware-consensus",
    "commonware-runtime",
    "commonware-p2p",
    "informalsystems-malachitebft-core-consensus",
    "arc-malachitebft-app-channel",
];
const HTTP_OR_JSON: &[&str] = &["axum", "hyper", "tower-http", "serde_json", "http"];

#[test]
fn the_core_is_pure() {
    for krate in CORE {
        let deps = tree(krate, None);
        assert!(
            deps.iter().any(|d| d == krate),
            "cargo tree listed {krate} itself"
        );
        for bad in NEVER_IN_CORE {
            assert!(
                !deps.iter().any(|d| d == bad),
                "{krate} depends on {bad} (directly or not)"
            );
        }
    }
}

/// The FHIR crate speaks JSON (FHIR is JSON) but is as pure as the core otherwise: no runtime,
/// no HTTP, no database, and none of the node's crates.
#[test]
fn the_fhir_crate_is_pure_apart_from_json() {
    let deps = tree("ehrchain-fhir", None);
    assert!(deps.iter().any(|d| d == "serde_json"), "vacuous check");
    for bad in NEVER_IN_CORE
        .iter()
        .filter(|b| **b != "serde_json")
        .chain(&[
            "ehrchain-node",
            "ehrchain-store",
            "ehrchain-blob",
            "ehrchain-api",
        ])
    {
        assert!(
            !deps.iter().any(|d| d == bad),
            "ehrchain-fhir depends on {bad} (directly or not)"
        );
    }
}

#[test]
fn only_the_api_crate_speaks_http_and_json() {
    for krate in [
        "ehrchain-types",
        "ehrchain-crypto",
        "ehrchain-consent",
        "ehrchain-ledger",
        "ehrchain-store",
        "ehrchain-blob",
        "ehrchain-node",
        "ehrchain-web",
    ] {
        let direct = tree(krate, Some(1));
        for bad in HTTP_OR_JSON {
            assert!(
                !direct.iter().any(|d| d == bad),
                "{krate} depends directly on {bad}; only ehrchain-api may"
            );
        }
    }
    let api = tree("ehrchain-api", Some(1));
    assert!(
        api.iter().any(|d| d == "axum"),
        "the check would pass vacuously if ehrchain-api lost axum"
    );
}

#[test]
fn only_the_consensus_crate_names_the_engine() {
    let workspace = [
        "ehrchain-types",
        "ehrchain-crypto",
        "ehrchain-consent",
        "ehrchain-ledger",
        "ehrchain-store",
        "ehrchain-blob",
        "ehrchain-node",
        "ehrchain-api",
        "ehrchain-cli",
    ];
    for krate in workspace {
        let direct = tree(krate, Some(1));
        assert!(
            !direct.iter().any(|d| d.starts_with("commonware-")),
            "{krate} depends directly on a Commonware crate; only ehrchain-consensus may"
        );
    }
    let consensus = tree("ehrchain-consensus", Some(1));
    assert!(
        consensus.iter().any(|d| d == "commonware-consensus"),
        "the check would pass vacuously if ehrchain-consensus lost the engine"
    );
}
