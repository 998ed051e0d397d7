#!/usr/bin/env python3
"""Run tasks JOB=1:N of a command on Sun/Univa Grid Engine (qsub -t job arrays, waiting through qstat).

usage: queue.py [--config conf/queue.conf] [--num-threads T] [--max-jobs-run N] [--mem X] [--gpu N]
             [--time T] [--queue-opts 'OPTS'] [--poll-interval S] [-qsub-opt VALUE] [JOB=1:N] [options] LOG command...
As Kaldi's queue.pl: --name value options become qsub options through the config (conf/queue.conf
if present, else --config FILE, else the default: --mem X -> -l mem_free=X,ram_free=X per slot,
--num-threads T -> -pe smp T, --gpu N -> -l gpu=N -q g.q, --time T -> -l h_rt=T); an option the
config does not describe is an error. Single-dash options (-V, -l x=y, -q all.q, -pe smp 4) go to
qsub as they are. Same logs as run.py; waits for every task and exits 1 naming the failed logs.
The batch script, its spec and per-task done files go to LOGDIR/q/.
"""
import sys
from pathlib import Path

# utils/ must not shadow the standard library (utils/queue.py vs the queue module).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pylib"))
from utter.jobs.cluster import SGE, main_cluster  # noqa: E402

if __name__ == "__main__":
    sys.exit(main_cluster(SGE(), prog="queue.py"))
