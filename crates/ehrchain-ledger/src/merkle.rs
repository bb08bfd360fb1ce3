//! RFC 6962 Merkle trees (as in Certificate Transparency): leaf hash `SHA-256(0x00 ‖ data)`, node
//! hash `SHA-256(0x01 ‖ left ‖ right)`, split at the largest power of two below the size. The
//! inclusion-proof check follows RFC 9162 §2.1.3.2, so any CT tooling can verify our proofs.

use ehrchain_crypto::{sha256, Hash, Hasher};

pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Hasher::new();
    h.update(&[0x00]);
    h.update(data);
    h.finish()
}

pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Hasher::new();
    h.update(&[0x01]);
    h.update(left.as_bytes());
    h.update(right.as_bytes());
    h.finish()
}

/// The root over already-hashed leaves; the root of no leaves is `SHA-256("")`.
pub fn root_of_leaves(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => sha256(b""),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&root_of_leaves(&leaves[..k]), &root_of_leaves(&leaves[k..]))
        }
    }
}

/// The root over raw leaf data.
pub fn root<T: AsRef<[u8]>>(items: &[T]) -> Hash {
    let leaves: Vec<Hash> = items.iter().map(|i| leaf_hash(i.as_ref())).collect();
    root_of_leaves(&leaves)
}

/// The audit path of leaf `index` in a tree of `leaves`, bottom-up.
pub fn inclusion_path(leaves: &[Hash], index: usize) -> Vec<Hash> {
    assert!(
        index < leaves.len(),
        "inclusion path for a leaf outside the tree"
    );
    let mut path = Vec::new();
    collect_path(leaves, index, &mut path);
    path
}

fn collect_path(leaves: &[Hash], index: usize, path: &mut Vec<Hash>) {
    let n = leaves.len();
    if n <= 1 {
        return;
    }
    let k = split(n);
    if index < k {
        collect_path(&leaves[..k], index, path);
        path.push(root_of_leaves(&leaves[k..]));
    } else {
        collect_path(&leaves[k..], index - k, path);
        path.push(root_of_leaves(&leaves[..k]));
    }
}

/// RFC 9162 §2.1.3.2: does `path` prove that `leaf` is leaf `index` of a tree of `size` leaves
/// with root `root`?
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, path: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in path {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && r == *root
}

fn split(n: usize) -> usize {
    debug_assert!(n > 1);
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_leaf_of_every_small_tree_proves_and_nothing_else_does() {
        for size in 1..=33usize {
            let items: Vec<Vec<u8>> = (0..size).map(|i| vec![i as u8; 3]).collect();
            let leaves: Vec<Hash> = items.iter().map(|i| leaf_hash(i)).collect();
            let r = root_of_leaves(&leaves);
            assert_eq!(r, root(&items));
            for i in 0..size {
                let path = inclusion_path(&leaves, i);
                assert!(verify_inclusion(
                    &leaves[i],
                    i as u64,
                    size as u64,
                    &path,
                    &r
                ));
                // wrong index, wrong size, wrong leaf, truncated path: all refused
                if size > 1 {
                    let j = (i + 1) % size;
                    assert!(!verify_inclusion(
                        &leaves[i],
                        j as u64,
                        size as u64,
                        &path,
                        &r
                    ));
                    assert!(!verify_inclusion(
                        &leaves[j],
                        i as u64,
                        size as u64,
                        &path,
                        &r
                    ));
                    assert!(!verify_inclusion(
                        &leaves[i],
                        i as u64,
                        size as u64,
                        &path[..path.len() - 1],
                        &r
                    ));
                }
            }
        }
    }

    #[test]
    fn rfc6962_empty_and_single() {
        // The empty tree's root is the hash of nothing; a single leaf is its leaf hash.
        assert_eq!(
            root::<&[u8]>(&[]).to_string(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(root(&[b"".as_slice()]), leaf_hash(b""));
        // Known CT value: leaf hash of the empty string.
        assert_eq!(
            leaf_hash(b"").to_string(),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
    }
}
