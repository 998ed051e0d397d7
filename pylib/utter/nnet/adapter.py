"""The adapter of Lux et al.'s step 2: a small MLP classifier with dropout on a frozen embedding.

The paper's adapter architecture is not public; ours is one hidden layer of 256 ReLU units
with dropout 0.5 on the embedding and after the hidden layer (the dropout the authors use).
"""
from __future__ import annotations

from collections.abc import Sequence

from utter.nnet.heads import ClassifierHead


class Adapter(ClassifierHead):
    """ClassifierHead with Lux-style defaults: dropout on the input and hidden layers."""

    def __init__(self, in_dim: int, num_classes: int, hidden: Sequence[int] = (256,),
                 dropout: float = 0.5, input_dropout: float = 0.5):
        super().__init__(in_dim, num_classes, hidden=hidden, dropout=dropout,
                         input_dropout=input_dropout)
