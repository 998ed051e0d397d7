"""Build an embedding network from a plain config dict, so a checkpoint can rebuild it.

``config['arch']`` picks the class; every other key is a constructor option. The built
network's ``.config`` is the full dict with defaults filled in.
"""
from __future__ import annotations

import inspect

from utter.nnet.base import EmbeddingNetwork
from utter.nnet.ecapa import ECAPATDNN
from utter.nnet.resnet import ResNet
from utter.nnet.ssl_frontends import SSL_ARCHS, SSLFrontend
from utter.nnet.tdnn import TDNN

# arch -> (class, defaults that differ from the class's own)
ARCHS: dict[str, tuple[type, dict]] = {
    "lresnet34": (ResNet, dict(arch="lresnet34", base_channels=16, blocks=[3, 4, 6, 3])),
    "resnet34": (ResNet, dict(arch="resnet34", base_channels=64, blocks=[3, 4, 6, 3])),
    "resnet": (ResNet, dict(arch="resnet")),
    "tdnn": (TDNN, {}),
    "ecapa": (ECAPATDNN, {}),
}


def network_options(arch: str) -> dict:
    """The options of an architecture with their defaults (what ``build_network`` accepts)."""
    if arch not in ARCHS:
        raise ValueError(f"unknown network arch {arch!r}; choose one of {sorted(ARCHS) + list(SSL_ARCHS)}")
    cls, defaults = ARCHS[arch]
    opts = {n: p.default for n, p in inspect.signature(cls.__init__).parameters.items()
            if n not in ("self", "arch")}
    opts.update({k: v for k, v in defaults.items() if k != "arch"})
    return {k: list(v) if isinstance(v, tuple) else v for k, v in opts.items()}


def build_network(config: dict) -> EmbeddingNetwork:
    """Network from {'arch': name, option: value, ...}; unknown options raise ValueError."""
    if not isinstance(config, dict) or "arch" not in config:
        raise ValueError(f"network config must be a dict with an 'arch' key, got {config!r}")
    arch = config["arch"]
    if arch in SSL_ARCHS:
        return SSLFrontend(**config)
    opts = network_options(arch)
    unknown = sorted(set(config) - set(opts) - {"arch"})
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for network arch {arch!r}; "
                         f"allowed: {sorted(opts)}")
    opts.update({k: v for k, v in config.items() if k != "arch"})
    cls, _ = ARCHS[arch]
    if cls is ResNet:
        opts["arch"] = arch
    return cls(**opts)
