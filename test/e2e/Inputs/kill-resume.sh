#!/usr/bin/env bash
# kill-resume.sh EXE DIR STEPS EVERY ARGS...
# Trains STEPS steps twice with checkpoints every EVERY steps: once straight
# through, once killed with SIGKILL at a random step and resumed from its
# last checkpoint with nothing but --resume. Prints what was lost and whether
# the two final checkpoints and metrics logs agree bit for bit.
set -euo pipefail
exe=$1 dir=$2 steps=$3 every=$4
shift 4
rm -rf "$dir" && mkdir -p "$dir"
"$exe" "$@" --steps "$steps" --save "$dir/full.safetensors" --save-every "$every" > "$dir/full.log"

kill_at=$(( every + 1 + RANDOM % (steps / 2 - every) ))
echo "killing at step $kill_at or just after"
"$exe" "$@" --steps "$steps" --save "$dir/cut.safetensors" --save-every "$every" > "$dir/cut.log" &
pid=$!
until grep -q "step $kill_at/" "$dir/cut.log" 2>/dev/null; do
  kill -0 "$pid" 2>/dev/null || { echo "the run ended before the kill"; exit 1; }
  sleep 0.01
done
kill -9 "$pid"
wait "$pid" 2>/dev/null && { echo "the run was not killed"; exit 1; }
reached=$(grep -o "step [0-9]*/" "$dir/cut.log" | tail -1 | tr -dc 0-9)
saved=$(grep -o "at step [0-9]*" "$dir/cut.log" | tail -1 | tr -dc 0-9)
echo "killed after step $reached; last checkpoint at step $saved; steps to redo: $(( reached - saved )) (at most $every)"
[ $(( reached - saved )) -le "$every" ] || { echo "lost more than the steps since the checkpoint"; exit 1; }

"$exe" --resume "$dir/cut.safetensors" > "$dir/resume.log"
grep -m1 "steps $saved -> $steps" "$dir/resume.log" > /dev/null || { echo "did not resume at step $saved"; exit 1; }
echo "checkpoints: $(/usr/bin/python3 "$PYDIR/same_tensors.py" "$dir/full.safetensors" "$dir/cut.safetensors")"
/usr/bin/python3 - "$dir" <<'PY'
import json, sys
d = sys.argv[1]
def records(p):
    return [json.loads(l) for l in open(p) if l.strip()]
full, cut = records(d + "/full.metrics.jsonl"), records(d + "/cut.metrics.jsonl")
strip = lambda r: {k: v for k, v in r.items() if k not in ("images_per_s", "seconds")}
same = [strip(x) for x in full] == [strip(x) for x in cut]
print("metrics logs: %d records, %s" % (len(full), "identical" if same else "different"))
PY
