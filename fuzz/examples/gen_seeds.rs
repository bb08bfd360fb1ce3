//! Writes the seed corpus to `fuzz/seeds/<target>/<name>` (deterministic: rerunning it rewrites
//! the same bytes). Run from anywhere: `cargo run --manifest-path fuzz/Cargo.toml --example gen_seeds`.

use std::fs;
use std::path::Path;

fn main() -> std::io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    for target in ehrchain_fuzz::seeds::TARGETS {
        let dir = root.join(target);
        if dir.exists() {
            fs::remove_dir_all(&dir)?;
        }
        fs::create_dir_all(&dir)?;
    }
    let seeds = ehrchain_fuzz::seeds::all();
    for seed in &seeds {
        fs::write(root.join(seed.target).join(&seed.name), &seed.bytes)?;
    }
    for target in ehrchain_fuzz::seeds::TARGETS {
        let n = seeds.iter().filter(|s| s.target == *target).count();
        println!("{target:16} {n:3} seeds");
    }
    Ok(())
}
