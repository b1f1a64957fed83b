#!/usr/bin/env bash
# GPU parity and error checks for --target=cuda, in two halves so that the
# compiler (which needs MLIR, not a GPU) and the executables (which need a
# GPU, not MLIR) can run on different machines:
#
#   scripts/gpu-check.sh build DIR GOLDEN   compile the executables into DIR
#   scripts/gpu-check.sh run   DIR GOLDEN   run them on the GPU, check parity
#   scripts/gpu-check.sh all   DIR GOLDEN   both (a machine with both)
#
# GOLDEN holds cmt-{micro,ti-160}.{weights,io}.safetensors and cmt-micro.onnx. Parity: logits and
# every activation against the authors' float64 results, relative error
# within 1e-4 (fp32), 5e-3 (tf32), 2e-2 (bf16: the executable's bf16-storage
# forward). Exits non-zero on any failure.
set -euo pipefail
mode=$1 dir=$2 golden=$3
root="$(cd "$(dirname "$0")/.." && pwd)"
compile="${CMT_COMPILE:-$root/build/bin/cmt-compile}"
python="${PYTHON:-python3}"
mkdir -p "$dir"

if [[ $mode == build || $mode == all ]]; then
  "$compile" "$root/models/cmt-micro.mlir" --target=cuda --batch=4 --activations -o "$dir/micro4"
  "$compile" "$root/models/cmt-ti.mlir" --target=cuda --batch=2 --activations -o "$dir/ti2"
  # The other two ways in: a checkpoint (configuration inferred) and an ONNX
  # export (weights embedded in the executable).
  "$compile" "$golden/cmt-micro.weights.safetensors" --target=cuda --batch=4 -o "$dir/micro4-ckpt"
  "$compile" "$golden/cmt-micro.onnx" --target=cuda --batch=4 -o "$dir/micro4-onnx"
  # Too big for any one GPU (~170 GB of intermediates): must fail cleanly.
  "$compile" "$root/models/cmt-ti.mlir" --target=cuda --batch=32768 -o "$dir/ti-huge"
  "$compile" "$root/models/cmt-micro.mlir" --target=cuda --gpu-arch=sm_80 -o "$dir/micro-sm80"
  # One storage alone: bf16 (its default precision; fp32 refused), and f32
  # (whose --precision bf16 is cuBLAS's bf16 math on f32 activations).
  "$compile" "$root/models/cmt-micro.mlir" --target=cuda --batch=4 --storage=bf16 -o "$dir/micro4-bf16"
  "$compile" "$root/models/cmt-ti.mlir" --target=cuda --batch=2 --storage=f32 -o "$dir/ti2-f32"
  # The training step (issue 5's GPU half).
  "$compile" "$golden/cmt-micro.weights.safetensors" --target=cuda --mode=train --head-dropout=0 --batch=4 \
    -o "$dir/micro4-train"
  "$compile" "$golden/cmt-micro.weights.safetensors" --target=cuda --mode=train --head-dropout=0 --batch=4 \
    --storage=bf16 -o "$dir/micro4-train-bf16"
  echo "built $dir"
fi

