#!/usr/bin/env bash
# The accelerator part of the benchmarks (one GPU, 16 CPU cores, no network):
#   * nas: autognn with and without constrained parameter sharing, optuna (TPE) and random on cora,
#     seeds 0-2, 100 architectures each under the child protocol (200 epochs), the top 5 retrained from scratch
#     with 3 seeds each and the best mean validation accuracy selected (-> `plexus bench nas`);
#   * the fidelity rows whose models need a GPU to finish in minutes (GSM++ on TU/heterophilous sets,
#     NCN/NCNC, ARM-Net(+), DIN), each job's rows merged back with `plexus bench fidelity --merge`.
# Every job is a plain `plexus` command with its own MLflow store; jobs run in parallel under a time limit
# and write their results as they go (NAS: state.pt after every architecture; fidelity: a row after every run).
# Inputs beside the checkout: .whl/ (this project's wheel, whose entry points register the plugins:
# `pip wheel --no-deps --no-build-isolation -w .whl .`, plus mlflow-skinny, optuna and their dependencies when
# the image lacks them) and .gpu_data/data.tar.xz (the public datasets of the data mirror).
# Usage: SUITE=full|nas|gsm|seed0 [OUT=folder] bash evaluation/bench/device_suite.sh SECONDS
#   full: everything at once; nas: the 12 searches alone; gsm: GSM++ folds FOLDS and Tolokers splits SPLITS
#   (e.g. SPLITS="3 4 5"); seed0: the four controllers, seed 0, with less contention.
# Archives land in $OUT (default: a new temporary folder): nas.tar.gz (then `plexus bench nas --folder ...`),
# fid.tar.gz (then `plexus bench fidelity --merge a --merge b ...`: shards of a row join into one row).
set -u
LIMIT=${1:-470}
REPO=$(pwd)
OUTDIR=${OUT:-$(mktemp -d)}
SCRATCH=$(mktemp -d)
W="$SCRATCH/w"
mkdir -p "$W" "$SCRATCH/shared" "$OUTDIR"
PY=${PY:-python3}  # PY, NAS_BUDGET, NAS_EPOCHS, FID_SCALE, SKIP_INSTALL: for a local dry run of the plumbing
NAS_BUDGET=${NAS_BUDGET:-100}; NAS_EPOCHS=${NAS_EPOCHS:-200}; FID_SCALE=${FID_SCALE:-1}
[ -n "${SKIP_INSTALL:-}" ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
  --target "$SCRATCH/site" .whl/*.whl || exit 3
tar -C "$SCRATCH/shared" -xJf .gpu_data/data.tar.xz || exit 3
export PYTHONPATH="$REPO:$SCRATCH/site" PLEXUS_DATA_MIRROR="$SCRATCH/shared" PLEXUS_DATA="$SCRATCH/pd" PYTHONUNBUFFERED=1
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING=false
$PY -c "import torch, mlflow, optuna; print('torch', torch.__version__, torch.cuda.get_device_name(0) if torch.cuda.is_available() else \"cpu\", 'mlflow', mlflow.__version__, 'optuna', optuna.__version__)"
$PY -m plexus models list --json > "$W/models.json" 2> "$W/models.err" || { cat "$W/models.err"; exit 3; }

nas() {  # name seed plexus-nas-options...
  local d="$W/nas-$1-$2"; mkdir -p "$d"
  (cd "$d" && timeout "$LIMIT" $PY -m plexus nas --dataset cora --budget "$NAS_BUDGET" --epochs "$NAS_EPOCHS" --seed "$2" \
     --tracking-uri "sqlite:///$d/mlflow.db" --experiment plexus-nas-bench --retrain-seeds 3 --top-k 5 --json "${@:3}" \
     > result.json 2> log.txt; echo "exit $?" >> log.txt)
}
fid() {  # name configs [runs]: a shard (--runs, e.g. 0-4) when given; merge joins the shards of a row
  local d="$W/fid-$1"; mkdir -p "$d"
  (cd "$d" && timeout "$LIMIT" $PY -m plexus bench fidelity --models "$2" --seeds 3 --epochs-scale "$FID_SCALE" --out "$d/res" \
     --tracking-uri "sqlite:///$d/mlflow.db" ${3:+--runs "$3"} > log.txt 2>&1; echo "exit $?" >> log.txt)
}
T0=$(date +%s)
case "${SUITE:-full}" in
full)  # 12 searches + the GPU fidelity rows, all at once
  for s in 0 1 2; do
    nas autognn-share "$s" --controller autognn --share &
    nas autognn-noshare "$s" --controller autognn --no-share &
    nas optuna-tpe "$s" --controller optuna --sampler tpe &
    nas random "$s" --controller random &
  done
  fid ctr armnet_plus,armnet,din &
  fid link ncn,ncnc &
  fid tu gsmpp,gin,gsmpp-proteins &
  fid nci gsmpp-nci109 &
  fid het gsmpp-chameleon,gsmpp-squirrel,gsmpp-tolokers &
  ;;
nas)  # the equal-budget NAS comparison alone: 12 searches, nothing beside them
  for s in 0 1 2; do
    nas autognn-share "$s" --controller autognn --share &
    nas autognn-noshare "$s" --controller autognn --no-share &
    nas optuna-tpe "$s" --controller optuna --sampler tpe &
    nas random "$s" --controller random &
  done ;;
gsm)  # the GSM++ rows still missing, one fold/split per job, merged per row with --merge: NCI109 folds
  # FOLDS (default none), Tolokers splits SPLITS (default: the first GPU-memory/20 GB splits, 3 on an H100,
  # 6 on an H200: a full-batch GSM++ job takes 15-20 GB). Later calls: SPLITS="3 4 5" etc.
  mem=$(nvidia-smi --query-gpu=memory.total --format=csv,noheader,nounits 2>/dev/null | head -1)
  n=$(( ${mem:-81559} > 28672 ? (${mem:-81559} - 8192) / 20480 : 1 ))
  for i in ${FOLDS-}; do
    fid "nci$i" gsmpp-nci109 "$i" &
  done
  for i in ${SPLITS-$(seq -s " " 0 $(( n - 1 )))}; do
    fid "tolo$i" gsmpp-tolokers "$i" &
  done ;;
seed0)  # the four controllers at the full budget, seed 0, with less contention
  nas autognn-share 0 --controller autognn --share &
  nas autognn-noshare 0 --controller autognn --no-share &
  nas optuna-tpe 0 --controller optuna --sampler tpe &
  nas random 0 --controller random &
  fid link ncnc &
  fid tu gsmpp &;;
esac
wait
echo "all jobs ended after $(( $(date +%s) - T0 )) s"
# NAS histories survive a time limit in state.pt: export them as JSON beside result.json
$PY - "$W"/nas-* <<'PY'
import json, sys, glob, torch
for d in sys.argv[1:]:
    for p in glob.glob(f"{d}/mlruns/nas/*/state.pt"):
        st = torch.load(p, map_location="cpu", weights_only=True)
        json.dump({"history": st["history"], "parent_run_id": st["parent_run_id"]}, open(f"{d}/state.json", "w"),
                  default=str)
PY
cd "$W" && tar -czf "$OUTDIR/nas.tar.gz" nas-*/result.json nas-*/state.json nas-*/log.txt 2>/dev/null
tar -czf "$OUTDIR/fid.tar.gz" fid-*/res fid-*/log.txt 2>/dev/null
tar -czf "$OUTDIR/stores.tar.gz" fid-*/mlflow.db 2>/dev/null
ls -la "$OUTDIR"
