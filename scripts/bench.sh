#!/usr/bin/env bash
# Benchmarks, side by side in one run each (hyperfine -N, medians):
#   1. launch overhead as an unprivileged user: cf-run (userns, privileged,
#      symlink) against /bin/true, `unshare -U -m -r /bin/true`, bwrap
#      making the same binds, and the floor (benches/floor.c: exactly
#      cf-run's isolation and nothing else), with cf-run's ratio to each;
#   1b. the floor, cf-run, bwrap and unshare again, run in turn (one of each
#      per round: benches/interleave.c), whose ratios load drift moves less;
#   1c. the same launch for a user that only an NSS module knows (as sssd or
#      LDAP users are; here libnss-extrausers), which cf-run asks getent for;
#   2. privileged mode against bwrap, both as root;
#   3. `cf-run ps` with 1,000 live sessions, and launch time with 1,000 live
#      sessions against none;
#   4. peak RSS of a launch;
#   5. `cf-run init` merging 100,000 transcripts of two accounts;
#   6. the move to the next account at a usage limit, with the real client,
#      against the client's own start (tests/sessions.rs, bench_the_move).
# Needs root to make the bench user and the cap_sys_admin+p copy.
#   sudo scripts/bench.sh [RUNS]
#   sudo scripts/bench.sh --smoke   # every step, a few runs, tiny sizes: CI's
#                                   # check that the script still works
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [[ ${1:-} == --smoke ]]; then
    runs=3 rounds=3 warmup=1 sessions=5 transcripts=200 moves=1
else
    runs=${1:-300} warmup=30 sessions=${BENCH_SESSIONS:-1000} transcripts=${BENCH_TRANSCRIPTS:-100000}
    moves=${BENCH_MOVES:-9}
    # Ten times the runs, run in turn (a round takes about 12 ms): at 3000
    # rounds, two copies of the same binary came out 0.005 ms apart.
    rounds=$((runs * 10))
fi

. scripts/lib.sh
need_root "it makes the bench user and a cap_sys_admin+p copy"
command -v hyperfine >/dev/null && command -v bwrap >/dev/null && [[ -x /usr/bin/time ]] &&
    dpkg -s libnss-extrausers >/dev/null 2>&1 ||
    apt_install hyperfine bubblewrap time libnss-extrausers

build_static
bin=$(mktemp -d /tmp/cf-bench-bin.XXXXXX)
chmod 755 "$bin"
install -m 755 "$static_bin" "$bin/cf-run"
install -m 755 "$static_bin" "$bin/cf-run-privileged"
setcap cap_sys_admin+p "$bin/cf-run-privileged"
command -v cc >/dev/null || apt_install gcc libc6-dev
cc -O2 -static -o "$bin/floor" benches/floor.c
cc -O2 -o "$bin/interleave" benches/interleave.c
out=${BENCH_OUT:-/tmp/cf-run-bench}
mkdir -p "$out"
chmod 777 "$out"

make_user cf-bench
pkill -KILL -u "$user" 2>/dev/null || true
as_user sh -c 'cd; rm -rf .claude .claude-a .claude-b .claude-shared .config .local'
make_layout .claude-shared a=.claude-a b=.claude-b
# bwrap needs the mount point to exist; cf-run makes it itself.
as_user mkdir -p "$home/.claude" "$home/.claude-a/projects"

# Prints a markdown table of medians from a hyperfine JSON export, with each
# median's ratio to the command named $2.
table() {
    python3 - "$1" "$2" <<'PY'
import json, sys
res = json.load(open(sys.argv[1]))["results"]
med = {r["command"]: r["median"] * 1e3 for r in res}
base = med[sys.argv[2]]
print(f"| command | median ms | x {sys.argv[2]} |")
print("| --- | ---: | ---: |")
for name, m in med.items():
    print(f"| {name} | {m:.3f} | {m / base:.2f} |")
PY
}

