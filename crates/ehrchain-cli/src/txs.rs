//! Building and signing transactions on the client side.

use ehrchain_crypto::SigningKey;
use ehrchain_types::{Canonical, SignedTx, Tx, TxBody};
use rand::rngs::OsRng;
use rand::RngCore;

/// Signs `body` as `key` with a fresh random nonce.
pub fn sign(key: &SigningKey, body: TxBody) -> SignedTx {
    Tx {
        signer: key.public(),
        nonce: OsRng.next_u64(),
        body,
    }
    .sign(key)
}

/// The bytes to POST.
pub fn bytes(tx: &SignedTx) -> Vec<u8> {
    tx.to_bytes()
}
