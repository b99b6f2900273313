# Sourced by the build scripts: cargo for the binary we ship, static-pie
# (glibc's crt-static). A static cf-run starts without the dynamic loader,
# which costs every launch about 0.3 ms here (loading libgcc_s and libm,
# symbol binding, and libgcc's CPU-feature probe, each CPUID a VM exit).
# The target is named so that the flag reaches cf-run, not the proc-macros.
#   static_cargo build --release   ->  $static_dir/release/cf-run
# A static glibc program must never load an NSS module: the module pulls in
# the shared libc beside the static one, and the lookup crashes (SIGSEGV in
# libnss_systemd for any user not in /etc/passwd). cf-run reads /etc/passwd
# itself and asks getent for the rest; static_check fails a build that links
# glibc's module loader all the same.
#   static_check $static_dir/release/cf-run
host=$(rustc -vV | sed -n 's/^host: //p')
static_dir=target/$host
# libseccomp is linked in whole where it is used: by the test that rebuilds
# the session's seccomp filter (kept as a BPF program on x86_64 and aarch64)
# and, on other arches, by cf-run itself. static_deps installs its static
# library where it is missing (as root).
static_deps() {
    [[ -e /usr/lib/$(gcc -print-multiarch)/libseccomp.a ]] && return
    if [[ $(id -u) != 0 ]]; then
        echo "cf-run links libseccomp statically: sudo apt-get install libseccomp-dev" >&2
        return 1
    fi
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libseccomp-dev >&2
}
# On x86_64, rustc links with its own lld, which lays the functions a launch
# runs (scripts/launch.order, which scripts/launch-order.sh writes) side by
# side at the start of the code: the kernel maps a program's code 64 KiB at
# a time as each process first runs it, and scattered, a launch's code took
# 80 of those page faults, 33 laid out (measured side by side). A name the
# build no longer has is skipped, silently. (Cargo relinks when the code
# changes, not when this list does: touch src/main.rs.)
static_link=
if [[ $host == x86_64-* ]]; then
    order=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/launch.order
    static_link=", '-C', 'link-arg=-Wl,--symbol-ordering-file=$order', '-C', 'link-arg=-Wl,--no-warn-symbol-ordering'"
fi
static_cargo() {
    LIBSECCOMP_LINK_TYPE=static LIBSECCOMP_LIB_PATH=/usr/lib/$(gcc -print-multiarch) \
        cargo "$1" --target "$host" \
        --config "target.$host.rustflags = ['-C', 'target-feature=+crt-static'$static_link]" "${@:2}"
}
static_check() {
    if grep -qF 'libnss_%s.so' "$1"; then
        echo "$1 links glibc's NSS module loader (getpwuid, getgrnam, ...): a static" \
            "binary crashes in it; look users up through src/user.rs" >&2
        return 1
    fi
}
