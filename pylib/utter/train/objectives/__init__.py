"""Training objectives for :class:`utter.train.trainer.Trainer`, one module each.

* :mod:`~utter.train.objectives.dino`: DINO self-distillation without labels (loss, centring,
  teacher EMA, collapse statistics and the objective);
* :mod:`~utter.train.objectives.speaker`: supervised speaker classification with AAM-softmax
  (the x-vector baseline);
* :mod:`~utter.train.objectives.classification`: cross-entropy fine-tuning on a downstream task;
* :mod:`~utter.train.objectives.triplet_barlow`: triplet + Barlow Twins (Lux et al.);
* :mod:`~utter.train.objectives.base`: what they share, the :class:`Objective` base class and the
  parameter groups (:func:`weight_decay_groups`).

A new objective is one new module here: subclass :class:`~utter.train.objectives.base.Objective`,
take parameter groups from :func:`~utter.train.objectives.base.weight_decay_groups` and per-step
schedules from :mod:`utter.train.schedules`. One trained on multi-crop views registers an
:class:`~utter.train.objectives.registry.ObjectiveSpec` and is trained by the generic program
``utter.bin.train_ssl --objective NAME`` (no stage program of its own); one of other batches gets a
stage program ``utter.bin.train_<kind>``. Import objectives from their modules; this package
re-exports nothing.
"""
