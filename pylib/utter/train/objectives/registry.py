"""The registry of objectives trained on multi-crop views by the one generic training program.

``python -m utter.bin.train_ssl --objective NAME`` trains any objective registered here, so that a
new self-supervised objective is one module (plus its test and its conf), with no new stage
program, step script or recipe code: the module builds its :class:`~utter.train.objectives.base.Objective`
and registers an :class:`ObjectiveSpec` under its name when imported::

    register_objective(ObjectiveSpec(name="ntxent", summary="...", add_arguments=add_arguments,
                                     build=build, views=views))

:func:`objective_spec` finds a name without any list to edit: a registered one, else the module
``utter.train.objectives.<NAME>``, else a module ``NAME`` importable from ``PYTHONPATH`` (an objective
kept outside the package, e.g. a test's toy), imported so that it registers itself.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

import utter.train.objectives as package
from utter.nnet.specaug import SpecAugment
from utter.train.objectives.base import Objective


@dataclass(frozen=True)
class CropViews:
    """The multi-crop views an objective's batches carry (``utter.data.dataset.multi_crop_loader_factory``):
    ``num_global`` crops of ``global_frames`` (the batch's ``global``) and ``num_local`` of
    ``local_frames`` (``local``) per utterance; utterances under ``min_frames`` voiced frames are left out."""

    global_frames: int
    num_global: int
    local_frames: int = 0
    num_local: int = 0
    min_frames: int = 0


@dataclass(frozen=True)
class ObjectiveSpec:
    """How the generic training program trains one objective.

    ``add_arguments(group)`` adds the objective's own options (with their defaults: the program's
    ``--help`` lists them); ``views(args)`` says which crops its batches need; ``build(network, args,
    specaug)`` returns the :class:`Objective` around the embedding network the program built (and the
    SpecAugment of the ``--specaug-*`` options, or None).
    """

    name: str
    summary: str
    add_arguments: Callable[[argparse._ArgumentGroup], None]
    views: Callable[[argparse.Namespace], CropViews]
    build: Callable[[nn.Module, argparse.Namespace, SpecAugment | None], Objective]


_REGISTRY: dict[str, ObjectiveSpec] = {}


def register_objective(spec: ObjectiveSpec) -> ObjectiveSpec:
    """Register ``spec`` under its name (a second registration of the same name is an error, unless it
    is the same spec: a module imported twice)."""
    old = _REGISTRY.get(spec.name)
    if old is not None and old is not spec and old.build is not spec.build:
        raise ValueError(f"objective {spec.name!r} is registered twice ({old.build.__module__} and "
                         f"{spec.build.__module__})")
    _REGISTRY[spec.name] = spec
    return spec


def _import_quietly(module: str) -> bool:
    """Import ``module`` when it exists (True); a module that exists but fails to import raises."""
    try:
        if importlib.util.find_spec(module) is None:
            return False
    except (ImportError, ValueError):   # a parent package that does not exist
        return False
    importlib.import_module(module)
    return True


def objective_names() -> list[str]:
    """Every objective of the package (each module of ``utter.train.objectives`` imported, so that
    those that register one do) and any registered from elsewhere, sorted."""
    for info in pkgutil.iter_modules(package.__path__):
        if info.name != "registry":
            importlib.import_module(f"{package.__name__}.{info.name}")
    return sorted(_REGISTRY)


def objective_spec(name: str) -> ObjectiveSpec:
    """The spec registered as ``name``, importing ``utter.train.objectives.<name>`` or the module
    ``name`` first when it is not registered yet; an unknown name is an error listing the known ones."""
    if name not in _REGISTRY and name.replace(".", "").replace("_", "").isalnum():
        if not _import_quietly(f"utter.train.objectives.{name}"):
            _import_quietly(name)
    if name not in _REGISTRY:
        raise ValueError(f"unknown objective {name!r}: the registered ones are {', '.join(objective_names())} "
                         "(a new one: a module utter.train.objectives.<name> calling register_objective)")
    return _REGISTRY[name]