if [[ $mode == run || $mode == all ]]; then
  names="logits=logits_eval act/stem act/stage1 act/stage2 act/stage3 act/stage4 act/features"
  fail=0
  for p in fp32:1e-4 tf32:5e-3 bf16:2e-2; do
    precision=${p%%:*} tol=${p##*:}
    # bf16 activations: the logits and features (the stages' activations
    # measured 0.5-2.0e-2 on the CPU with the GPU's lowering, CMT-Ti-160).
    checked=$names; [[ $precision == bf16 ]] && checked="logits=logits_eval act/features"
    for m in micro4:cmt-micro ti2:cmt-ti-160; do
      exe=${m%%:*} model=${m##*:}
      echo "== $model $precision (tolerance $tol)"
      "$dir/$exe" --weights "$golden/$model.weights.safetensors" --input "$golden/$model.io.safetensors:input" \
        --output "$dir/$exe-$precision.safetensors" --precision "$precision" > /dev/null
      "$python" "$root/python/compare.py" "$dir/$exe-$precision.safetensors" "$golden/$model.io.safetensors" \
        --tol "$tol" --names $checked || fail=1
    done
  done
  for m in micro4-bf16:cmt-micro:bf16 ti2-f32:cmt-ti-160:bf16; do
    IFS=: read -r exe model precision <<< "$m"
    echo "== $model $exe --precision $precision (tolerance 2e-2)"
    "$dir/$exe" --weights "$golden/$model.weights.safetensors" --input "$golden/$model.io.safetensors:input" \
      --output "$dir/$exe.safetensors" --precision "$precision" > /dev/null
    "$python" "$root/python/compare.py" "$dir/$exe.safetensors" "$golden/$model.io.safetensors" \
      --tol 2e-2 --names logits=logits_eval || fail=1
  done
  for exe in micro4-ckpt micro4-onnx; do
    echo "== cmt-micro fp32 from ${exe#micro4-} (tolerance 1e-4)"
    weights=(); [[ $exe == micro4-ckpt ]] && weights=(--weights "$golden/cmt-micro.weights.safetensors")
    "$dir/$exe" "${weights[@]}" --input "$golden/cmt-micro.io.safetensors:input" \
      --output "$dir/$exe.safetensors" > /dev/null
    "$python" "$root/python/compare.py" "$dir/$exe.safetensors" "$golden/cmt-micro.io.safetensors" \
      --tol 1e-4 --names logits=logits_eval || fail=1
  done
  # One AdamW step against the golden gradients and update: fp32 within the
  # CPU's tolerances, tf32 within ten times them.
  for p in fp32:2e-3:1e-2 tf32:2e-2:1e-1; do
    IFS=: read -r precision gtol utol <<< "$p"
    echo "== cmt-micro training step $precision (gradients $gtol, update $utol)"
    "$dir/micro4-train" --weights "$golden/cmt-micro.weights.safetensors" --data "$golden/cmt-micro.io.safetensors" \
      --steps 1 --lr 1e-3 --weight-decay 0.05 --label-smoothing 0.1 --drop-path 0 --precision "$precision" \
      --dump-grads "$dir/train-grads-$precision.safetensors" --save "$dir/train-after-$precision.safetensors" > /dev/null
    "$python" "$root/python/check_train.py" "$dir/train-grads-$precision.safetensors" \
      "$dir/train-after-$precision.safetensors" "$golden/cmt-micro.weights.safetensors" \
      "$golden/cmt-micro.io.safetensors" --grad-tol "$gtol" --update-tol "$utol" | tail -2 || fail=1
  done
  # bf16 storage in training: 20 steps lose as the fp32 step does, within 0.2%.
  echo "== cmt-micro training with bf16 storage: the fp32 losses within 0.2%"
  losses20() { "$1" --weights "$golden/cmt-micro.weights.safetensors" --data "$golden/cmt-micro.io.safetensors" \
      --steps 20 --lr 1e-3 --drop-path 0 | grep -o "step [0-9]*/20  loss [0-9.]*" | awk '{print $4}'; }
  "$python" -c "import sys; a, b = (list(map(float, s.split())) for s in sys.argv[1:]); ok = len(a) == len(b) == 20 and all(abs(x - y) <= 2e-3 * x for x, y in zip(a, b)); print('ok' if ok else 'FAIL', a[-1:], b[-1:]); sys.exit(0 if ok else 1)" \
    "$(losses20 "$dir/micro4-train")" "$(losses20 "$dir/micro4-train-bf16")" || fail=1
  # Data parallelism (issue 7): the NCCL path at world size 1, as torchrun
  # would start it, trains with the same losses as a plain run.
  echo "== the NCCL path at world size 1: the same losses"
  train3() { "$dir/micro4-train" --weights "$golden/cmt-micro.weights.safetensors" \
      --data "$golden/cmt-micro.io.safetensors" --steps 3 --drop-path 0 | grep -o "loss [0-9.]*"; }
  plain=$(train3)
  nccl=$(WORLD_SIZE=1 RANK=0 LOCAL_RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=29533 train3)
  if [ -n "$plain" ] && [ "$plain" = "$nccl" ]; then echo "ok: $(echo $nccl)"
  else echo "FAIL: plain '$(echo $plain)', NCCL '$(echo $nccl)'"; fail=1; fi
  expect_error() {  # expect_error PATTERN CMD...: one clear error, non-zero exit
    local pattern=$1; shift
    local out
    if out=$("$@" 2>&1); then echo "FAIL: '$*' succeeded"; fail=1; return; fi
    if grep -q -- "$pattern" <<< "$out"; then echo "ok: $(grep -m1 -- "$pattern" <<< "$out")"
    else echo "FAIL: '$*' said: $out"; fail=1; fi
  }
  echo "== errors"
  expect_error "GPU memory" "$dir/ti-huge" --benchmark
  expect_error "compiled for sm_80" "$dir/micro-sm80" --benchmark
  expect_error "precision must be fp32, tf32 or bf16" "$dir/micro4" --benchmark --precision fp16
  expect_error "stores activations as bf16" "$dir/micro4-bf16" --benchmark --precision fp32
  [[ $fail == 0 ]] && echo "GPU CHECK PASSED" || { echo "GPU CHECK FAILED"; exit 1; }
fi
