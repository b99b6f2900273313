# Sourced by the scripts (install, package, package-check, demo, bench) for
# what they share. Each runs from the repository's root with set -euo pipefail.
#   . scripts/lib.sh

# die MESSAGE...: the message on stderr, named after the script; exit 1.
die() {
    echo "scripts/${0##*/}: $*" >&2
    exit 1
}

# need_root WHY: die unless root.
need_root() {
    [[ $(id -u) == 0 ]] || die "run as root (sudo scripts/${0##*/}): $1"
}

# apt_install PACKAGE...: install from Debian's archive, quietly (root only).
apt_install() {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

# build_static: the binary as it ships (scripts/static.sh): static, and
# linking no NSS module loader. Sets $static_bin to its path.
build_static() {
    . scripts/static.sh
    static_deps
    ship_cargo build --release --locked >&2
    static_bin=$static_dir/release/cf-run
    static_check "$static_bin"
}

# gen_docs OUTDIR: the man page cf-run.1 and the completions cf-run.bash,
# _cf-run (zsh) and cf-run.fish, from src/cli.rs (xtask/).
gen_docs() {
    cargo run --locked --quiet -p xtask -- gen "$1" ||
        die "could not generate the man page and completions (cargo run -p xtask -- gen $1)"
}

# make_user NAME [HOME]: a user with a group of its own and a home: HOME
# (which exists; given to the user, mode 755) or a new one under /home. A
# user that exists is kept as it is. Sets $user and $home.
make_user() {
    user=$1
    if ! id "$user" >/dev/null 2>&1; then
        if [[ -n ${2:-} ]]; then
            useradd --home-dir "$2" --no-create-home --user-group --shell /bin/sh "$user"
            chown "$user:" "$2"
            chmod 755 "$2"
        else
            useradd --create-home --user-group --shell /bin/sh "$user"
        fi
    fi
    home=$(getent passwd "$user" | cut -d: -f6)
    [[ -n $home ]] || die "user $user has no home in the password database"
}

# as_user COMMAND...: run as $user, with its groups and a clean environment
# (cf-run takes the home from the password database, never from $HOME).
as_user() {
    setpriv --reuid="$user" --regid="$user" --init-groups --reset-env -- "$@"
}

# make_layout SHARED NAME=DIR...: as $user, in its home, the shared dir and
# each account's dir (mode 700, made when missing), and a config naming them,
# accounts in the order given. Paths are relative to the home.
make_layout() {
    as_user sh -c '
        set -e; cd
        shared=$1; shift
        mkdir -p -m 700 "$shared" .config/claude-failover
        config=.config/claude-failover/config.toml
        printf "shared_projects = \"~/%s\"\n" "$shared" >"$config"
        for account; do
            mkdir -p -m 700 "${account#*=}"
            printf "\n[accounts.%s]\ndir = \"~/%s\"\n" "${account%%=*}" "${account#*=}" >>"$config"
        done
        chmod 600 "$config"' make_layout "$@"
}
