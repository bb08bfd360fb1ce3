#!/usr/bin/env bash
# Installs the external programs the test suites need. Idempotent: each tool is skipped when the
# wanted version is already installed. One function per tool; add new tools the same way and call
# them from main.
set -euo pipefail

# s3s-fs: a real S3-compatible server over a local folder, for crates/ehrchain-blob/tests/s3.rs.
# 0.15 and later need a newer rustc than the project's toolchain.
S3S_FS_VERSION="0.14.1"

log() {
    printf 'install-test-deps: %s\n' "$*" >&2
}

install_s3s_fs() {
    if command -v s3s-fs >/dev/null 2>&1 \
        && [ "$(s3s-fs --version 2>/dev/null)" = "s3s-fs ${S3S_FS_VERSION}" ]; then
        log "s3s-fs ${S3S_FS_VERSION} already installed"
        return 0
    fi
    log "installing s3s-fs ${S3S_FS_VERSION} (builds from source, a few minutes)"
    cargo install s3s-fs --locked --version "${S3S_FS_VERSION}" --features binary
}

# Headless Chromium for the web UI's browser tests (crates/ehrchain-cli/tests/web.rs), from
# Debian's packages, and playwright-core to drive it plus axe-core for the accessibility check
# (both pinned by crates/ehrchain-web/e2e/package-lock.json).
install_chromium() {
    if command -v chromium >/dev/null 2>&1; then
        log "chromium already installed: $(chromium --version 2>/dev/null | head -1)"
        return 0
    fi
    log "installing chromium and chromium-driver (apt)"
    local sudo=""
    if [ "$(id -u)" != "0" ]; then sudo="sudo"; fi
    $sudo apt-get update -q
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver
}

install_e2e_node_modules() {
    local dir="crates/ehrchain-web/e2e"
    # npm ci always reinstalls exactly what package-lock.json pins (two small packages; the npm
    # cache makes repeats fast).
    log "npm ci in $dir"
    (cd "$dir" && npm ci --no-audit --no-fund --prefer-offline)
}

main() {
    cd "$(dirname "$0")/.."
    install_s3s_fs
    install_chromium
    install_e2e_node_modules
}

main "$@"
