#!/usr/bin/env bash
# Builds cf-run and installs it: as root to /usr/local/bin (every user's),
# otherwise to ~/.local/bin (yours).
#   scripts/install.sh [--privileged] [--apparmor] [--bindir DIR]
#   --privileged  give the binary cap_sys_admin+p, for privileged mode (root only)
#   --apparmor    load packaging/apparmor/cf-run, for Ubuntu hosts that restrict
#                 unprivileged user namespaces (root only, /usr/local/bin only)
#   --bindir DIR  install there instead
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

die() { echo "scripts/install.sh: $*" >&2; exit 1; }

privileged='' apparmor='' bindir=''
while (($#)); do
    case $1 in
        --privileged) privileged=1 ;;
        --apparmor) apparmor=1 ;;
        --bindir) bindir=${2:?--bindir needs a directory}; shift ;;
        -h | --help) sed -n '2,9s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
    shift
done

root=''
if [[ $(id -u) == 0 ]]; then root=1; fi
[[ -n $root || -z $privileged ]] || die "--privileged sets a file capability: run as root (sudo scripts/install.sh --privileged)"
[[ -n $root || -z $apparmor ]] || die "--apparmor loads a profile: run as root (sudo scripts/install.sh --apparmor)"
bindir=${bindir:-$([[ -n $root ]] && echo /usr/local/bin || echo "$HOME/.local/bin")}
[[ -z $apparmor || $bindir == /usr/local/bin || $bindir == /usr/bin ]] \
    || die "the AppArmor profile attaches to /usr/local/bin/cf-run and /usr/bin/cf-run only, not $bindir"
command -v cargo >/dev/null || die "needs a Rust toolchain (1.85 or newer, from rustup)"

. scripts/static.sh
static_deps
static_cargo build --release --locked
static_check "$static_dir/release/cf-run"
install -d "$bindir"
install -m 755 "$static_dir/release/cf-run" "$bindir/cf-run"
echo "installed $bindir/cf-run ($("$bindir/cf-run" --version))"

if [[ -n $privileged ]]; then
    command -v setcap >/dev/null || { apt-get update -qq && apt-get install -y -qq libcap2-bin >&2; }
    setcap cap_sys_admin+p "$bindir/cf-run"
    echo "gave $bindir/cf-run cap_sys_admin+p: auto picks privileged mode"
fi

restricted=$(cat /proc/sys/kernel/apparmor_restrict_unprivileged_userns 2>/dev/null || echo 0)
if [[ -n $apparmor ]]; then
    command -v apparmor_parser >/dev/null || die "apparmor_parser not found: is AppArmor installed (apt-get install apparmor)?"
    install -m 644 packaging/apparmor/cf-run /etc/apparmor.d/cf-run
    apparmor_parser -r /etc/apparmor.d/cf-run
    echo "loaded /etc/apparmor.d/cf-run: cf-run may make user namespaces"
elif [[ $restricted == 1 && -z $privileged ]]; then
    echo "note: this host restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns=1);"
    echo "      for userns mode run: sudo scripts/install.sh --apparmor (or --privileged for privileged mode)"
fi

case ":$PATH:" in
    *":$bindir:"*) ;;
    *) echo "note: $bindir is not on your PATH; add it (export PATH=\"$bindir:\$PATH\")" ;;
esac
echo "next: cf-run init --shared ~/.claude-projects-shared --account NAME=~/.claude-NAME ..., then cf-run doctor"
