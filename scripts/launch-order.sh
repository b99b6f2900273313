#!/usr/bin/env bash
# Writes scripts/launch.order: the functions of cf-run that a launch runs,
# for the shipped build to lay side by side (scripts/static.sh). Run it
# again when a launch runs other code than it did, or after a change of
# toolchain or dependencies, which renames functions; then measure with
# scripts/bench.sh. With --check (CI), it only fails if the build has lost
# more than a tenth of the names the list holds.
#
# Each launch is run under scripts/steptrace.c, which single-steps it and
# the processes it forks until they exec, as the bench user in real
# namespaces: a launch of /bin/true, and one of `claude` (a stand-in that
# exits at once). (Privileged mode runs the same code, but a traced program
# gets none of its file capabilities.)
#   sudo scripts/launch-order.sh
#   scripts/launch-order.sh --check
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/lib.sh
. scripts/static.sh
[[ $host == x86_64-* ]] || die "the order is x86_64's: other hosts link without it"
static_deps
# The shipped build, stripped as it ships (the profile is part of what names
# a function), in the linker's own order, with the linker's map of where it
# put each function.
map=$PWD/target/order/cf-run.map
link_args=("-Map=$map" --no-demangle)
CARGO_TARGET_DIR=target/order ship_cargo build --release --locked >&2

# Reads the map's symbol lines (address, size, alignment, then the name
# indented past the output and input section columns), then either checks
# the list against them (check LIST) or writes the list from a trace (write
# OFFSETS).
order() {
    python3 - "$map" "$@" "$ship" <<'PY'
import bisect, re, sys
symbol = re.compile(r"\s*([0-9a-f]+)\s+[0-9a-f]+\s+[0-9a-f]+\s+\d+ {17}(\S+)$")
syms = sorted((int(m[1], 16), m[2]) for m in map(symbol.match, open(sys.argv[1])) if m)
mode, path, target = sys.argv[2:]
if mode == "check":
    written = next((l.split()[-1] for l in open(path) if l.startswith("# For ")), None)
    if written != target:
        # The names are another build's (glibc's, musl's): nothing to check.
        print(f"scripts/launch.order is for {written}, not this {target} build: not checked")
        sys.exit()
    built = {name for _, name in syms}
    listed = [l.strip() for l in open(path) if l.strip() and not l.startswith("#")]
    found = sum(name in built for name in listed)
    print(f"scripts/launch.order: {found} of {len(listed)} functions are in the build")
    if found < 0.9 * len(listed):
        sys.exit("the build has renamed them (a new toolchain or dependency): sudo scripts/launch-order.sh")
    sys.exit()
# Each process of a launch maps the code it runs for itself, 64 KiB at a
# time: the command's process (2) runs little, pid 1 (1) more, the parent
# (0) most. Each one's code comes after the code of those that run less, in
# the order first run.
starts = [addr for addr, _ in syms]
runs = {}
for line in open(path):
    process, offset = line.split()
    i = bisect.bisect_right(starts, int(offset, 16)) - 1
    if i >= 0:
        runs.setdefault(syms[i][1], set()).add(int(process))
print("# Written by scripts/launch-order.sh: the functions a launch runs, laid")
print("# side by side by the linker (scripts/static.sh).")
print(f"# For {target}")
print("\n".join(sorted(runs, key=lambda name: -max(runs[name]))))
PY
}
if [[ ${1:-} == --check ]]; then
    order check scripts/launch.order
    exit
fi
need_root "it makes the bench user"
bin=$(mktemp -d /tmp/cf-order.XXXXXX)
trap 'rm -rf "$bin"' EXIT
chmod 755 "$bin"
install -m 755 "target/order/$ship/release/cf-run" "$bin/cf-run"
cc -O2 -o "$bin/steptrace" scripts/steptrace.c

make_user cf-bench
pkill -KILL -u "$user" 2>/dev/null || true
as_user sh -c 'cd; rm -rf .claude .claude-a .claude-b .claude-shared .config .local'
make_layout .claude-shared a=.claude-a b=.claude-b
as_user sh -c 'cd; mkdir -p .local/bin && ln -s /bin/true .local/bin/claude'
trace() { as_user env -C "$home" PATH="$home/.local/bin:/usr/bin:/bin" "$bin/steptrace" "$@"; }
{
    trace "$bin/cf-run" --mode userns --account a -- /bin/true
    trace "$bin/cf-run" --mode userns --account a -- claude --version
} 3>"$bin/offsets"

order write "$bin/offsets" >"$bin/order"
cp "$bin/order" scripts/launch.order
touch src/main.rs
echo "scripts/launch.order: $(grep -vc '^#' scripts/launch.order) functions" >&2
