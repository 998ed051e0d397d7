"""Embedding networks (ResNet34 family, x-vector TDNN, ECAPA-TDNN), heads, pooling, SpecAugment.

Every network maps (feats [B, T, F], lengths [B]) to embeddings [B, D] and is built from a
config dict by ``build_network``.
"""
from utter.nnet.base import EmbeddingNetwork
from utter.nnet.registry import ARCHS, build_network, network_options

__all__ = ["ARCHS", "EmbeddingNetwork", "build_network", "network_options"]
