#!/usr/bin/env python3
"""Run tasks JOB=1:N of a command on SLURM (sbatch job arrays, waiting through squeue/sacct).

usage: slurm.py [--config conf/slurm.conf] [--num-threads T] [--max-jobs-run N] [--mem X] [--gpu N]
             [--time T] [--queue-opts 'OPTS'] [--poll-interval S] [-sbatch-opt VALUE] [JOB=1:N] [options] LOG command...
As Kaldi's slurm.pl: --name value options become sbatch options through the config (conf/slurm.conf
if present, else --config FILE, else the default: --mem X -> --mem-per-cpu X (per thread, as on
SGE), --num-threads T -> --cpus-per-task T, --gpu N -> --gres=gpu:N, --time T -> --time T; a line
"option gpu=* -p gpu --gres=gpu:$0" names a GPU partition); an option the config does not describe
is an error. Single-dash options (-p gpu, -A account) go to sbatch as they are. Same logs as
run.py; waits for every task and exits 1 naming the failed logs. The batch script, its spec and
per-task done files go to LOGDIR/q/.
"""
import sys
from pathlib import Path

# utils/ must not shadow the standard library (utils/queue.py vs the queue module).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pylib"))
from utter.jobs.cluster import Slurm, main_cluster  # noqa: E402

if __name__ == "__main__":
    sys.exit(main_cluster(Slurm(), prog="slurm.py"))
