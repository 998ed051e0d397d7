#!/usr/bin/env python3
"""Run a command (or tasks JOB=1:N of it) on this machine, Kaldi run.pl style.

usage: run.py [--num-threads T] [--max-jobs-run N] [--gpu N] [options] [JOB=1:N] [options] LOG command...
Options may come before or after JOB=1:N. --max-jobs-run (or -tc N) defaults to the core count
(with --gpu N: the number of GPUs nvidia-smi lists); --num-threads (default 1) is exported to each
task as OMP/MKL/OPENBLAS/UTTER_NUM_THREADS. Every other option -- --mem, --time, --config FILE,
any --name value, and qsub-style single-dash ones (-V, -l mem_free=2G, -pe smp 4 ...) -- is
accepted for the cluster runners' sake and ignored here, as run.pl does. Exits 1 naming the
failed logs.
"""
import sys
from pathlib import Path

# utils/ must not shadow the standard library (utils/queue.py vs the queue module).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pylib"))
from utter.jobs.local import main_local  # noqa: E402

if __name__ == "__main__":
    sys.exit(main_local(prog="run.py"))
