#!/usr/bin/env bash
# The whole GPU check in one go, for a lent machine with no network (scripts/gpu-kit.sh builds
# the kit it carries): sets up Node, node_modules and the Vulkan loader from .gpu-kit/, then runs
# doctor, the engine's test files (the float64 kernel checks) on the GPU adapter, the matmul
# benchmark against tfjs-webgpu with a sweep of tiled-kernel tile shapes, attention, training
# steps against PyTorch CUDA fp32, and a timed quick preset. Everything goes to $OUT/log.txt, and
# one JSON object per line to $OUT/results.jsonl. Each stage has its own time limit, and all of
# them together a deadline (DEADLINE_S), so one hang cannot eat the lease.
#
#   bash scripts/gpu-run.sh           # on the GPU machine
#   bash scripts/gpu-run.sh --quick   # small sizes, for a test run on lavapipe
#   ONLY=kernels,train bash scripts/gpu-run.sh   # some stages only (a rerun after a change)
set -uo pipefail
cd "$(dirname "$0")/.."
QUICK=0
[ "${1:-}" = --quick ] && QUICK=1
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
LOG=$OUT/log.txt
RES=$OUT/results.jsonl
KIT=${GPU_KIT:-.gpu-kit}
KIT_DIR=${KIT_DIR:-/tmp/gpu-kit}
T0=$(date +%s)
DEADLINE_S=${DEADLINE_S:-420}
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
# ldconfig lives in sbin, which a stripped PATH lacks (and then every check below would fail).
export PATH=$PATH:/usr/sbin:/sbin

log() { echo "$*" | tee -a "$LOG"; }
# JSON lines the benchmarks print go to results.jsonl, tagged with their stage.
collect() { grep '^{' | sed "s/^{/{\"stage\":\"$1\",/" >>"$RES"; }

