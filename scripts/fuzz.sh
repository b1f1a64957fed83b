#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for a
# fixed budget on a corpus seeded from small generated files and, where it is,
# the golden data. A crash fails the run and leaves the input in build/fuzz/.
#   scripts/fuzz.sh [SECONDS_PER_TARGET]
set -euo pipefail
cd "$(dirname "$0")/.."
budget=${1:-20}
out=build/fuzz
mkdir -p "${out}"
flags=(-std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I. -Iinclude
       -DONNX_ML=1 -DONNX_NAMESPACE=onnx)
clang++ "${flags[@]}" test/fuzz/safetensors_fuzzer.cpp runtime/safetensors.cpp -o "${out}/safetensors_fuzzer"
clang++ "${flags[@]}" test/fuzz/onnx_fuzzer.cpp lib/Import/ONNX/ONNXWeights.cpp -o "${out}/onnx_fuzzer" \
  -lonnx_proto -lprotobuf

rm -rf "${out}/seeds"
/usr/bin/python3 test/fuzz/make_seeds.py "${out}/seeds"
golden=${CMT_GOLDEN_DIR:-../shared/golden}
[ -f "${golden}/cmt-micro.onnx" ] && cp "${golden}/cmt-micro.onnx" "${out}/seeds/onnx/"
[ -f "${golden}/cmt-micro.weights.safetensors" ] && cp "${golden}/cmt-micro.weights.safetensors" "${out}/seeds/safetensors/"

for target in safetensors onnx; do
  mkdir -p "${out}/corpus-${target}"
  echo "== fuzzing ${target} for ${budget} s"
  (cd "${out}" && ASAN_OPTIONS=detect_leaks=0 "./${target}_fuzzer" -max_total_time="${budget}" \
     -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 "corpus-${target}" "seeds/${target}" 2>&1 | tail -4)
done
echo "fuzzing found no crash"
