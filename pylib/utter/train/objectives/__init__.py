"""Training objectives for :class:`utter.train.trainer.Trainer`, one module each.

* :mod:`~utter.train.objectives.dino`: DINO self-distillation without labels (loss, centring,
  teacher EMA, collapse statistics and the objective);
* :mod:`~utter.train.objectives.speaker`: supervised speaker classification with AAM-softmax
  (the x-vector baseline);
* :mod:`~utter.train.objectives.classification`: cross-entropy fine-tuning on a downstream task;
* :mod:`~utter.train.objectives.contrastive`: triplet + Barlow Twins (Lux et al.).

A new objective is one new module here: subclass :class:`~utter.train.trainer.Objective`, take
parameter groups from :func:`~utter.train.trainer.weight_decay_groups` and per-step schedules from
:mod:`utter.train.schedules`, and give it a stage program in ``utter.bin``. Import objectives from
their modules; this package re-exports nothing.
"""
