#!/usr/bin/env bash
# Install a pinned Claude Code (npm package @anthropic-ai/claude-code) into a
# reusable cache and print the absolute path of the runnable `claude` binary on
# stdout (and nothing else; logs go to stderr). Usage from tests:
#   CLAUDE_BIN=$(scripts/install-claude.sh)
# Env: CLAUDE_CODE_VERSION  overrides scripts/claude-version ("latest" allowed)
#      CF_RUN_CACHE         cache root (default /var/cache/cf-run)
set -euo pipefail
umask 022 # the client runs as unprivileged test users: everything must be o+rX

pkg=@anthropic-ai/claude-code
log() { echo "install-claude: $*" >&2; }
die() {
    log "error: $*"
    exit 1
}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
version=${CLAUDE_CODE_VERSION:-$(tr -d '[:space:]' <"$here/claude-version")}
if [[ $version == latest ]]; then
    version=$(npm view "$pkg" version 2>/dev/null) || die "cannot resolve latest $pkg version"
fi
# The version becomes a path component: accept plain semver only.
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.]+)?$ ]] || die "bad version '$version'"

mkdir -p "${CF_RUN_CACHE:-/var/cache/cf-run}/claude-code"
cache=$(cd "${CF_RUN_CACHE:-/var/cache/cf-run}" && pwd)
chmod a+rx "$cache" "$cache/claude-code" 2>/dev/null || true
dest=$cache/claude-code/$version

# Print the first binary under $1 whose --version reports $version. The native
# binary ships in a per-platform optional dependency; the wrapper's postinstall
# hardlinks it over bin/claude.exe (the target of .bin/claude), but that step is
# skipped under --ignore-scripts, so the platform package is tried first.
find_bin() {
    local c out
    for c in "$1"/node_modules/"$pkg"-linux-*/claude \
        "$1/node_modules/$pkg/bin/claude.exe" "$1/node_modules/.bin/claude"; do
        [[ -f $c && -x $c ]] || continue
        out=$(DISABLE_AUTOUPDATER=1 "$c" --version 2>/dev/null) || continue
        [[ ${out%% *} == "$version" ]] && echo "$c" && return 0
    done
    return 1
}

if bin=$(find_bin "$dest"); then
    echo "$bin"
    exit 0
fi

# Serialise concurrent installers (tests may start in parallel), then re-check.
exec 9>"$cache/claude-code/.lock"
flock 9
if bin=$(find_bin "$dest"); then
    echo "$bin"
    exit 0
fi

# Temp dirs left by a SIGKILLed run; safe to drop while we hold the lock.
rm -rf "$cache"/claude-code/.tmp-*

command -v npm >/dev/null || die "npm not found"
log "installing $pkg@$version into $dest (about 240 MB)"
# Install into a temp dir and rename it into place, so a killed run never
# leaves a half-populated cache entry behind.
tmp=$(mktemp -d "$cache/claude-code/.tmp-$version-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
npm install --prefix "$tmp" --no-audit --no-fund --no-save --include=optional \
    --loglevel=warn "$pkg@$version" >&2 || die "npm install $pkg@$version failed"
find_bin "$tmp" >/dev/null || die "no working claude $version binary after install in $tmp"
chmod -R a+rX "$tmp"
if [[ -e $dest ]]; then # a broken earlier entry: move it aside, then drop it
    mv -T "$dest" "$tmp.old"
    rm -rf "$tmp.old"
fi
mv -T "$tmp" "$dest"
trap - EXIT

# Warn when an ancestor dir would stop unprivileged users from reaching the binary.
d=$dest
while [[ $d != / ]]; do
    [[ $(($(stat -c '%#a' "$d") & 5)) == 5 ]] || log "warning: $d is not o+rx"
    d=$(dirname "$d")
done

bin=$(find_bin "$dest") || die "installed, but no working claude binary in $dest"
echo "$bin"
