//! Running a node: open it, serve the API on a loopback address, stop on Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::{Context, Result};
use ehrchain_node::{Node, NodeConfig};

/// The node passphrase: `EHRCHAIN_NODE_PASSPHRASE`, or for a development data folder a random
/// one kept in `<data>/keys/dev-passphrase` (said loudly: not for production).
pub fn node_passphrase(data_dir: &Path) -> Result<Vec<u8>> {
    if let Ok(p) = std::env::var("EHRCHAIN_NODE_PASSPHRASE") {
        return Ok(p.into_bytes());
    }
    let path = data_dir.join("keys").join("dev-passphrase");
    if let Ok(p) = std::fs::read(&path) {
        return Ok(p);
    }
    use rand::RngCore;
    let mut raw = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let p = hex::encode(raw).into_bytes();
    std::fs::create_dir_all(path.parent().context("keys dir")?)?;
    ehrchain_node::keystore::write_private(&path, &p)?;
    tracing::warn!(
        path = %path.display(),
        "no EHRCHAIN_NODE_PASSPHRASE set: generated a development passphrase and stored it beside the keys; set the variable in production"
    );
    Ok(p)
}

/// Opens the node and serves the API until shutdown. Prints the address once listening. A
/// consortium node also runs the replicator, which fetches what it lacks from its peers.
pub async fn run(
    config: NodeConfig,
    listen: SocketAddr,
    replication: Option<crate::replicator::Replication>,
) -> Result<()> {
    let node = Node::open(config).await.context("opening the node")?;
    if let Some(r) = replication {
        tokio::spawn(crate::replicator::run(node.clone(), r));
    }
    serve(node, listen).await
}

pub async fn serve(node: Node, listen: SocketAddr) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let addr = listener.local_addr()?;
    println!("ehrchain node listening on http://{addr}");
    tracing::info!(%addr, chain = %node.chain_id(), "API up");
    ehrchain_api::serve(node, listener, shutdown()).await?;
    Ok(())
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
