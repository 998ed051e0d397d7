# How jobs run: Kaldi's "$cmd JOB=1:N log command" interface.
# One machine (default): runs jobs locally, at most one per core at a time.
export train_cmd="run.py"
export cpu_cmd="run.py"
export gpu_cmd="run.py --gpu 1"

# SLURM: uncomment and adapt partitions/memory.
# export train_cmd="slurm.py --mem 4G --time 4:00:00"
# export cpu_cmd="slurm.py --mem 4G"
# export gpu_cmd="slurm.py --gpu 1 --mem 32G --num-threads 8 --time 3-00:00:00"

# SGE (Grid Engine):
# export train_cmd="queue.py --mem 4G"
# export cpu_cmd="queue.py --mem 4G"
# export gpu_cmd="queue.py --gpu 1 --mem 32G --num-threads 8"
