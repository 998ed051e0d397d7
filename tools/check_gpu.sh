#!/usr/bin/env bash
# Does torch see a GPU? Prints torch's build, the GPU's name, memory, compute capability and
# bf16 support, then runs one DINO training step on it (bench/dino_step.py: the trainer's step
# against the plain PyTorch reference, same loss to 1e-4; on a GPU also bf16 and fp16 autocast).
# With no GPU it says so and runs the step on the CPU instead.
#
# usage: tools/check_gpu.sh [--config tdnn-mini|resnet34] [--batch 4] [--loader-steps 0]
#   --config        the network of the step (default tdnn-mini, seconds on a CPU; resnet34 is
#                   WeSpeaker's v3 DINO network, about 10 s a step on 2 CPU cores)
#   --batch         utterances per step
#   --loader-steps  also run this many steps of real training from features through the
#                   loader and report the fraction of time spent waiting for data (GPU only)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
config=tdnn-mini
batch=4
loader_steps=0
while [ $# -gt 0 ]; do
  case $1 in
    --config) config=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --loader-steps) loader_steps=$2; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "$0: unknown option $1 (see --help)" >&2; exit 1 ;;
  esac
done
if [ -z "${VIRTUAL_ENV:-}" ] && [ -x "$root/tools/venv/bin/python" ]; then
  # shellcheck disable=SC1091
  . "$root/tools/venv/bin/activate"
fi
cd "$root"
export PYTHONPATH="$root/pylib${PYTHONPATH:+:$PYTHONPATH}"

device=$(python - <<'EOF'
import sys
import torch
print(f"torch {torch.__version__}, built with CUDA {torch.version.cuda or 'none'}", file=sys.stderr)
if torch.cuda.is_available():
    for i in range(torch.cuda.device_count()):
        p = torch.cuda.get_device_properties(i)
        free, total = torch.cuda.mem_get_info(i)
        print(f"GPU {i}: {p.name}, {total / 2**30:.1f} GiB ({free / 2**30:.1f} GiB free), "
              f"compute capability {p.major}.{p.minor}, bf16 {'yes' if torch.cuda.is_bf16_supported() else 'no'}",
              file=sys.stderr)
    print("cuda")
else:
    reason = "torch is built without CUDA" if torch.version.cuda is None else \
        "no GPU is visible: no device or driver, or CUDA_VISIBLE_DEVICES hides it"
    print(f"torch sees no GPU ({reason}); the DINO step runs on the CPU", file=sys.stderr)
    print("cpu")
EOF
)

variants=reference,ours
steps=3
if [ "$device" = cuda ]; then
  variants=reference,ours,ours-bf16,ours-fp16
  steps=10
else
  loader_steps=0
fi
echo "one DINO step on $device ($config, batch $batch):" >&2
exec python bench/dino_step.py --config "$config" --batch "$batch" --device "$device" --steps "$steps" \
  --warmup 1 --variants "$variants" --loader-steps "$loader_steps"
