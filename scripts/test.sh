#!/usr/bin/env bash
# Runs the whole test suite. Needs root: the tests create unprivileged test
# users (cfrun-t0..5) and run cf-run as them, in real namespaces, and give a
# copy of the binary cap_sys_admin+p for privileged mode.
#   sudo scripts/test.sh [cargo test args...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

[[ $(id -u) == 0 ]] || { echo "scripts/test.sh: run as root (sudo scripts/test.sh)" >&2; exit 1; }

# setpriv (util-linux), setcap (libcap2-bin), useradd (passwd), npm for the client,
# unshare (util-linux) for the policy tests.
need=()
command -v setpriv >/dev/null || need+=(util-linux)
command -v setcap >/dev/null || need+=(libcap2-bin)
command -v useradd >/dev/null || need+=(passwd)
command -v npm >/dev/null || need+=(npm)
# The adversarial suite builds small C helpers and traces cf-run.
command -v cc >/dev/null || need+=(gcc libc6-dev)
dpkg -s gcc-multilib >/dev/null 2>&1 || need+=(gcc-multilib) # an i386 helper: the other ABI
command -v strace >/dev/null || need+=(strace)
command -v pkill >/dev/null || need+=(procps)
command -v tmux >/dev/null || need+=(tmux) # the example supervisor
# The package check completes in a real bash with it, as users have it.
[[ -e /usr/share/bash-completion/bash_completion ]] || need+=(bash-completion)
# The README's backup recipe (tests/backup.rs).
command -v restic >/dev/null || need+=(restic)
# A user that only an NSS module knows, as sssd or LDAP users are (tests/nss.rs).
dpkg -s libnss-extrausers >/dev/null 2>&1 || need+=(libnss-extrausers)
if ((${#need[@]})); then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2
fi

# The Claude Code clients for the end-to-end tests, the newest supported
# (scripts/claude-version) and the oldest (scripts/claude-version-oldest);
# a failed install fails the run.
CF_RUN_CLAUDE=$(scripts/install-claude.sh)
export CF_RUN_CLAUDE
oldest=$(CLAUDE_CODE_VERSION=$(tr -d '[:space:]' <scripts/claude-version-oldest) scripts/install-claude.sh)

# The policy tests make /etc/claude-failover as their mount point: the host
# is left as it was found.
if [[ ! -e /etc/claude-failover ]]; then
    trap 'rmdir /etc/claude-failover 2>/dev/null || true' EXIT
fi

# The binary under test is the one that ships (scripts/static.sh), which
# must not link NSS; the tests themselves are built for the host.
. scripts/static.sh
static_deps
ship_cargo build --release --locked
static_check "$static_dir/release/cf-run"
CF_RUN_BIN=$PWD/$static_dir/release/cf-run
export CF_RUN_BIN
test_cargo test --locked "$@"
# The suites that run the real client, again with the oldest supported one.
if (($# == 0)); then
    CF_RUN_CLAUDE=$oldest test_cargo test --locked --test claude --test share --test sessions --test backup
    CF_RUN_CLAUDE=$oldest test_cargo test --locked --test attacks -- an_exported_key
fi
