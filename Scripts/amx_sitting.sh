#!/usr/bin/env bash
# What the AMX tile kernels still lack, measured in one command on the first machine whose CPU
# exposes AMX (`lscpu` lists amx_tile and amx_bf16): the tile unit's self-check, the hardware
# tests that skip elsewhere, the short training run in both precisions, the tiles against the
# dot products on the same CPU, and DiceKit's bf16 against PyTorch's autocast
# (Docs/MixedPrecision.md, "AMX tiles"). Run by hand, never by CI.
#
#     Scripts/amx_sitting.sh                          # every step; about 30 minutes on 2 cores
#     OUT=/tmp/amx PYTHON=/work/refenv/bin/python Scripts/amx_sitting.sh
#     SKIP_TORCH=1 Scripts/amx_sitting.sh             # without the PyTorch sitting (step 7)
#
# Steps, each logged to OUT/<step>.log (default OUT: /tmp/dicekit-amx-sitting), then a summary:
#   1. the CPU: vendor, family, model, flags; stops with exit status 2 when amx_tile or
#      amx_bf16 is missing (ALLOW_NO_AMX=1 runs the rest anyway, to try the script elsewhere)
#   2. release builds of dicekit and dicekit-bench
#   3. `dicekit check`: the bfloat16 level, the arithmetic in use and the tile self-check
#   4. `swift test --filter 'AMXTileKernelTests|AMXTrapEmulationTests'`: on AMX its three
#      hardware tests run instead of skipping (tile unit against Double and the model, the
#      self-check, the AVX512-BF16 level forced on an AMX CPU)
#   5. the short training run of Docs/MixedPrecision.md in float32 and bf16: final validation
#      Dice (foreground) of each and their difference (the issue's bound: 0.01)
#   6. every `_bf16` key with the automatic arithmetic against `DICEKIT_BF16_ARITHMETIC=dot`,
#      alternated three times: the tiles' speed over the dot products' on this CPU
#   7. the U-Net keys against ../shared/reference/bench_torch.py (PyTorch float32 and autocast),
#      alternated three times, with sgemm as the machine's baseline; the 3-D U-Net keys against
#      Scripts/bench_unet3d_torch.py (the same network in PyTorch, float32 and autocast) likewise
#   8. a perf profile of base-32 bf16 training steps: which kernels and copies take their time
# Step 3 also reads the tile unit's measured rate (tdpbf16ps in the kernels' 2 × 2 blocks), and
# step 6 gives each convolution's forward and weight-gradient figures as a share of it, each
# up-sampling's forward pass (scattered stores) on the tiles against the dot products, and the
# kernels alone (`bf16_forward_kernel_rates`: one sample in cache, one thread) on each.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/dicekit-amx-sitting}
PYTHON=${PYTHON:-/work/refenv/bin/python}
ALLOW_NO_AMX=${ALLOW_NO_AMX:-0}
SKIP_TORCH=${SKIP_TORCH:-0}
mkdir -p "$OUT"
summary=()
note() { summary+=("$1"); echo "amx_sitting: $1" >&2; }

# 1. The CPU.
flags=$(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2)
vendor=$(grep -m1 '^vendor_id' /proc/cpuinfo | cut -d: -f2 | xargs)
family=$(grep -m1 '^cpu family' /proc/cpuinfo | cut -d: -f2 | xargs)
model=$(grep -m1 '^model[[:space:]]*:' /proc/cpuinfo | cut -d: -f2 | xargs)
name=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2 | xargs)
wanted=$(for f in avx512f avx512_bf16 amx_tile amx_bf16 amx_int8; do
    if [[ " $flags " == *" $f "* ]]; then printf '%s ' "$f"; fi
done)
{ echo "$name ($vendor family $family model $model), $(nproc) logical CPUs"; echo "flags of interest: $wanted"; } |
    tee "$OUT/1-cpu.log" >&2
note "CPU: $name ($vendor family $family model $model); $wanted"
if [[ " $flags " != *" amx_tile "* || " $flags " != *" amx_bf16 "* ]]; then
    if [[ "$ALLOW_NO_AMX" != 1 ]]; then
        echo "amx_sitting: this CPU lists no amx_tile/amx_bf16 flag; expected an AMX CPU (ALLOW_NO_AMX=1 runs the steps anyway)" >&2
        exit 2
    fi
    note "no AMX on this CPU: the steps below run without the tile unit"
