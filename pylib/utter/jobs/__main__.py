"""``python -m utter.jobs task SPEC.json TASK``: one array task of a cluster runner's job (the line of
its batch script); ``guard PID -- COMMAND...`` runs a guard (as ``utter/jobs/guard.py`` does)."""
import sys

from utter.jobs.cluster import task_main
from utter.jobs.guard import guard_main

if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "task":
        sys.exit(task_main(sys.argv[2], sys.argv[3]))
    if len(sys.argv) > 4 and sys.argv[1] == "guard" and sys.argv[3] == "--":
        sys.exit(guard_main(int(sys.argv[2]), sys.argv[4:]))
    print("usage: python -m utter.jobs task SPEC.json TASK  (used by utils/slurm.py, utils/queue.py)",
          file=sys.stderr)
    sys.exit(1)
