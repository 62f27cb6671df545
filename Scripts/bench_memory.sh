#!/usr/bin/env bash
# Peak resident memory and training throughput of `dicekit train` against the same PyTorch
# training loop (Scripts/bench_memory_torch.py with the reference U-Net of
# ../shared/reference/unet_torch.py), each under GNU time (`/usr/bin/time -v`).
#
# DiceKit: `dicekit train --data synthetic --size S --count 5B --val-fraction 0.2 --epochs 1
# --batch-size B --base 16 --depth 4 --norm none --loss dice --no-augment --threads 2`, i.e.
# STEPS = 4 Adam steps of batch B on S×S synthetic polyps, then one validation batch.
# PyTorch: 4 Adam steps of the softmax Dice loss on random S×S images, 2 threads.
# Both print max RSS (GNU time's "Maximum resident set size") and steps/s (DiceKit's epoch
# images/s ÷ B; PyTorch's loop time), alternating DiceKit and PyTorch RUNS times per size.
#
#     Scripts/bench_memory.sh [SIZES…]          default: 256 512
#     RUNS=3 BATCH=8 DICEKIT=.build/release/dicekit PYTHON=/work/refenv/bin/python Scripts/bench_memory.sh 512
#     PRECISION=bf16 Scripts/bench_memory.sh 512   # dicekit --precision bf16 against torch.autocast(bfloat16)
#
# Needs a release build (`swift build -c release --product dicekit`) and a Python with torch.
# Output: one line per run, `tool size max_rss_mb steps_per_second`, then the medians and the
# ratios (PyTorch RSS − DiceKit RSS, DiceKit steps/s ÷ PyTorch steps/s) per size.
set -euo pipefail
cd "$(dirname "$0")/.."
DICEKIT=${DICEKIT:-.build/release/dicekit}
PYTHON=${PYTHON:-/work/refenv/bin/python}
RUNS=${RUNS:-1}
BATCH=${BATCH:-8}
PRECISION=${PRECISION:-float32}
case "$PRECISION" in
float32) torch_precision=() ;;
bf16) torch_precision=(--bf16) ;;
*) echo "bench_memory.sh: PRECISION=$PRECISION; expected float32 or bf16" >&2; exit 2 ;;
esac
STEPS=4
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(256 512)
[ -x "$DICEKIT" ] || { echo "bench_memory.sh: $DICEKIT not found; build it with swift build -c release --product dicekit" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench_memory.sh: /usr/bin/time (GNU time) not found; apt-get install time" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

max_rss_mb() { awk -F': ' '/Maximum resident set size/ { printf "%.0f", $2 / 1024 }' "$1"; }

run_dicekit() {
    local size=$1 out="$work/run"
    rm -rf "$out"
    /usr/bin/time -v -o "$work/time.txt" "$DICEKIT" train --data synthetic --size "$size" \
        --count $((5 * BATCH)) --val-fraction 0.2 --epochs 1 --batch-size "$BATCH" --base 16 --depth 4 \
        --norm none --loss dice --no-augment --threads 2 --seed 0 --precision "$PRECISION" --out "$out" > /dev/null 2> "$work/err.txt" ||
        { cat "$work/err.txt" >&2; exit 1; }
    local ips
    ips=$(sed -n 's/.*"images_per_second": *\([0-9.eE+-]*\).*/\1/p' "$out/metrics.jsonl" | head -1)
    echo "dicekit $size $(max_rss_mb "$work/time.txt") $(awk -v i="$ips" -v b="$BATCH" 'BEGIN { printf "%.4f", i / b }')"
}

run_torch() {
    local size=$1
    /usr/bin/time -v -o "$work/time.txt" "$PYTHON" Scripts/bench_memory_torch.py --size "$size" \
        --batch "$BATCH" --steps $STEPS --threads 2 "${torch_precision[@]}" > "$work/torch.json" 2> "$work/err.txt" ||
        { cat "$work/err.txt" >&2; exit 1; }
    local sps
    sps=$(sed -n 's/.*"steps_per_second": *\([0-9.eE+-]*\).*/\1/p' "$work/torch.json")
    echo "pytorch $size $(max_rss_mb "$work/time.txt") $sps"
}

echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | sed "s/^ *//") (family $(grep -m1 "cpu family" /proc/cpuinfo | cut -d: -f2 | tr -d " "), model $(grep -m1 "^model\s" /proc/cpuinfo | cut -d: -f2 | tr -d " "), $(nproc) CPUs); load$(uptime | sed "s/.*load average//")"
echo "# precision $PRECISION; tool size max_rss_mb steps_per_second"
for size in "${SIZES[@]}"; do
    for _ in $(seq "$RUNS"); do
        run_dicekit "$size" | tee -a "$work/all.txt"
        run_torch "$size" | tee -a "$work/all.txt"
    done
done
echo "# medians: size dicekit_rss_mb pytorch_rss_mb dicekit_steps_s pytorch_steps_s speed_ratio"
for size in "${SIZES[@]}"; do
    median() { awk -v t="$1" -v s="$size" -v c="$2" '$1 == t && $2 == s { print $c }' "$work/all.txt" |
        sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
    dr=$(median dicekit 3) pr=$(median pytorch 3) ds=$(median dicekit 4) ps=$(median pytorch 4)
    echo "$size $dr $pr $ds $ps $(awk -v a="$ds" -v b="$ps" 'BEGIN { printf "%.2f", a / b }')"
done