fi

# 2. Release builds.
swift build -c release --product dicekit >"$OUT/2-build.log" 2>&1
swift build -c release --product dicekit-bench >>"$OUT/2-build.log" 2>&1
DICEKIT=.build/release/dicekit
BENCH=.build/release/dicekit-bench

# 3. dicekit check.
"$DICEKIT" check >"$OUT/3-check.json" 2>"$OUT/3-check.log"
check_field() { sed -n "s/.*\"$1\": \"\\([^\"]*\\)\".*/\\1/p" "$OUT/3-check.json"; }
check_number() { sed -n "s/.*\"$1\": \\([0-9.eE+-]*\\).*/\\1/p" "$OUT/3-check.json" | head -1; }
note "dicekit check: bf16 level $(check_field bf16_level), arithmetic $(check_field bf16_arithmetic), AMX self-check: $(check_field amx_self_check)"
tile_rate=$(check_number amx_tile_multiply_adds_per_ns)
# The tile unit's ceiling for the bench's threads (one per logical CPU): 2 FLOP per multiply-add.
tile_peak=$(awk -v t="${tile_rate:-0}" -v n="$(nproc)" 'BEGIN { printf "%.0f", 2 * t * n }')
if [[ -n "$tile_rate" ]]; then
    note "tile products: $tile_rate multiply-adds/ns per core, a ceiling of $tile_peak GFLOP/s on $(nproc) threads"
else
    note "tile products: not measured (no tile unit granted to this process)"
fi

# 4. The AMX tests.
if swift test --filter 'AMXTileKernelTests|AMXTrapEmulationTests' >"$OUT/4-tests.log" 2>&1; then result=passed; else result=FAILED; fi
skipped=$(grep -c "' skipped" "$OUT/4-tests.log" || true)
note "AMX tests: $result ($(grep -o 'Executed [0-9]* tests, with [^(]*failures' "$OUT/4-tests.log" | tail -1); $skipped hardware tests skipped)"

# 5. The short training run in each precision.
declare -A dice
for precision in float32 bf16; do
    "$DICEKIT" train --data synthetic --count 160 --size 64 --epochs 8 --base 16 --depth 3 --seed 1 \
        --precision "$precision" --out "$OUT/5-run-$precision" >"$OUT/5-train-$precision.log" 2>&1
    dice[$precision]=$(sed -n 's/.*"final_val_dice_foreground": *\([0-9.eE+-]*\).*/\1/p' \
        "$OUT/5-run-$precision/summary.json" | head -1)
done
note "short run, final validation Dice (foreground): float32 ${dice[float32]}, bf16 ${dice[bf16]}, difference $(
    awk -v a="${dice[float32]}" -v b="${dice[bf16]}" 'BEGIN { d = a - b; if (d < 0) d = -d; printf "%.4f", d }')"

# 6. The automatic arithmetic (tiles on AMX) against the dot products, every _bf16 key.
# The table of an alternated bench run: its lines after the rounds' own output.
alternated() { sed -n '/alternated runs each/,$p' "$1"; }
"$BENCH" --filter _bf16 --alternate 3 \
    --reference "DICEKIT_BF16_ARITHMETIC=dot $BENCH --filter _bf16 --json | tail -1" >"$OUT/6-tiles-vs-dot.log" 2>&1
note "automatic arithmetic against the dot products (medians, their speed ratio, best runs' ratio), every key in $OUT/6-tiles-vs-dot.log:"
while read -r key ours _ theirs _ ratio _ best; do
    note "  $key: $ours against $theirs, $ratio (best runs $best)"
done < <(alternated "$OUT/6-tiles-vs-dot.log" | grep -E '^unet(3d)?_.*_bf16_ms ')
note "the convolutions' forward passes and weight gradients (GFLOP/s, median) against the tile ceiling:"
while read -r key ours _; do
    note "  $key: $ours, $(awk -v a="$ours" -v p="$tile_peak" 'BEGIN { if (p > 0) printf "%.0f %%", 100 * a / p; else printf "no ceiling" }')"
