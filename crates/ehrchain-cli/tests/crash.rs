//! Issue 2, "what must hold" 3: `kill -9` of the node during a write load, then restart: no
//! committed transaction is lost and the state root is the one it had.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use ehrchain_crypto::Identity;
use ehrchain_types::{Canonical, Tx, TxBody};
use rand::RngCore;

#[test]
fn kill_9_under_write_load_loses_no_committed_transaction() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("node");
    let mut node = NodeProc::start(&data);
    let url = node.url.clone();
    let committed: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for _ in 0..8 {
        let (url, committed, stop) = (url.clone(), committed.clone(), stop.clone());
        writers.push(std::thread::spawn(move || {
            let http = reqwest::blocking::Client::new();
            while !stop.load(Ordering::Relaxed) {
                let id = Identity::generate(&mut rand::rngs::OsRng);
                let tx = Tx {
                    signer: id.public().sign,
                    nonce: rand::rngs::OsRng.next_u64(),
                    body: TxBody::RegisterPatient {
                        encrypt_key: id.public().encrypt,
                    },
                }
                .sign(id.signing());
                let Ok(resp) = http.post(format!("{url}/v1/tx")).body(tx.to_bytes()).send() else {
                    return;
                };
                if resp.status().is_success() {
                    let v: serde_json::Value = match resp.json() {
                        Ok(v) => v,
                        Err(_) => return,
                    };
                    committed
                        .lock()
                        .unwrap()
                        .push(v["tx"].as_str().unwrap().to_owned());
                }
            }
        }));
    }
    // Remember the state root the node reported for a committed height while under load (once
    // the load is well under way: a busy machine may take a while to get there).
    let start = std::time::Instant::now();
    while committed.lock().unwrap().len() < 60 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the load did not get going"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let tip = node.get("/v1/chain")["tip"].clone();
    let (seen_height, seen_root) = (
        tip["height"].as_u64().unwrap(),
        tip["state_root"].as_str().unwrap().to_owned(),
    );
    std::thread::sleep(Duration::from_millis(400));
    node.kill9();
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    let committed = committed.lock().unwrap().clone();
    assert!(
        committed.len() > 50,
        "load ran: {} committed",
        committed.len()
    );

    let node = NodeProc::start(&data);
    for id in &committed {
        let v = node.get(&format!("/v1/tx/{id}"));
        assert_eq!(
            v["tx"].as_str(),
            Some(id.as_str()),
            "committed transaction {id} lost after kill -9: {v}"
        );
    }
    let block = node.get(&format!("/v1/blocks/{seen_height}"));
    assert_eq!(
        block["header"]["state_root"].as_str(),
        Some(seen_root.as_str()),
        "state root at height {seen_height} changed"
    );
    // The node verified itself at start-up and raised nothing, and it takes writes again.
    assert!(node.get("/v1/alerts")["alerts"]
        .as_array()
        .unwrap()
        .is_empty());
    let id = Identity::generate(&mut rand::rngs::OsRng);
    let tx = Tx {
        signer: id.public().sign,
        nonce: 1,
        body: TxBody::RegisterPatient {
            encrypt_key: id.public().encrypt,
        },
    }
    .sign(id.signing());
    let resp = reqwest::blocking::Client::new()
        .post(format!("{}/v1/tx", node.url))
        .body(tx.to_bytes())
        .send()
        .unwrap();
    assert!(resp.status().is_success());
}
