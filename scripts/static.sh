# Sourced by the build scripts: cargo for the binary we ship, and for the
# tests.
#
# The binary ships static-pie. On x86_64 it is linked with musl (Rust's
# x86_64-unknown-linux-musl target, which rustup adds where it is missing):
# glibc's static start probes the CPU, each CPUID a VM exit on a virtual
# machine, which cost every launch about 0.2 ms here (measured side by side).
# x86_64 keeps the seccomp filter as BPF, so cf-run links no libseccomp (a
# glibc library) there. Elsewhere, or where rustup cannot add the target,
# the binary is glibc's crt-static.
#   static_deps                  ->  $ship, $static_dir
#   ship_cargo build --release   ->  $static_dir/release/cf-run
# A static program must never load an NSS module (a static glibc one
# crashes in it: SIGSEGV in libnss_systemd for any user not in
# /etc/passwd). cf-run reads /etc/passwd itself and asks getent for the
# rest; static_check fails a glibc build that links glibc's module loader
# all the same.
#   static_check $static_dir/release/cf-run
# The tests are built for the host (glibc, static, linking libseccomp to
# check the kept filter) and run the shipped binary (CF_RUN_BIN):
#   test_cargo test
host=$(rustc -vV | sed -n 's/^host: //p')
# static_deps: libseccomp's static library where it is missing (as root),
# and the musl target; sets $ship, the target the binary is built for.
static_deps() {
    ship=$host
    static_dir=target/$ship
    local musl=x86_64-unknown-linux-musl
    if [[ $host == x86_64-unknown-linux-gnu ]]; then
        if rustup target list --installed 2>/dev/null | grep -qx $musl ||
            timeout 300 rustup target add $musl >&2; then
            ship=$musl
            static_dir=target/$ship
        else
            echo "warning: cannot add Rust's $musl target (rustup target add $musl):" \
                "cf-run is built with glibc, about 0.2 ms slower to launch" >&2
        fi
    fi
    [[ -e /usr/lib/$(gcc -print-multiarch)/libseccomp.a ]] && return
    if [[ $(id -u) != 0 ]]; then
        echo "cf-run's tests link libseccomp statically: sudo apt-get install libseccomp-dev" >&2
        return 1
    fi
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libseccomp-dev >&2
}
# On x86_64, the link is lld's (rustc's own rust-lld), which lays the
# functions a launch runs (scripts/launch.order, which
# scripts/launch-order.sh writes) side by side at the start of the code:
# the kernel maps a program's code 64 KiB at a time as each process first
# runs it, and scattered, a launch's code took 80 of those page faults, 33
# laid out (measured side by side). A name the build no longer has is
# skipped, silently. (Cargo relinks when the code changes, not when this
# list does: touch src/main.rs.) link_args are the linker's own arguments.
link_args=()
if [[ $host == x86_64-* ]]; then
    link_args=("--symbol-ordering-file=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/launch.order"
        --no-warn-symbol-ordering)
fi
ship_cargo() {
    local flags="'-C', 'target-feature=+crt-static'" pass=-Wl, arg
    if [[ $ship == x86_64-*-musl ]]; then
        # lld itself, not through cc (as rustc links the glibc target).
        flags+=", '-C', 'linker=rust-lld', '-C', 'linker-flavor=ld.lld'"
        pass=
    fi
    for arg in "${link_args[@]}"; do flags+=", '-C', 'link-arg=$pass$arg'"; done
    cargo "$1" --target "$ship" --config "target.$ship.rustflags = [$flags]" "${@:2}"
}
test_cargo() {
    LIBSECCOMP_LINK_TYPE=static LIBSECCOMP_LIB_PATH=/usr/lib/$(gcc -print-multiarch) \
        cargo "$1" --target "$host" \
        --config "target.$host.rustflags = ['-C', 'target-feature=+crt-static']" "${@:2}"
}
static_check() {
    if grep -qF 'libnss_%s.so' "$1"; then
        echo "$1 links glibc's NSS module loader (getpwuid, getgrnam, ...): a static" \
            "binary crashes in it; look users up through src/user.rs" >&2
        return 1
    fi
}
