//! Where the shared sample data is (see `sample_root`).

#![allow(dead_code)]

use std::path::PathBuf;

/// The shared sample data: `$EHRCHAIN_SAMPLE_DATA` if set, else `shared/data` beside the
/// repository or beside any folder above it, else `/work/shared/data` (where this project's
/// machines keep it, wherever CI clones the repository).
fn sample_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("EHRCHAIN_SAMPLE_DATA") {
        return PathBuf::from(dir);
    }
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .map(|a| a.join("shared/data"))
        .find(|d| d.is_dir())
        .unwrap_or_else(|| PathBuf::from("/work/shared/data"))
}

pub fn data_dir(sub: &str) -> PathBuf {
    let dir = sample_root().join(sub);
    assert!(
        dir.is_dir(),
        "sample data missing: {} (set EHRCHAIN_SAMPLE_DATA to the shared/data folder)",
        dir.display()
    );
    dir
}

pub fn json_files(sub: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(data_dir(sub))
        .expect("read data dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}