bwrap_line="bwrap --dev-bind / / --bind $home/.claude-a $home/.claude --bind $home/.claude-shared $home/.claude/projects /bin/true"
# The isolation cf-run's namespace modes give: a PID namespace with its own
# /proc and a parent the session dies with. bwrap adds --new-session (its
# guard against TIOCSTI), which cf-run does not do.
bwrap_pid="bwrap --unshare-user --unshare-pid --die-with-parent --new-session --dev-bind / / --proc /proc --bind $home/.claude-a $home/.claude --bind $home/.claude-shared $home/.claude/projects /bin/true"

# The floor, for account a: the binds, the covers and the private /tmp a
# userns launch of cf-run makes here (all but the supervisor sockets' bind),
# pid 1 with /proc, the terminal filter and Landlock's scopes.
floor_line="$bin/floor -b $home/.claude-shared:$home/.claude-a/projects -b $home/.claude-a:$home/.claude \
-c $home/.claude-b -t /tmp -c $home/.local/state/cf-run -- /bin/true"
as_user mkdir -p "$home/.local/state/cf-run"

echo "Machine: $(nproc) cores, $(sed -n 's/^model name\t*: //p' /proc/cpuinfo | head -1), Linux $(uname -r)"
echo "Versions: $("$bin/cf-run" --version), $(bwrap --version), $(unshare --version), $(hyperfine --version)"
echo
echo "## 1. Launch, as an unprivileged user ($runs runs)"
as_user hyperfine -N --warmup "$warmup" --runs "$runs" --export-json "$out/launch.json" \
    -n '/bin/true' '/bin/true' \
    -n 'unshare -U -m -r' 'unshare -U -m -r /bin/true' \
    -n 'bwrap --unshare-user' "bwrap --unshare-user ${bwrap_line#bwrap }" \
    -n 'bwrap, same isolation' "$bwrap_pid" \
    -n 'floor' "$floor_line" \
    -n 'cf-run userns' "$bin/cf-run --mode userns --account a -- /bin/true" \
    -n 'cf-run privileged' "$bin/cf-run-privileged --account a -- /bin/true" \
    -n 'cf-run symlink' "$bin/cf-run --mode symlink --account b -- /bin/true" >&2
table "$out/launch.json" 'bwrap, same isolation'
python3 - "$out/launch.json" <<'PY'
import json, sys
med = {r["command"]: r["median"] for r in json.load(open(sys.argv[1]))["results"]}
me = med["cf-run userns"]
for base in ["floor", "bwrap, same isolation", "unshare -U -m -r"]:
    print(f"cf-run userns / {base}: {me / med[base]:.2f}")
PY

