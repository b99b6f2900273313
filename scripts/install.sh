#!/usr/bin/env bash
# Builds cf-run and installs it, with its man page and bash, zsh and fish
# completions: as root to /usr/local/bin (every user's), otherwise to
# ~/.local/bin (yours); the man page and completions go under the share/ beside
# that bin/ (/usr/local/share, ~/.local/share), where man and the shells look.
#   scripts/install.sh [--privileged] [--apparmor] [--bindir DIR] [--uninstall]
#   --privileged  give the binary cap_sys_admin+p, for privileged mode (root only)
#   --apparmor    load packaging/apparmor/cf-run, for Ubuntu hosts that restrict
#                 unprivileged user namespaces (root only, /usr/local/bin only)
#   --bindir DIR  install there instead
#   --uninstall   remove what an install to that bindir put there (and, as
#                 root, unload and remove the AppArmor profile it loaded)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/lib.sh

privileged='' apparmor='' bindir='' uninstall=''
while (($#)); do
    case $1 in
        --privileged) privileged=1 ;;
        --apparmor) apparmor=1 ;;
        --bindir) bindir=${2:?--bindir needs a directory}; shift ;;
        --uninstall) uninstall=1 ;;
        -h | --help) sed -n '2,13s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
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
bindir=${bindir%/}
[[ -z $uninstall || -z $privileged$apparmor ]] || die "--uninstall takes no other option than --bindir"

# Where man and the shells look, under the prefix of bindir (/usr/local,
# ~/.local): zsh's Debian fpath has /usr/share/zsh/vendor-completions and
# PREFIX/share/zsh/site-functions.
share=$(dirname "$bindir")/share
zsh_dir=$share/zsh/site-functions
[[ $share != /usr/share ]] || zsh_dir=$share/zsh/vendor-completions
man_page=$share/man/man1/cf-run.1.gz
bash_completion=$share/bash-completion/completions/cf-run
zsh_completion=$zsh_dir/_cf-run
fish_completion=$share/fish/vendor_completions.d/cf-run.fish
installed=("$bindir/cf-run" "$man_page" "$bash_completion" "$zsh_completion" "$fish_completion")

if [[ $bindir == /usr/bin ]] && dpkg -S /usr/bin/cf-run >/dev/null 2>&1; then
    die "/usr/bin/cf-run is the Debian package's: upgrade it with dpkg -i, or remove it with dpkg --purge cf-run"
fi
if [[ -n $uninstall ]]; then
    for file in "${installed[@]}"; do
        [[ ! -e $file ]] || { rm -f "$file" && echo "removed $file"; }
    done
    if [[ -n $root && -e /etc/apparmor.d/cf-run ]] && ! dpkg -S /etc/apparmor.d/cf-run >/dev/null 2>&1; then
        if command -v apparmor_parser >/dev/null && grep -qs '^cf-run ' /sys/kernel/security/apparmor/profiles; then
            apparmor_parser -R /etc/apparmor.d/cf-run
        fi
        rm -f /etc/apparmor.d/cf-run
        echo "removed /etc/apparmor.d/cf-run"
    fi
    exit 0
fi
command -v cargo >/dev/null || die "needs a Rust toolchain (1.85 or newer, from rustup)"

build_static
docs=$(mktemp -d)
trap 'rm -rf "$docs"' EXIT
gen_docs "$docs"
install -d "$bindir"
install -m 755 "$static_bin" "$bindir/cf-run"
echo "installed $bindir/cf-run ($("$bindir/cf-run" --version))"
gzip -9n "$docs/cf-run.1"
install -D -m 644 "$docs/cf-run.1.gz" "$man_page"
install -D -m 644 "$docs/cf-run.bash" "$bash_completion"
install -D -m 644 "$docs/_cf-run" "$zsh_completion"
install -D -m 644 "$docs/cf-run.fish" "$fish_completion"
echo "installed $man_page and the completions $bash_completion, $zsh_completion, $fish_completion"

if [[ -n $privileged ]]; then
    command -v setcap >/dev/null || apt_install libcap2-bin
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
# The package and this script are alternatives: two copies would drift apart.
if [[ $bindir != /usr/bin ]] && dpkg -S /usr/bin/cf-run >/dev/null 2>&1; then
    echo "note: the cf-run package is installed too (/usr/bin/cf-run); $bindir/cf-run comes first on PATH."
    echo "      keep one: sudo dpkg --purge cf-run, or sudo scripts/install.sh --uninstall"
fi
if [[ $zsh_dir != /usr/local/share/zsh/site-functions && $zsh_dir != /usr/share/zsh/vendor-completions ]]; then
    echo "note: for zsh completion, put $zsh_dir on your fpath before compinit (fpath=($zsh_dir \$fpath))"
fi
echo "next: cf-run init --shared ~/.claude-shared/projects --account NAME=~/.claude-NAME ..., then cf-run doctor"
