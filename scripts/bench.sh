#!/usr/bin/env bash
# Launch overhead of cf-run against /bin/true, `unshare -U -m -r` and bwrap
# doing the same binds, side by side in one hyperfine run, as an unprivileged
# user. Needs root to make the bench user and the cap_sys_admin+p copy.
#   sudo scripts/bench.sh [RUNS]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
runs=${1:-300}

[[ $(id -u) == 0 ]] || { echo "scripts/bench.sh: run as root" >&2; exit 1; }
command -v hyperfine >/dev/null && command -v bwrap >/dev/null ||
    { apt-get update -qq && apt-get install -y -qq hyperfine bubblewrap >&2; }

cargo build --release --locked >&2
bin=$(mktemp -d /tmp/cf-bench-bin.XXXXXX)
chmod 755 "$bin"
install -m 755 target/release/cf-run "$bin/cf-run"
install -m 755 target/release/cf-run "$bin/cf-run-privileged"
setcap cap_sys_admin+p "$bin/cf-run-privileged"

user=cf-bench
id "$user" >/dev/null 2>&1 || useradd --create-home --user-group --shell /bin/sh "$user"
home=$(getent passwd "$user" | cut -d: -f6)
as_user() { setpriv --reuid="$user" --regid="$user" --init-groups --reset-env -- "$@"; }
as_user sh -c 'cd; rm -rf .claude .claude-a .claude-b .claude-shared .config
    mkdir -p .claude-a .claude-b .claude-shared .config/claude-failover
    printf "shared_projects = \"~/.claude-shared\"\n[accounts.a]\ndir = \"~/.claude-a\"\n[accounts.b]\ndir = \"~/.claude-b\"\n" > .config/claude-failover/config.toml
    chmod 600 .config/claude-failover/config.toml'

out=${BENCH_OUT:-/tmp/cf-run-bench}
mkdir -p "$out"
chmod 777 "$out"
as_user hyperfine -N --warmup 20 --runs "$runs" --export-json "$out/launch.json" \
    -n '/bin/true' '/bin/true' \
    -n 'unshare -U -m -r /bin/true' 'unshare -U -m -r /bin/true' \
    -n 'bwrap (same binds)' "bwrap --unshare-user --dev-bind / / --bind $home/.claude-a $home/.claude --bind $home/.claude-shared $home/.claude/projects /bin/true" \
    -n 'cf-run userns' "$bin/cf-run --mode userns --account a -- /bin/true" \
    -n 'cf-run privileged' "$bin/cf-run-privileged --account a -- /bin/true" \
    -n 'cf-run symlink' "$bin/cf-run --mode symlink --account a -- /bin/true" >&2

# Medians, ratios to bwrap and peak RSS, as a table.
python3 - "$out/launch.json" <<'PY'
import json, sys
res = json.load(open(sys.argv[1]))["results"]
med = {r["command"]: r["median"] * 1e3 for r in res}
bw = med["bwrap (same binds)"]
print(f"| command | median ms | x /bin/true | x bwrap |")
print(f"| --- | ---: | ---: | ---: |")
for name, m in med.items():
    print(f"| {name} | {m:.2f} | {m / med['/bin/true']:.2f} | {m / bw:.2f} |")
PY
for cmd in "$bin/cf-run --mode userns --account a -- /bin/true" "$bin/cf-run-privileged --account a -- /bin/true"; do
    rss=$(as_user /usr/bin/time -f %M $cmd 2>&1 >/dev/null | tail -1)
    echo "peak RSS of '$cmd': ${rss} KiB"
done
rm -rf "$bin"