done < <(alternated "$OUT/6-tiles-vs-dot.log" | grep -E '^conv3x3_.*_(fwd|wgrad)_bf16_gflops ')
note "the up-samplings' forward passes (their scattered stores), tiles against the dot products (GFLOP/s, medians):"
while read -r key ours _ theirs _ ratio _; do
    note "  $key: $ours against $theirs, $ratio"
done < <(alternated "$OUT/6-tiles-vs-dot.log" | grep -E '^upconv.*_bf16_fwd_gflops ')

# The kernels alone (one sample in cache, one thread): the forward pass on the tiles and on the
# dot products, the dot products' weight gradient.
for arithmetic in auto dot; do
    if [[ "$arithmetic" == dot ]]; then
        DICEKIT_BF16_ARITHMETIC=dot "$BENCH" --filter bf16_forward_kernel_rates >"$OUT/6-kernel-$arithmetic.log" 2>&1
    else
        "$BENCH" --filter bf16_forward_kernel_rates >"$OUT/6-kernel-$arithmetic.log" 2>&1
    fi
    note "the kernels alone, $arithmetic arithmetic (multiply-adds/ns, share of its instruction's rate):"
    while read -r line; do note "  $line"; done < <(grep -E '^  bf16_(forward|wgrad)_kernel_' "$OUT/6-kernel-$arithmetic.log")
done

# 7. Against PyTorch's float32 and autocast.
if [[ "$SKIP_TORCH" == 1 ]]; then
    note "PyTorch sitting skipped (SKIP_TORCH=1)"
elif [[ ! -x "$PYTHON" || ! -f ../shared/reference/bench_torch.py ]]; then
    note "PyTorch sitting skipped: no $PYTHON or ../shared/reference/bench_torch.py"
else
    "$BENCH" --filter 'unet_b|sgemm' --alternate 3 --reference \
        "cd ../shared && OMP_NUM_THREADS=2 OMP_WAIT_POLICY=passive $PYTHON reference/bench_torch.py" \
        >"$OUT/7-torch.log" 2>&1
    note "against PyTorch: $OUT/7-torch.log"
    grep -E '^(sgemm|unet_b)' "$OUT/7-torch.log" | tail -9 >&2 || true
    "$BENCH" --filter unet3d --alternate 3 --reference \
        "cd Scripts && OMP_NUM_THREADS=2 OMP_WAIT_POLICY=passive $PYTHON bench_unet3d_torch.py" \
        >"$OUT/7-torch-3d.log" 2>&1
    note "3-D against PyTorch: $OUT/7-torch-3d.log"
    grep -E '^unet3d' "$OUT/7-torch-3d.log" | tail -4 >&2 || true
fi

# 8. Where the base-32 bf16 step's time goes: the functions above 1 % of a perf profile of a
# short training run (the reference U-Net: no normalisation; not the bench, whose baselines,
# sgemm among them, would take a sixth of the samples).
if ! command -v perf >/dev/null 2>&1; then
    note "no perf on this machine: no profile of the step (apt-get install linux-perf)"
elif ! perf record -g -o "$OUT/8-perf.data" "$DICEKIT" train --precision bf16 --norm none --base 32 --size 128 \
    --count 80 --batch-size 8 --epochs 2 --val-fraction 0.1 --no-augment --out "$OUT/8-run" >"$OUT/8-profile.log" 2>&1; then
    note "perf record failed (perf_event_paranoid?): $OUT/8-profile.log"
else
    perf report -i "$OUT/8-perf.data" --no-children --percent-limit 1 --stdio 2>/dev/null |
        grep -E '^ +[0-9.]+%' >"$OUT/8-profile.txt" || true
    note "base-32 bf16 step, functions above 1 % of the samples ($OUT/8-profile.txt):"
    while read -r line; do note "  $line"; done < <(head -12 "$OUT/8-profile.txt")
fi

printf '%s\n' "${summary[@]}" >"$OUT/summary.txt"
echo "amx_sitting: summary in $OUT/summary.txt" >&2
