"""Downstream protocols: what is done with a pretrained network, fold by fold, and the files it leaves.

This room sits above ``train/`` (objectives and the one loop) and ``backend/`` (numpy scoring
models): it reads data dirs, fold lists and embedding archives, runs a model per fold (and seed),
and writes each run's predictions, scores and figures in one layout (:mod:`~utter.transfer.runs`).
Frozen-embedding classifiers (``frozen``), the ADReSS text branch (``text``), fine-tuning
(``finetune``), Lux et al.'s triplet + Barlow Twins step 1 (``triplet_barlow_folds``) and adapter step 2
(``adapter``), the verification pipelines over files (``verification``, ``pseudo_labels``),
and the paper findings compared from results already written (``findings``).
"""
