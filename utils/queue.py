#!/usr/bin/env python3
"""Run tasks JOB=1:N of a command on Sun/Univa Grid Engine (qsub -t job arrays, waiting through qstat).

usage: queue.py [--num-threads T] [--max-jobs-run N] [--mem X] [--gpu N] [--time T] [--queue-opts 'OPTS']
             [--poll-interval S] [JOB=1:N] LOG command...
Same interface and logs as run.py; waits for every task and exits 1 naming the failed logs.
The batch script, its spec and per-task done files go to LOGDIR/q/.
"""
import sys
from pathlib import Path

# utils/ must not shadow the standard library (utils/queue.py vs the queue module).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pylib"))
from utter.jobs import SGE, main_cluster  # noqa: E402

if __name__ == "__main__":
    sys.exit(main_cluster(SGE(), prog="queue.py"))