# stage NAME LIMIT_S CMD...: runs CMD with at most LIMIT_S seconds (less if the deadline is
# nearer), its output into the log and its JSON lines into results.jsonl.
stage() {
  local name=$1 limit=$2
  shift 2
  if [ -n "${ONLY:-}" ] && [[ ",$ONLY," != *",${name%%-*},"* ]]; then return; fi
  local left=$((DEADLINE_S - ($(date +%s) - T0)))
  ((left < limit)) && limit=$left
  if ((limit < 5)); then
    log "== $name: skipped, the deadline is reached"
    echo "{\"stage\":\"$name\",\"skipped\":\"deadline\"}" >>"$RES"
    return
  fi
  log "== $name (limit ${limit}s): $*"
  local s=$(date +%s.%N)
  timeout -k 5 "$limit" "$@" 2>&1 | tee -a "$LOG" "$OUT/.stage"
  local rc=${PIPESTATUS[0]}
  collect "$name" <"$OUT/.stage"
  rm -f "$OUT/.stage"
  local secs=$(awk -v a="$s" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  log "== $name: exit $rc after ${secs}s$([ "$rc" = 124 ] && echo ' (TIMED OUT)')"
  echo "{\"stage\":\"$name\",\"rc\":$rc,\"seconds\":$secs}" >>"$RES"
}

unpack() {
  if command -v xz >/dev/null; then tar -xJf "$1" -C "$2"
  else python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$1" "$2"; fi
}

# ---- setup: Node, node_modules, Vulkan -------------------------------------------------------
mkdir -p "$KIT_DIR"
[ -x "$KIT_DIR/node" ] || unpack "$KIT/node.tar.xz" "$KIT_DIR"
if [ ! -e node_modules ]; then
  unpack "$KIT/node_modules.tar.xz" "$KIT_DIR"
  ln -s "$KIT_DIR/node_modules" node_modules
fi
NODE=$KIT_DIR/node
TSX="$NODE node_modules/tsx/dist/cli.mjs"
VITEST="$NODE node_modules/vitest/vitest.mjs"
# Dawn loads libvulkan.so.1 itself; the device tool's README: unpack the loader where it is missing.
# (grep without -q: -q stops reading at the first match, ldconfig dies of SIGPIPE, and pipefail
# would call that a miss.)
if ! ldconfig -p | grep 'libvulkan.so.1' >/dev/null; then
  log "no Vulkan loader: unpacking $KIT/gl/*.deb into /"
  for f in "$KIT"/gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
NV_ICD=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$NV_ICD" ] && ! ls /usr/share/vulkan/icd.d/nvidia* /etc/vulkan/icd.d/nvidia* >/dev/null 2>&1; then
  export VK_DRIVER_FILES=$NV_ICD VK_ICD_FILENAMES=$NV_ICD
  export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
  log "VK_DRIVER_FILES=$NV_ICD"
fi
log "setup done after $(($(date +%s) - T0))s; node $($NODE --version); quick=$QUICK"

# ---- sizes ----------------------------------------------------------------------------------
if ((QUICK)); then
  TESTS=${TESTS:-test/engine/softmax.test.ts test/engine/reduce.test.ts}
  MM_SIZES=128,256; MM_SECONDS=0.2; TILES=16,16,8,8,16,1/8,8,4,4,16
  ATT_SIZES=2,2,64,32; ATT_ITERS=2
  TRAIN="--presets s --batch 2 --length 16 --iters 1 --rounds 1"
  GRID_PRESET=tiny; JOBS=2; PEER_DEVICE=cpu
else
  TESTS=${TESTS:-test/engine test/training test/model/t5.test.ts}
  MM_SIZES=${MM_SIZES:-1024,2048,4096}; MM_SECONDS=0.25
  # WG_M,WG_N,TM,TN,BK[,split]: the 64 x 64 default with shallower slices, 128 x 128 tiles of
  # 8 x 8 per invocation with k slices of 8, 16 and 32 (with and without interleaved column
  # groups), and the rectangular 64 x 128 / 128 x 64 in between.
  TILES=${TILES:-16,16,4,4,16/16,16,4,4,8/16,16,8,8,8/16,16,8,8,8,1/16,16,8,8,16/16,16,8,8,16,1/16,16,8,8,32,1/16,16,4,8,16,1/16,16,8,4,16/8,16,8,8,16,1/16,8,8,8,16,1/8,8,8,8,16,1}
  ATT_SIZES=8,8,512,64/8,8,1024,64/4,16,2048,64; ATT_ITERS=10
  TRAIN=${TRAIN:-"--presets s,m,t5-small --batch 8 --length 128 --iters 5 --rounds 3"}
  GRID_PRESET=quick; JOBS=8; PEER_DEVICE=cuda
fi

# ---- stages, most wanted first ----------------------------------------------------------------
stage env 20 bash -c 'uname -a; nproc; (nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv || echo "no nvidia-smi"); ldconfig -p | grep -E "libvulkan|libGLX_nvidia" ; python3 -c "import torch; print(\"torch\", torch.__version__, torch.cuda.is_available() and torch.cuda.get_device_name(0))" 2>&1 | tail -1'
stage doctor 30 $TSX scripts/doctor.ts
# shellcheck disable=SC2086
stage kernels 120 $VITEST run $TESTS --exclude test/engine/deno.test.ts --maxWorkers 8 --reporter default --reporter json --outputFile.json "$OUT/vitest.json"
stage matmul-sweep 170 $TSX bench/run.ts matmul --json --check --variants --sizes "$MM_SIZES" --seconds "$MM_SECONDS" --tiles "$TILES"
# shellcheck disable=SC2086
# PyTorch CUDA fp32 runs the same steps, alternated with this engine's in one process.
# shellcheck disable=SC2086
stage train 150 $TSX bench/run.ts train --json $TRAIN --peer-device "$PEER_DEVICE"
stage attention 60 $TSX bench/run.ts attention --json --iters "$ATT_ITERS" --sizes "$ATT_SIZES"
((QUICK)) || stage matmul-shapes 45 $TSX bench/run.ts matmul --json --check --seconds 0.25
stage "experiment-$GRID_PRESET" 120 $TSX experiments/run.ts explanations --preset "$GRID_PRESET" --jobs "$JOBS" --out /tmp/gpu-experiment
find /tmp/gpu-experiment -name table.md -exec cp {} "$OUT/experiment-table.md" \; 2>/dev/null

log "== done after $(($(date +%s) - T0))s"
# The figures last, where the device tool's output tail shows them.
grep -E '"(gflops|seconds|tokensPerSecond|forwardMs|rc)"' "$RES" | grep -v '"rc":0' | cut -c1-220
