"""utter.bin.train_common: the trainer's command-line options build the TrainConfig."""
from __future__ import annotations

import argparse

import pytest

from utter.bin.train_common import add_train_arguments, train_config_from_args
from utter.train.config import TrainConfig


def test_command_line_options_build_the_config():
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")  # as make_parser(device=True) adds it
    add_train_arguments(parser)
    assert train_config_from_args(parser.parse_args([])) == TrainConfig()
    args = parser.parse_args(["--betas", "0.9,0.95", "--amsgrad", "true", "--weight-decay-end", "0.1",
                              "--total-steps", "300", "--device", "cuda:1", "--resume", "true"])
    cfg = train_config_from_args(args, seed=4)
    assert (cfg.betas, cfg.amsgrad, cfg.weight_decay_end, cfg.total_steps, cfg.device, cfg.seed) == \
        ((0.9, 0.95), True, 0.1, 300, "cuda:1", 4)
    assert args.resume is True
    with pytest.raises(SystemExit):
        parser.parse_args(["--amsgrad", "yes"])
