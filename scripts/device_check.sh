#!/usr/bin/env bash
# One-shot check of rsim on a GPU box, sized to end within 8 minutes on one H100 (every step
# has its own time budget, enforced with `timeout`; their sum is 460 s). Writes to OUT:
#   device_check.log  every step's output, in order      summary.txt  step, exit code, seconds
#   bench.csv, bench.md  scripts/bench.py: both samplers, d in {40, 100, 512, 1024}, blocks at
#                     1/4, 1 and 4 times the rule's
#   results.tar.gz    summaries, reports, figures and status of the sweeps (no Parquet)
# Steps: the banner and nvidia-smi; the memory preflight on the card (width 60000 and 80000
# cells, a forced small limit, the estimate against XLA's buffers); the benchmark;
# +sweep=corollary1 at 10^4 samples per point; the heatmap at the official size with 1000
# samples per cell; one training job of the official Figure 9 (H = 0.5, L = 1000, 10 x 10
# betas x lrs, 10 epochs); the device-independent tests (engine, projection, memory, device).
#
#   scripts/device_check.sh --fetch-wheels    # here: hydra-core, omegaconf, antlr4 into .whl/
#   scripts/device_check.sh [OUT]             # there: OUT defaults to $OUT, else ./device-check
#   scripts/device_check.sh --dry-run [OUT]   # every step at a tiny size (CPU, about a minute)
#   STEPS=banner,bench scripts/device_check.sh  # only these steps
#
# On the device machine (its image has jax with CUDA, optax, pandas, pyarrow, pytest, but not
# Hydra): run(command="bash scripts/device_check.sh", carry=[".whl"], timeout_s=540). The
# wheels are installed into a temporary folder only when Hydra is missing; nothing else is.
set -u

DRY=0
case "${1:-}" in
--fetch-wheels)
    mkdir -p .whl
    "${PYTHON:-python3}" -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform any -d .whl hydra-core==1.3.8 omegaconf==2.3.1 &&
        "${PYTHON:-python3}" -m pip wheel --no-deps -w .whl antlr4-python3-runtime==4.9.3
    exit $?
    ;;
--dry-run)
    DRY=1
    shift
    ;;
esac

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT_DIR=${1:-${OUT:-$ROOT/device-check}}
mkdir -p "$OUT_DIR"
OUT_DIR=$(cd "$OUT_DIR" && pwd)
WORK=$(mktemp -d)
LOG=$OUT_DIR/device_check.log
SUMMARY=$OUT_DIR/summary.txt
PY=${PYTHON:-python3}
cd "$ROOT" || exit 1
export PYTHONPATH=$ROOT${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
export XLA_PYTHON_CLIENT_PREALLOCATE=false  # test workers and steps share the card
: >"$LOG"
: >"$SUMMARY"

if ! "$PY" -c "import hydra, omegaconf" 2>/dev/null; then
    if ls .whl/*.whl >/dev/null 2>&1; then
        "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
            --target "$WORK/site" .whl/*.whl >>"$LOG" 2>&1
        export PYTHONPATH=$PYTHONPATH:$WORK/site
    else
        echo "device_check: Hydra is missing and .whl/ holds no wheels (--fetch-wheels)" | tee -a "$LOG"
    fi
fi

# step NAME BUDGET_S COMMAND...: run with a time limit, log its output, record rc and seconds.
step() {
    local name=$1 budget=$2
    shift 2
    if [ -n "${STEPS:-}" ] && [[ ",$STEPS," != *",$name,"* ]]; then return; fi
    echo "=== $name (budget ${budget} s): $*" >>"$LOG"
    local start=$SECONDS
    timeout -k 5 "$budget" "$@" >>"$LOG" 2>&1
    local rc=$?
    local seconds=$((SECONDS - start))
    [ "$rc" = 124 ] && echo "=== $name: stopped at its budget" >>"$LOG"
    printf '%-14s rc=%-4s %4d s of %4d s\n' "$name" "$rc" "$seconds" "$budget" | tee -a "$SUMMARY"
}

RESULTS=$WORK/results
RUN=(-m rsim "output=$RESULTS" progress=false)
if [ "$DRY" = 1 ]; then
    CELL=(samples=4 width=4 n_in=3)
    WIDE=(width=64 depth=10 samples=1)
    BENCH=(--widths 8 --depth 10 --numbers 1e4 --repeats 1 --block-factors 1 2)
    COROLLARY=("${CELL[@]}" depth=8,16)
    HEATMAP=("${CELL[@]}" depth=16 "betas=[0.3,0.7]" hurst=0.3,0.7)
    TRAINING=(width=4 epochs=1 batch_size=32 train_limit=64 "lrs=[0.01,0.1]" depth=4 "betas=[0.5]")
    TESTS=(--collect-only)
    XLA_CASES="uniform"
else
    CELL=()
    WIDE=(width=60000 depth=10 samples=1)
    BENCH=(--widths 40 100 512 1024 --numbers 5e8 --repeats 2 --block-factors 0.25 1 4)
    COROLLARY=(samples=10000)
    HEATMAP=(samples=1000)
    TRAINING=(depth=1000 epochs=10
        "betas=[0.1,0.18889,0.27778,0.36667,0.45556,0.54444,0.63333,0.72222,0.81111,0.9]")
    TESTS=(-x -n 4)
    "$PY" -c "import xdist" 2>/dev/null || TESTS=(-x)
    XLA_CASES="xla"
fi

step banner 20 bash -c "nvidia-smi || true; $PY -c 'from rsim import device; \
print(\"rsim:\", device.banner()); print(device.cuda_warning() or \"\"); \
print(device.memory_limit())'"
# The preflight on the card: the first cell may run or be refused, the second must be
# refused, the third is refused by a forced limit; none may die of RESOURCE_EXHAUSTED.
step preflight 70 bash -c "$PY ${RUN[*]} name=wide ${WIDE[*]} figures=false; \
$PY ${RUN[*]} name=wider ${WIDE[*]/width=*/width=80000} figures=false; \
RSIM_MEMORY_LIMIT=1M $PY ${RUN[*]} name=limited width=512 depth=10 samples=1; \
$PY -m pytest -q -p no:cacheprovider -s -m 'slow or not slow' -k '$XLA_CASES' tests/test_memory.py"
step bench 130 "$PY" scripts/bench.py --models res3 "${BENCH[@]}" --output "$WORK/bench"
step corollary1 60 "$PY" "${RUN[@]}" +sweep=corollary1 "${COROLLARY[@]}"
step heatmap 60 "$PY" "${RUN[@]}" +sweep=heatmap "${HEATMAP[@]}"
step training 60 "$PY" "${RUN[@]}" +sweep=training hurst=0.5 "${TRAINING[@]}"
step status 10 bash -c "for sweep in corollary1 heatmap training; do \
$PY -m rsim.status $RESULTS/\$sweep; done"
step tests 50 "$PY" -m pytest -q -p no:cacheprovider "${TESTS[@]}" tests/test_engine.py \
    tests/test_projection.py tests/test_memory.py tests/test_device.py

cp "$WORK"/bench/bench.csv "$WORK"/bench/bench.md "$OUT_DIR"/ 2>/dev/null
mkdir -p "$RESULTS"
(cd "$WORK" && find results -type f \( -name '*.csv' -o -name '*.md' -o -name '*.png' \
    -o -name '*.json' \) -not -path '*/.hydra/*' | tar czf "$OUT_DIR/results.tar.gz" -T -)
rm -rf "$WORK"
echo "device_check: done; $OUT_DIR holds $(ls "$OUT_DIR" | tr '\n' ' ')" | tee -a "$LOG"
