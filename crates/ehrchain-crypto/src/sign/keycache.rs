//! Decompressed public keys this process has already validated.
//!
//! Checking a key means decompressing its point (a field square root, about 5 µs here), and a
//! consortium node would otherwise do it several times for the same signer and transaction: on
//! decoding a submitted or gossiped transaction, again inside the batch verification, and again
//! on decoding the block that carries it. Signers repeat (clinicians, devices, validators), so
//! the point is kept once it has passed the full check.
//!
//! The cache only ever holds keys that [`super::PublicKey::from_bytes`] would accept, keyed by
//! their exact 32-byte encoding, so a hit gives the same answer as a miss. It is bounded: each
//! shard keeps two generations of at most `PER_GENERATION` keys and drops the older one when
//! the newer fills, so a flood of fresh keys costs memory only up to the bound (131,072 keys
//! of about 230 bytes each plus hash-table overhead: roughly 30–35 MB, computed, not
//! measured) and merely lowers the hit rate. `std`'s randomly seeded hasher keeps an attacker from steering
//! keys into one bucket.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use ed25519_dalek::VerifyingKey;

const SHARDS: usize = 16;
const PER_GENERATION: usize = 4096;

#[derive(Default)]
struct Shard {
    current: HashMap<[u8; 32], VerifyingKey>,
    previous: HashMap<[u8; 32], VerifyingKey>,
}

static CACHE: [Mutex<Option<Shard>>; SHARDS] = [const { Mutex::new(None) }; SHARDS];

fn shard(bytes: &[u8; 32]) -> &'static Mutex<Option<Shard>> {
    &CACHE[usize::from(bytes[0]) % SHARDS]
}

/// The cached point for `bytes`, if it was validated before.
pub(super) fn get(bytes: &[u8; 32]) -> Option<VerifyingKey> {
    let mut guard = shard(bytes).lock().unwrap_or_else(PoisonError::into_inner);
    let shard = guard.as_mut()?;
    if let Some(key) = shard.current.get(bytes) {
        return Some(*key);
    }
    let key = shard.previous.remove(bytes)?;
    insert(shard, *bytes, key);
    Some(key)
}

/// Remembers a key that passed the full check.
pub(super) fn put(bytes: &[u8; 32], key: VerifyingKey) {
    let mut guard = shard(bytes).lock().unwrap_or_else(PoisonError::into_inner);
    insert(guard.get_or_insert_with(Shard::default), *bytes, key);
}

fn insert(shard: &mut Shard, bytes: [u8; 32], key: VerifyingKey) {
    if shard.current.len() >= PER_GENERATION {
        shard.previous = std::mem::take(&mut shard.current);
    }
    shard.current.insert(bytes, key);
}

/// How many keys are held (both generations, all shards).
#[cfg(test)]
pub(super) fn len() -> usize {
    CACHE
        .iter()
        .map(|s| {
            s.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .as_ref()
                .map_or(0, |s| s.current.len() + s.previous.len())
        })
        .sum()
}

/// The bound on [`len`].
#[cfg(test)]
pub(super) const CAPACITY: usize = SHARDS * PER_GENERATION * 2;
