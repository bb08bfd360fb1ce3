//! A consortium on one machine for trying and testing: `ehrchain testnet` makes each node's data
//! folder with its own keys, one genesis naming every node's validator key, and
//! `consortium.json` with each validator's API and p2p addresses. `ehrchain run --consortium`
//! reads it back to find its peers.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use ehrchain_crypto::PublicKey;
use ehrchain_node::keystore::{write_private, Keystore};
use ehrchain_types::{Canonical, Genesis, GenesisValidator, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::serve::node_passphrase;

#[derive(Serialize, Deserialize)]
pub struct Consortium {
    pub chain_id: String,
    pub validators: Vec<Member>,
}

#[derive(Serialize, Deserialize)]
pub struct Member {
    pub name: String,
    pub key: String,
    pub api: SocketAddr,
    pub p2p: SocketAddr,
    pub data_dir: String,
}

/// Creates `dir` with `n` node folders, a shared genesis and `consortium.json`.
pub fn create(dir: &Path, n: usize, base_port: u16, chain: &str) -> Result<Value> {
    if n == 0 {
        bail!("a consortium needs at least one validator");
    }
    if dir.join("consortium.json").exists() {
        bail!(
            "{} already holds a consortium; pick another --dir or remove it",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir)?;
    let mut members = Vec::new();
    let mut validators = Vec::new();
    for i in 0..n {
        let data = dir.join(format!("node-{i}"));
        std::fs::create_dir_all(&data)?;
        let pass = node_passphrase(&data)?;
        let keys = Keystore::new(data.join("keys"), pass).load_or_create()?;
        let key = keys.validator.public().sign;
        let port = |k: usize| -> Result<u16> {
            u16::try_from(usize::from(base_port) + 2 * i + k).context("port out of range")
        };
        members.push(Member {
            name: format!("node-{i}"),
            key: key.to_string(),
            api: SocketAddr::from(([127, 0, 0, 1], port(0)?)),
            p2p: SocketAddr::from(([127, 0, 0, 1], port(1)?)),
            data_dir: data.display().to_string(),
        });
        validators.push(GenesisValidator {
            name: format!("node-{i}"),
            key,
        });
    }
    let genesis = Genesis {
        chain: chain.to_owned(),
        time: Timestamp(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
        ),
        validators,
    };
    for m in &members {
        write_private(
            &Path::new(&m.data_dir).join("genesis.bin"),
            &genesis.to_bytes(),
        )?;
    }
    let consortium = Consortium {
        chain_id: genesis.chain_id().to_string(),
        validators: members,
    };
    let path = dir.join("consortium.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&consortium)?)?;
    Ok(json!({
        "chain_id": consortium.chain_id,
        "consortium": path.display().to_string(),
        "nodes": consortium.validators.iter().map(|m| json!({
            "name": m.name,
            "api": format!("http://{}", m.api),
            "command": format!("ehrchain run --data-dir {} --listen {} --consortium {}", m.data_dir, m.api, path.display()),
        })).collect::<Vec<_>>(),
    }))
}

/// The name and API base URL of every other validator, for replication.
pub fn peer_apis(path: &Path, me: &PublicKey) -> Result<Vec<(String, String)>> {
    let c: Consortium = serde_json::from_slice(
        &std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
    )
    .with_context(|| format!("{} is not a consortium file", path.display()))?;
    Ok(c.validators
        .iter()
        .filter(|m| m.key.parse::<PublicKey>().ok().as_ref() != Some(me))
        .map(|m| (m.name.clone(), format!("http://{}", m.api)))
        .collect())
}

/// This validator's p2p address and every validator's key and address.
pub fn peers_of(path: &Path, me: &PublicKey) -> Result<(SocketAddr, Vec<(PublicKey, SocketAddr)>)> {
    let c: Consortium = serde_json::from_slice(
        &std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
    )
    .with_context(|| format!("{} is not a consortium file", path.display()))?;
    let mut peers = Vec::new();
    let mut listen = None;
    for m in &c.validators {
        let key: PublicKey = m
            .key
            .parse()
            .with_context(|| format!("validator {}: bad key", m.name))?;
        if key == *me {
            listen = Some(m.p2p);
        }
        peers.push((key, m.p2p));
    }
    let listen = listen.with_context(|| {
        format!(
            "this node's validator key {me} is not in {}",
            path.display()
        )
    })?;
    Ok((listen, peers))
}
