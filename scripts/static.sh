# Sourced by the build scripts: cargo for the binary we ship, static-pie
# (glibc's crt-static). A static cf-run starts without the dynamic loader,
# which costs every launch about 0.3 ms here (loading libgcc_s and libm,
# symbol binding, and libgcc's CPU-feature probe, each CPUID a VM exit).
# The target is named so that the flag reaches cf-run, not the proc-macros.
#   static_cargo build --release   ->  $static_dir/release/cf-run
host=$(rustc -vV | sed -n 's/^host: //p')
static_dir=target/$host
static_cargo() {
    cargo "$1" --target "$host" \
        --config "target.$host.rustflags = ['-C', 'target-feature=+crt-static']" "${@:2}"
}
