//! Where the shared sample data is: `../shared/data` beside the repository.

#![allow(dead_code)]

use std::path::PathBuf;

pub fn data_dir(sub: &str) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = root.join("../shared/data").join(sub);
    assert!(
        dir.is_dir(),
        "sample data missing: {} (the tests read ../shared/data beside the repository)",
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
