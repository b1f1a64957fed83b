#!/usr/bin/env bash
# The main job: installs what is missing, builds, prints the statistics of every
# variant in models/, then compiles CMT-micro and CMT-Ti to CPU executables and
# runs them on the golden inputs (checking parity) where ../shared/golden is,
# and compiles them for CUDA (run where there is a GPU).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
for model in models/*.mlir; do
  echo "== ${model}"
  build/bin/cmt-opt "${model}" --cmt-print-stats -o /dev/null
done

golden=${CMT_GOLDEN_DIR:-../shared/golden}
out=build/run
mkdir -p "${out}"
# model:golden name:batch of the golden input
for entry in cmt-micro:cmt-micro:4 cmt-ti:cmt-ti-160:2; do
  IFS=: read -r model data batch <<<"${entry}"
  echo "== compiling models/${model}.mlir for the CPU"
  time build/bin/cmt-compile "models/${model}.mlir" --batch="${batch}" --activations -o "${out}/${model}"
  if [ -f "${golden}/${data}.weights.safetensors" ]; then
    weights=${golden}/${data}.weights.safetensors
    "${out}/${model}" --weights "${weights}" --input "${golden}/${data}.io.safetensors:input" \
      --output "${out}/${model}.out.safetensors" --top 3
    /usr/bin/python3 python/compare.py "${out}/${model}.out.safetensors" "${golden}/${data}.io.safetensors" \
      --names logits=logits_eval act/stem act/stage1 act/stage2 act/stage3 act/stage4 act/features
  else
    weights=${out}/${model}.random.safetensors
    /usr/bin/python3 python/make_checkpoint.py "${weights}" --variant "${model}"
  fi
  "${out}/${model}" --weights "${weights}" --benchmark
done

# The CUDA target: compiled here whether or not there is a GPU; run (golden
# parity in fp32, tf32 and bf16, and the error checks) where there is one.
if [ -x /usr/local/cuda/bin/ptxas ] || [ -n "${CUDA_HOME:-}" ]; then
  echo "== compiling CMT-micro and CMT-Ti for CUDA"
  scripts/gpu-check.sh build "${out}/cuda" "${golden}"
  if scripts/has-cuda-device.sh && [ -f "${golden}/cmt-micro.weights.safetensors" ]; then
    scripts/gpu-check.sh run "${out}/cuda" "${golden}"
  else
    echo "no CUDA device (or no golden data) here: the CUDA executables in ${out}/cuda were compiled, not run"
  fi
else
  echo "no CUDA toolkit (ptxas) here: the CUDA target is not compiled"
fi
