"""Kaldi-style job runners: ``run.py``/``slurm.py``/``queue.py JOB=1:N log.JOB.log command...``.

One implementation of what the three runners share, along its seams:

* :mod:`utter.jobs.spec`: the job spec: the runners' command-line grammar (options, the ``JOB=a:b``
  range, quoting the command as Kaldi's run.pl does), the tasks' logs, the report of failed tasks;
* :mod:`utter.jobs.local`: the local runner (``utils/run.py``): threads, signals, the stop path, and
  running one task into its log (command, start time, output, accounting and ``# Ended (code N)``);
* :mod:`utter.jobs.guard`: the guard each local task runs under, so no task outlives its runner;
* :mod:`utter.jobs.cluster`: the cluster runners (``utils/queue.py``, ``utils/slurm.py``), whose
  array tasks run ``python -m utter.jobs task SPEC TASK`` (:mod:`utter.jobs.__main__`).
"""
