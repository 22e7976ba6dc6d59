#!/usr/bin/env bash
# Builds the Debian package for amd64 and arm64 into target/debian/, and smoke-tests the arm64 binary
# under qemu-user (deploy/smoke-aarch64.sh). Installs what it needs when missing (idempotent):
#   deploy/build-deb.sh                  # both architectures, the shipping profile (dist: fat LTO)
#   deploy/build-deb.sh amd64            # one architecture
#   PROFILE=release deploy/build-deb.sh  # quicker, larger: for CI and trying things out
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${PROFILE:-dist}
arches=("${@:-amd64 arm64}")
read -r -a arches <<<"${arches[*]}"

need_apt=()
command -v qemu-aarch64 >/dev/null || need_apt+=(qemu-user)
command -v aarch64-linux-gnu-gcc >/dev/null || need_apt+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi
command -v cargo-deb >/dev/null || cargo install --locked cargo-deb
rustup target list --installed | grep -qx aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu

# Debian's cross gcc links the arm64 binary and compiles ring's C and assembly.
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar

for arch in "${arches[@]}"; do
  case $arch in
    amd64) target=x86_64-unknown-linux-gnu ;;
    arm64) target=aarch64-unknown-linux-gnu ;;
    *) echo "build-deb.sh: unknown architecture $arch (amd64 or arm64)" >&2; exit 2 ;;
  esac
  echo "== edge-agent $arch ($target, profile $profile)"
  # The host's own architecture builds without --target, into target/<profile>/ like any build.
  if [ "$target" = "$(rustc -vV | sed -n 's/^host: //p')" ]; then
    target_args=(); bin="target/$profile/edge-agent"
  else
    target_args=(--target "$target"); bin="target/$target/$profile/edge-agent"
  fi
  # The profile strips the binary itself, so no cross strip is needed.
  deb=$(cargo deb --locked -p edge-agent --profile "$profile" "${target_args[@]}" --no-strip \
        --output target/debian/ 2>&1 | tee /dev/stderr | grep -E '\.deb$' | tail -n1)
  printf '%s: %s bytes; binary %s bytes\n' "$deb" "$(stat -c %s "$deb")" "$(stat -c %s "$bin")"
  if [ "$arch" = arm64 ]; then
    deploy/smoke-aarch64.sh "$bin"
  fi
done
