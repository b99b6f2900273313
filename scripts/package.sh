#!/usr/bin/env bash
# Builds the Debian package, with cargo-deb ([package.metadata.deb] in
# Cargo.toml): the static binary as scripts/static.sh builds and checks it,
# the man page and completions from xtask, SECURITY.md, README.md, the AppArmor
# profile, and the maintainer scripts in packaging/debian/. Prints the path of
# the .deb (target/debian/cf-run_VERSION-1_ARCH.deb) on stdout, all else on stderr.
#   scripts/package.sh
# Installs cargo-deb (the pinned version) when it is missing. Then:
#   sudo dpkg -i target/debian/cf-run_*.deb
#   sudo CF_RUN_PRIVILEGED=1 dpkg -i target/debian/cf-run_*.deb   # privileged mode
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/lib.sh

cargo_deb_version=3.8.0

command -v cargo >/dev/null || die "needs a Rust toolchain (1.85 or newer, from rustup)"
command -v dpkg >/dev/null || die "builds a Debian package: needs dpkg (a Debian or Ubuntu host)"
if [[ $(cargo deb --version 2>/dev/null) != "cargo-deb $cargo_deb_version" ]]; then
    echo "installing cargo-deb $cargo_deb_version" >&2
    cargo install cargo-deb --version "$cargo_deb_version" --locked --quiet ||
        die "could not install cargo-deb $cargo_deb_version (cargo install cargo-deb --version $cargo_deb_version --locked)"
fi

build_static
rm -rf target/gen
gen_docs target/gen
# --no-build: the binary is the static one above (cargo-deb's target/release/
# is target/$ship/release/ with --target); --no-strip: exactly that binary,
# already stripped by the release profile.
deb=$(cargo deb --locked --no-build --no-strip --target "$ship" --output target/debian/ -p cf-run) ||
    die "cargo deb failed (see above)"
deb=$(tail -n 1 <<<"$deb")
[[ -f $deb ]] || die "cargo deb did not print the package's path (it printed: $deb)"
echo "built $deb ($(du -k "$deb" | cut -f1) KiB)" >&2
echo "$deb"
