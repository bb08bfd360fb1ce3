#!/usr/bin/env bash
# The project's test command (README, .ci/run): installs what the tests need (a real S3-compatible
# server, headless Chromium and playwright-core), then checks formatting and lints, then runs
# every test in the workspace, including the web UI's browser tests (crates/ehrchain-cli/tests/web.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-deps.sh
cargo fmt --all -- --check
cargo clippy --locked --workspace --all-targets -- -D warnings
cargo test --locked --workspace --no-fail-fast
# The fuzz targets' property checks, replayed over their committed seeds (no libFuzzer needed);
# keeps the targets compiling and the seeds in step with the encodings.
CARGO_TARGET_DIR="$PWD/target" cargo test --locked --manifest-path fuzz/Cargo.toml