echo
echo "## 1b. The same launches in turn, one of each per round ($rounds rounds)"
# Load on a small VM drifts between hyperfine's blocks and moves the ratios
# above by a tenth or more; run in turn, every command meets the same drift.
# shellcheck disable=SC2086 # each line is a command and its words
as_user "$bin/interleave" "$rounds" "$warmup" \
    floor $floor_line :: \
    'cf-run userns' "$bin/cf-run" --mode userns --account a -- /bin/true :: \
    'bwrap, same isolation' "$(command -v bwrap)" ${bwrap_pid#bwrap } :: \
    'unshare -U -m -r' "$(command -v unshare)" -U -m -r /bin/true

echo
echo "## 1c. Launch, as a user only an NSS module knows ($runs runs)"
# uid 64243 in extrausers' files, seen through a test nsswitch.conf (Debian's
# default plus extrausers) bound over the host's in a private mount namespace.
nss=$(mktemp -d /tmp/cf-bench-nss.XXXXXX)
nss_uid=64243
chmod 755 "$nss"
mkdir -p "$nss/extrausers" "$nss/home/.claude-a/projects" "$nss/home/.claude-b" "$nss/home/.claude-shared" \
    "$nss/home/.config/claude-failover" /var/lib/extrausers
printf 'passwd: files systemd extrausers\ngroup: files systemd extrausers\n' >"$nss/nsswitch.conf"
echo "cf-bench-nss:x:$nss_uid:$nss_uid::$nss/home:/bin/sh" >"$nss/extrausers/passwd"
echo "cf-bench-nss:x:$nss_uid:" >"$nss/extrausers/group"
cp "$home/.config/claude-failover/config.toml" "$nss/home/.config/claude-failover/"
chown -R "$nss_uid:$nss_uid" "$nss/home"
unshare --mount --propagation private sh -c 'mount --bind "$0/nsswitch.conf" /etc/nsswitch.conf &&
    mount --bind "$0/extrausers" /var/lib/extrausers && cd "$0/home" && exec "$@"' "$nss" \
    setpriv --reuid="$nss_uid" --regid="$nss_uid" --clear-groups --reset-env -- \
    hyperfine -N --warmup "$warmup" --runs "$runs" --export-json "$out/nss.json" \
    -n '/bin/true' '/bin/true' \
    -n 'getent passwd' "getent passwd $nss_uid" \
    -n 'unshare -U -m -r' 'unshare -U -m -r /bin/true' \
    -n 'cf-run userns' "$bin/cf-run --mode userns --account a -- /bin/true" \
    -n 'cf-run symlink' "$bin/cf-run --mode symlink --account b -- /bin/true" >&2
table "$out/nss.json" 'unshare -U -m -r'
rm -rf "$nss"

echo
echo "## 2. Privileged, against bwrap as root ($runs runs)"
hyperfine -N --warmup "$warmup" --runs "$runs" --export-json "$out/root.json" \
    -n 'bwrap (root)' "$bwrap_line" \
    -n 'cf-run privileged (user)' "setpriv --reuid=$user --regid=$user --init-groups --reset-env -- $bin/cf-run-privileged --account a -- /bin/true" \
    -n 'setpriv /bin/true (user)' "setpriv --reuid=$user --regid=$user --init-groups --reset-env -- /bin/true" >&2
table "$out/root.json" 'bwrap (root)'

echo
echo "## 3. With $sessions live sessions"
# unshare and /bin/true are the controls: what the kernel itself does with
# 1,000 more processes and namespaces around.
as_user hyperfine -N --warmup "$warmup" --runs "$runs" --export-json "$out/none.json" \
    -n 'ps --json, 0 sessions' "$bin/cf-run ps --json" \
    -n 'launch, 0 sessions' "$bin/cf-run --mode userns --account a -- /bin/true" \
    -n 'unshare -U -m -r, 0 sessions' 'unshare -U -m -r /bin/true' \
    -n '/bin/true, 0 sessions' '/bin/true' >&2
for i in $(seq "$sessions"); do
    as_user "$bin/cf-run" --mode userns --account a -- sleep 3600 &
done
until [[ $(as_user "$bin/cf-run" ps --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))') -ge $sessions ]]; do
    sleep 0.5
done
as_user hyperfine -N --warmup "$warmup" --runs "$runs" --export-json "$out/many.json" \
    -n "ps --json, $sessions sessions" "$bin/cf-run ps --json" \
    -n "launch, $sessions sessions" "$bin/cf-run --mode userns --account a -- /bin/true" \
    -n "unshare -U -m -r, $sessions sessions" 'unshare -U -m -r /bin/true' \
    -n "/bin/true, $sessions sessions" '/bin/true' >&2
pkill -KILL -u "$user" sleep || true
wait 2>/dev/null || true
python3 - "$out/none.json" "$out/many.json" <<'PY'
import json, sys
rows = [r for f in sys.argv[1:] for r in json.load(open(f))["results"]]
print("| command | median ms |")
print("| --- | ---: |")
for r in rows:
    print(f"| {r['command']} | {r['median'] * 1e3:.3f} |")
PY

echo
echo "## 4. Peak RSS of one launch"
for cmd in "$bin/cf-run --mode userns --account a -- /bin/true" "$bin/cf-run-privileged --account a -- /bin/true" "unshare -U -m -r /bin/true"; do
    # /bin/true replaces cf-run: the peak is cf-run's own, unless /bin/true's is larger.
    rss=$(as_user /usr/bin/time -f %M $cmd 2>&1 >/dev/null | tail -1)
    echo "- \`${cmd/$bin\//}\`: ${rss} KiB"
done

echo
echo "## 4b. RSS of the processes that stay while a session runs"
# The session's parent (outside) and pid 1 (inside) for cf-run; bwrap's
# monitor and its pid 1 for the same isolation.
rss_of_tree() {
    # setpriv and env exec in place: $! is cf-run's (bwrap's) own pid. No
    # output: the session must not hold this substitution's pipe open.
    setpriv --reuid="$user" --regid="$user" --init-groups --reset-env -- "$@" >/dev/null 2>&1 &
    local top=$! child='' i
    for i in $(seq 200); do
        child=$(pgrep -P "$top" | head -1)
        [[ -n $child ]] && pgrep -P "$child" >/dev/null && break
        sleep 0.02
    done
    # As the session runs on: cf-run's parent gives back the code its start
    # brought in at its first tick, half a second in.
    sleep 1
    printf '%s KiB (parent), %s KiB (pid 1)' \
        "$(awk '/^VmRSS/ {print $2}' "/proc/$top/status")" \
        "$(awk '/^VmRSS/ {print $2}' "/proc/$child/status")"
    kill "$top"
    wait "$top" 2>/dev/null || true
}
echo "- cf-run userns: $(rss_of_tree env -C "$home" "$bin/cf-run" --mode userns --account a -- sleep 30)"
echo "- cf-run privileged: $(rss_of_tree env -C "$home" "$bin/cf-run-privileged" --account a -- sleep 30)"
echo "- bwrap, same isolation: $(rss_of_tree ${bwrap_pid%/bin/true} sleep 30)"

echo
echo "## 5. cf-run init on $transcripts transcripts"
# Two accounts, half the transcripts each, in 500 projects, made once and
# copied afresh before each run: init moves them into the shared dir.
template=$home/init-template work=$home/init-work
as_user rm -rf "$template" "$work"
as_user python3 - "$template" "$transcripts" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for a in ("a1", "a2"):
    os.makedirs(f"{root}/{a}", mode=0o700)
    with open(f"{root}/{a}/.credentials.json", "w") as f:
        f.write("{}\n")
for i in range(n):
    d = f"{root}/a{i % 2 + 1}/projects/-home-p{i % 500}"
    os.makedirs(d, exist_ok=True)
    with open(f"{d}/{i}.jsonl", "w") as f:
        f.write('{"type":"user","n":%d}\n' % i)
PY
init="$bin/cf-run init --config $work/config.toml --shared $work/shared --account a1=$work/a1 --account a2=$work/a2"
as_user hyperfine -N --runs "$(( runs < 3 ? runs : 3 ))" --export-json "$out/init.json" \
    --prepare "sh -c 'rm -rf $work && cp -a $template $work'" \
    -n "init, $transcripts transcripts" "$init" >&2
as_user sh -c "rm -rf $work && cp -a $template $work"
rss=$(as_user /usr/bin/time -f %M $init 2>&1 >/dev/null | tail -1)
merged=$(find "$work/shared" -name '*.jsonl' | wc -l)
[[ $merged == "$transcripts" ]] || { echo "init merged $merged of $transcripts transcripts" >&2; exit 1; }
python3 - "$out/init.json" "$rss" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
print("| command | median s | peak RSS |")
print("| --- | ---: | ---: |")
print(f"| {r['command']} | {r['median']:.2f} | {int(sys.argv[2]) / 1024:.1f} MiB |")
PY
as_user rm -rf "$template" "$work"
rm -rf "$bin"

echo
echo "## 6. The move at a usage limit, with the real client ($moves runs each, medians)"
# In tmux against the mock API: from compte1's request answered with its
# limit to compte2's first request under --failover, and the client's own
# start on the same session (a launch of `claude --resume ID PROMPT` to its
# first request); their difference is what cf-run adds.
command -v tmux >/dev/null && command -v npm >/dev/null || apt_install tmux npm
echo "| | median |"
echo "| --- | ---: |"
CF_RUN_CLAUDE=$(scripts/install-claude.sh) BENCH_MOVE_RUNS=$moves CF_RUN_BIN=$PWD/$static_bin \
    test_cargo test --release --locked --test sessions -- --ignored --exact bench_the_move --nocapture 2>/dev/null |
    grep '^| '
