#!/usr/bin/env bash
# CI's check of the Debian package, on this machine, as root: builds it
# (scripts/package.sh) unless given a .deb, installs it with dpkg, checks the
# binary, the man page, the completions, doctor and a launch as a new
# unprivileged user, privileged mode (CF_RUN_PRIVILEGED=1, kept across an
# upgrade by /etc/claude-failover/privileged), the AppArmor profile where
# AppArmor runs, then purges it and checks that none of its files is left.
#   sudo scripts/package-check.sh [PACKAGE.deb]
# Refuses to run while a cf-run package is installed (it would purge it).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/lib.sh

need_root "it installs the package and makes a user"
status=$(dpkg-query -W -f='${db:Status-Status}' cf-run 2>/dev/null || true)
[[ -z $status || $status == not-installed ]] ||
    die "the cf-run package is on this machine ($status): this check would purge it; sudo dpkg --purge cf-run first"

# man (man-db, with groff to render), setcap and getcap, setpriv, useradd, python3:
# installed before the "before" list of files is taken.
need=()
command -v man >/dev/null && command -v groff >/dev/null || need+=(man-db groff-base)
command -v getcap >/dev/null || need+=(libcap2-bin)
command -v setpriv >/dev/null || need+=(util-linux)
command -v useradd >/dev/null || need+=(passwd)
command -v python3 >/dev/null || need+=(python3) # reads a held inode's capabilities
((${#need[@]} == 0)) || apt_install "${need[@]}"

deb=${1:-$(bash scripts/package.sh)}
[[ -f $deb ]] || die "no package at $deb"
version=$(dpkg-deb -f "$deb" Version)
# By its path: an install.sh copy in /usr/local/bin would come first on PATH.
bin=/usr/bin/cf-run

fail() { die "package check: $*"; }
# Where the package puts files, and where dpkg or its scripts could leave any.
watched=(/usr/bin /usr/share/man /usr/share/bash-completion /usr/share/zsh /usr/share/fish
    /usr/share/doc /etc/apparmor.d /etc/claude-failover /var/cache/apparmor /var/lib/dpkg/info)
file_list() {
    local dir
    for dir in "${watched[@]}"; do
        [[ ! -e $dir ]] || find "$dir" -printf '%p %y %m\n'
    done | LC_ALL=C sort
}
work=$(mktemp -d)
cleanup() {
    pkill -KILL -u cf-pkg-check 2>/dev/null || true
    userdel -r cf-pkg-check >/dev/null 2>&1 || true
    local status
    status=$(dpkg-query -W -f='${db:Status-Status}' cf-run 2>/dev/null || true)
    [[ -z $status || $status == not-installed ]] || dpkg --purge cf-run >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
file_list >"$work/before"

# Debian images often keep dpkg from installing man pages and docs
# (path-exclude in /etc/dpkg/dpkg.cfg.d/): this package's own come in all the same.
dpkg_i() {
    dpkg --path-include='/usr/share/man/man1/cf-run.1.gz' --path-include='/usr/share/doc/cf-run/*' \
        -i "$deb" >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg -i $deb failed"; }
}

echo "== dpkg -i $deb"
dpkg_i
dpkg-query -L cf-run >"$work/files"
while read -r path; do
    [[ -e $path ]] || fail "$path, in the package's file list, is not on disk"
done <"$work/files"
for path in /usr/bin/cf-run /usr/share/man/man1/cf-run.1.gz /usr/share/bash-completion/completions/cf-run \
    /usr/share/zsh/vendor-completions/_cf-run /usr/share/fish/vendor_completions.d/cf-run.fish \
    /usr/share/doc/cf-run/SECURITY.md /etc/apparmor.d/cf-run; do
    grep -qxF "$path" "$work/files" || fail "the package has no $path"
done

echo "== cf-run --version"
out=$("$bin" --version)
[[ $out == "cf-run ${version%-*}" ]] || fail "cf-run --version printed '$out', not 'cf-run ${version%-*}'"
[[ -z $(getcap "$bin") ]] || fail "/usr/bin/cf-run holds capabilities without CF_RUN_PRIVILEGED=1"

echo "== man -w cf-run"
out=$(man -w cf-run) || fail "man -w cf-run found no page"
[[ $out == /usr/share/man/man1/cf-run.1.gz ]] || fail "man -w cf-run gave $out, not /usr/share/man/man1/cf-run.1.gz"
MANWIDTH=80 man -P cat cf-run 2>/dev/null >"$work/man.txt" || fail "man cf-run did not render"
for section in SYNOPSIS OPTIONS "CF-RUN DOCTOR" "EXIT STATUS" FILES; do
    grep -q "^$section" "$work/man.txt" || fail "man cf-run has no $section section"
done

echo "== completions"
# shellcheck disable=SC2016 # expanded by the inner bash
out=$(bash -c '. /usr/share/bash-completion/completions/cf-run
    COMP_WORDS=(cf-run doc) COMP_CWORD=1 COMP_LINE="cf-run doc" COMP_POINT=10
    _cf__run cf-run doc cf-run; echo "${COMPREPLY[*]}"') || fail "the bash completion failed"
[[ $out == doctor ]] || fail "bash completes 'cf-run doc' to '$out', not 'doctor'"
if command -v zsh >/dev/null; then zsh -n /usr/share/zsh/vendor-completions/_cf-run || fail "_cf-run is not zsh"; fi
if command -v fish >/dev/null; then fish -n /usr/share/fish/vendor_completions.d/cf-run.fish || fail "cf-run.fish is not fish"; fi

echo "== cf-run doctor, as a new user with no config"
make_user cf-pkg-check
rc=0
as_user "$bin" doctor --all >"$work/doctor.out" 2>"$work/doctor.err" || rc=$?
cat "$work/doctor.out" "$work/doctor.err"
((rc == 1)) || fail "doctor exited $rc, not 1 (no config)"
grep -q "^FAIL  config: .*$home/.config/claude-failover/config.toml" "$work/doctor.out" ||
    fail "doctor did not report the missing config"
grep -q '^ok    cap_sys_admin: .*does not hold' "$work/doctor.out" ||
    fail "doctor did not find /usr/bin/cf-run without cap_sys_admin"
grep -q '^cf-run: doctor: .*config' "$work/doctor.err" ||
    fail "doctor did not name the config on stderr"
out=$(as_user "$bin" doctor --json 2>/dev/null) && fail "doctor --json exited 0 with no config"
[[ $out == '{"ok":false,'* ]] || fail "doctor --json did not say ok: false: $out"

echo "== a launch, as that user with two accounts"
make_layout .claude-shared a=.claude-a b=.claude-b
as_user sh -c 'echo "account a" >~/.claude-a/who'
# shellcheck disable=SC2016 # expanded in the session
out=$(as_user "$bin" --account a -- sh -c 'cat ~/.claude/who') || fail "the launch failed"
[[ $out == "account a" ]] || fail "the launch saw '$out' in ~/.claude/who, not 'account a'"

echo "== completion in a real bash with bash-completion, as that user"
# What a <Tab> after WORDS offers, through bash-completion's own loader.
complete_words() {
    # shellcheck disable=SC2016 # expanded by the inner bash
    as_user bash -c '. /usr/share/bash-completion/bash_completion
        _comp_load cf-run 2>/dev/null || __load_completion cf-run
        COMP_LINE="$*" COMP_POINT=${#COMP_LINE}; read -ra COMP_WORDS <<<"$COMP_LINE"
        [[ $COMP_LINE == *" " ]] && COMP_WORDS+=("")
        COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
        "$(complete -p cf-run | sed "s/.*-F \([^ ]*\) .*/\1/")" cf-run "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
        echo "${COMPREPLY[*]}"' _ "$@"
}
out=$(complete_words "cf-run init --sh") || fail "the bash completion failed"
[[ $out == *--shared* && $out == *--share* ]] || fail "bash completes 'cf-run init --sh' to '$out'"
out=$(complete_words "cf-run --account ") || fail "the bash completion failed"
[[ $out == "a b" ]] || fail "bash completes 'cf-run --account ' to '$out', not the accounts 'a b'"
out=$(complete_words "cf-run account remove ") || fail "the bash completion failed"
[[ $out == "a b "* ]] || fail "bash completes 'cf-run account remove ' to '$out', not the accounts first"
# (Once for each dir of PATH that has it; readline shows it once.)
out=$(complete_words "cf-run --account a -- printen" 2>/dev/null | tr ' ' '\n' | sort -u) ||
    fail "the bash completion failed"
[[ $out == printenv ]] || fail "bash completes 'cf-run --account a -- printen' to '$out', not the command 'printenv'"
out=$(complete_words "cf-run --") || fail "the bash completion failed"
[[ $out == *--account* && $out != *--handover-note* ]] || fail "bash offers '$out' for 'cf-run --': hidden options in it"
out=$(complete_words "cf-run ") || fail "the bash completion failed"
[[ $out == *doctor* && " $out " != *" tap "* ]] || fail "bash offers '$out' for 'cf-run ': the hidden tap in it"

echo "== AppArmor"
if [[ $(cat /sys/module/apparmor/parameters/enabled 2>/dev/null) == Y ]] && command -v apparmor_parser >/dev/null &&
    [[ -r /sys/kernel/security/apparmor/profiles ]]; then
    grep -q '^cf-run ' /sys/kernel/security/apparmor/profiles || fail "AppArmor runs, but the profile cf-run is not loaded"
    echo "profile cf-run loaded"
else
    echo "AppArmor does not run here: /etc/apparmor.d/cf-run installed, not loaded"
fi

echo "== privileged mode: CF_RUN_PRIVILEGED=1 dpkg -i, then an upgrade without it"
CF_RUN_PRIVILEGED=1 dpkg_i
[[ -f /etc/claude-failover/privileged ]] || fail "CF_RUN_PRIVILEGED=1 left no /etc/claude-failover/privileged"
[[ $(getcap "$bin") == *cap_sys_admin[=+]p* ]] || fail "CF_RUN_PRIVILEGED=1: /usr/bin/cf-run does not hold cap_sys_admin+p"
dpkg_i # dpkg unpacks a new file, without the capability; postinst gives it back
[[ $(getcap "$bin") == *cap_sys_admin[=+]p* ]] || fail "the upgrade lost cap_sys_admin+p despite the marker"
as_user "$bin" doctor --all >"$work/doctor.out" 2>&1 || true
grep -q '^ok    mode: privileged' "$work/doctor.out" || { cat "$work/doctor.out" >&2; fail "doctor does not pick privileged mode"; }
out=$(as_user "$bin" --account b --mode privileged -- sh -c 'ls -A ~/.claude-a | wc -l') ||
    fail "a privileged launch failed"
[[ $out == 0 ]] || fail "a privileged session sees $out entries in another account's dir"
# A local user holds the privileged binary open (its pid on stdout): the
# inode it holds must lose the capability with the package.
hold() {
    as_user sh -c "exec 9<$bin; echo \$\$; exec sleep 600" >"$work/holder" &
    until [[ -s $work/holder ]]; do sleep 0.05; done
    holder=$(cat "$work/holder")
    held=/proc/$holder/fd/9
    # Control: the held inode has the capability now.
    [[ -n $(held_caps) ]] || fail "control: the held binary has no capability"
}
# The held inode's file capabilities, as hex (getcap reads no magic link).
held_caps() {
    python3 - "$held" <<'PY'
import os, sys
try:
    print(os.getxattr(sys.argv[1], "security.capability").hex())
except OSError:
    pass
PY
}
unhold() { { kill "$holder"; wait; } 2>/dev/null; rm -f "$work/holder"; }
hold
CF_RUN_PRIVILEGED=0 dpkg_i
[[ ! -e /etc/claude-failover/privileged && -z $(getcap "$bin") ]] ||
    fail "CF_RUN_PRIVILEGED=0 left the marker or the capability"
[[ -z $(held_caps) ]] || fail "after CF_RUN_PRIVILEGED=0, a held descriptor keeps capabilities $(held_caps)"
echo "CF_RUN_PRIVILEGED=0: the binary a user held open has no capability left"
unhold
CF_RUN_PRIVILEGED=1 dpkg_i # purged below, marker and all
hold

echo "== dpkg --purge cf-run"
dpkg --purge cf-run >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg --purge cf-run failed"; }
[[ -z $(held_caps) ]] || fail "after the purge, a held descriptor keeps capabilities $(held_caps)"
echo "purge: the binary a user held open has no capability left"
unhold
userdel -r cf-pkg-check >/dev/null 2>&1 || true
while read -r path; do
    [[ -d $path || ! -e $path ]] || fail "$path is left after the purge"
done <"$work/files"
file_list >"$work/after"
if ! diff "$work/before" "$work/after" >"$work/diff"; then
    cat "$work/diff" >&2
    fail "the purge left the file list of ${watched[*]} changed (above: < before, > after)"
fi
echo "package check passed: $deb ($(du -k "$deb" | cut -f1) KiB), installed, checked and purged without a trace"
