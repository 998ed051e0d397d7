"""Training checkpoints: one ``.pt`` dict of plain types and tensors, safe to load with ``weights_only``.

Layout (``format_version`` 1)::

    {format_version, arch_config, model, extra, optimizer, scheduler, step, epoch, rng, ...}

``model`` is the state dict of the network that extraction uses (the teacher's backbone for
DINO); ``extra`` holds every other stateful module of the objective (``extra['modules']``),
the objective's own state (``extra['objective']``) and the AMP scaler. RNG states are
stored as tensors and plain lists/dicts so that no pickled code is ever needed.
"""
from __future__ import annotations

import errno
import logging
import os
import random
import re
import shutil
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from utter.atomic import atomic_path
from utter.nnet import build_network

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
CHECKPOINT_RE = re.compile(r"^ckpt-(\d+)\.pt$")
REQUIRED_KEYS = ("format_version", "arch_config", "model", "extra", "optimizer", "scheduler", "step", "epoch", "rng")


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used: unreadable, wrong format, or another architecture."""


def checkpoint_name(step: int) -> str:
    """File name of the checkpoint written after ``step`` optimiser steps."""
    return f"ckpt-{step:08d}.pt"


def list_checkpoints(exp_dir: str | os.PathLike) -> list[Path]:
    """The step checkpoints in ``exp_dir`` (``ckpt-NNNNNNNN.pt``), oldest step first."""
    exp_dir = Path(exp_dir)
    if not exp_dir.is_dir():
        return []
    found = []
    for p in exp_dir.iterdir():
        m = CHECKPOINT_RE.match(p.name)
        if m and p.is_file():
            found.append((int(m.group(1)), p))
    return [p for _, p in sorted(found)]


def checkpoint_problem(path: str | os.PathLike) -> str | None:
    """Why a checkpoint file cannot be loaded, found without loading it (empty, or a zip archive cut
    short: torch.save writes zip files whose directory is at the end), or None when it looks whole."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as e:
        return f"cannot stat it ({e.strerror})"
    if size == 0:
        return "it is empty (0 bytes)"
    try:
        with zipfile.ZipFile(path) as z:
            z.infolist()
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        return f"it is truncated or corrupt ({size} bytes; {e})"
    return None


_reported: set[tuple[str, float]] = set()


def latest_checkpoint(exp_dir: str | os.PathLike) -> Path | None:
    """The checkpoint with the highest step in ``exp_dir`` that is whole, or None when there is none.

    A later one that is empty or truncated (a write cut short by a full disk or a killed job on a
    file system without atomic renames) is passed over with a warning naming it, so a resumed run
    goes on from the previous valid checkpoint instead of failing."""
    ckpts = list_checkpoints(exp_dir)
    for path in reversed(ckpts):
        problem = checkpoint_problem(path)
        if problem is None:
            return path
        key = (str(path), path.stat().st_mtime if path.exists() else 0.0)
        if key not in _reported:
            _reported.add(key)
            log.warning("checkpoint %s cannot be used: %s; resuming from the previous one instead", path, problem)
    return None


# ---------------------------------------------------------------- RNG states

def capture_rng_state() -> dict[str, Any]:
    """This process's global RNG states (torch CPU/CUDA, python ``random``, numpy legacy) as plain types."""
    version, internal, gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": [version, list(internal), gauss],
        "numpy": [np_name, torch.from_numpy(np_keys.astype(np.int64)), int(np_pos), int(np_has_gauss),
                  float(np_gauss)],
        "cuda": [],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Undo :func:`capture_rng_state`: set every global generator back to the saved state."""
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    cuda = state.get("cuda") or []
    if cuda and torch.cuda.is_available():
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)
        else:
            log.warning("checkpoint has CUDA RNG states for %d devices, this machine has %d: not restored",
                        len(cuda), torch.cuda.device_count())


def numpy_generator_state(gen: np.random.Generator) -> dict:
    """A numpy Generator's state as a plain dict of str/int (loads under ``weights_only``)."""
    return gen.bit_generator.state


def set_numpy_generator_state(gen: np.random.Generator, state: dict) -> None:
    """Restore a state produced by :func:`numpy_generator_state`."""
    gen.bit_generator.state = state


# ---------------------------------------------------------------- save / load

def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write ``state`` (with the keys of :data:`REQUIRED_KEYS`) atomically to ``path``."""
    missing = [k for k in REQUIRED_KEYS if k not in state]
    if missing:
        raise ValueError(f"checkpoint state for {path} lacks {', '.join(missing)}")
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            torch.save(state, tmp)
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
    except (OSError, RuntimeError) as e:
        raise CheckpointError(f"cannot write checkpoint {path}: {_write_failure(e, path.parent)}") from None
    return path


def _write_failure(e: BaseException, where: Path) -> str:
    """The reason a write failed, in words: torch reports a full disk as ``enforce fail at
    inline_container.cc ... unexpected pos``."""
    text = str(e).strip().splitlines()
    reason = text[0] if text else type(e).__name__
    try:
        free = shutil.disk_usage(where).free
    except OSError:
        free = None
    full = (isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT)) or "unexpected pos" in reason \
        or "No space left" in reason or (free is not None and free < (1 << 20))
    if full:
        shown = f" ({free / 2**20:.1f} MiB free)" if free is not None else ""
        return f"no space left on {where}{shown}; the earlier checkpoints are kept: free some space and resume"
    return reason


def describe_arch(config: Any) -> str:
    """Short text naming an architecture config, for error messages."""
    if isinstance(config, dict):
        name = config.get("type") or config.get("name") or config.get("arch")
        rest = ", ".join(f"{k}={v}" for k, v in sorted(config.items(), key=lambda kv: str(kv[0]))
                         if k not in ("type", "name", "arch"))
        return f"{name} ({rest})" if name else f"{{{rest}}}"
    return repr(config)


def check_arch(found: Any, expected: Any, path: str | os.PathLike) -> None:
    """Raise :class:`CheckpointError` naming both architectures when they differ."""
    if found == expected:
        return
    diff = ""
    if isinstance(found, dict) and isinstance(expected, dict):
        keys = sorted({*found, *expected} - {k for k in found if found.get(k) == expected.get(k)}, key=str)
        diff = "; differing: " + ", ".join(f"{k}: {found.get(k, '<absent>')} vs {expected.get(k, '<absent>')}"
                                           for k in keys)
    raise CheckpointError(
        f"checkpoint {path} is for architecture {describe_arch(found)}, "
        f"but this run uses {describe_arch(expected)}{diff}")


def load_checkpoint(path: str | os.PathLike, expected_arch: dict | None = None,
                    map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``; check its format and, if given, its architecture."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    problem = checkpoint_problem(path)
    if problem is not None:
        raise CheckpointError(f"cannot read checkpoint {path}: {problem}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises several types for corrupt or unsafe files
        text = str(e).strip().splitlines()
        raise CheckpointError(f"cannot read checkpoint {path}: {text[0] if text else type(e).__name__}") from e
    if not isinstance(state, dict) or "format_version" not in state:
        raise CheckpointError(f"{path} is not an utter checkpoint (no format_version)")
    if state["format_version"] > FORMAT_VERSION:
        raise CheckpointError(f"checkpoint {path} has format_version {state['format_version']}, "
                              f"newer than this toolkit's {FORMAT_VERSION}")
    missing = [k for k in REQUIRED_KEYS if k not in state]
    if missing:
        raise CheckpointError(f"checkpoint {path} lacks {', '.join(missing)}")
    if expected_arch is not None:
        check_arch(state["arch_config"], expected_arch, path)
    return state


def average_checkpoints(paths: Sequence[str | os.PathLike]) -> dict[str, Any]:
    """Element-wise mean of the floating-point weights of several checkpoints of one architecture.

    Averages ``model`` and every module in ``extra['modules']``; integer tensors (e.g. batch-norm
    counters) and everything else come from the last checkpoint. Optimiser and scheduler
    states are dropped (set to None): the result is for extraction or initialisation.
    """
    if not paths:
        raise ValueError("average_checkpoints needs at least one checkpoint")
    states = [load_checkpoint(p) for p in paths]
    last = states[-1]
    for p, s in zip(paths, states):
        check_arch(s["arch_config"], last["arch_config"], p)

    def mean_dicts(dicts: list[dict], what: str) -> dict:
        keys = list(dicts[-1].keys())
        for p, d in zip(paths, dicts):
            if list(d.keys()) != keys:
                raise CheckpointError(f"cannot average {what}: {p} has different parameter names from {paths[-1]}")
        out = {}
        for k in keys:
            ref = dicts[-1][k]
            if torch.is_tensor(ref) and ref.is_floating_point():
                acc = torch.zeros_like(ref, dtype=torch.float64)
                for d in dicts:
                    acc += d[k].to(torch.float64)
                out[k] = (acc / len(dicts)).to(ref.dtype)
            else:
                out[k] = ref
        return out

    avg = dict(last)
    avg["model"] = mean_dicts([s["model"] for s in states], "model")
    extra = dict(last["extra"])
    modules = extra.get("modules") or {}
    extra["modules"] = {name: (None if sd is None else
                               mean_dicts([s["extra"]["modules"][name] for s in states], f"module {name}"))
                        for name, sd in modules.items()}
    avg["extra"] = extra
    avg["optimizer"] = None
    avg["scheduler"] = None
    avg["averaged_from"] = [Path(p).name for p in paths]
    return avg


def load_embedder(path: str | os.PathLike, device: str | torch.device = "cpu",
                  expected_arch: dict | None = None) -> torch.nn.Module:
    """The embedding network of a checkpoint, rebuilt from its ``arch_config``, in eval mode on ``device``."""
    state = load_checkpoint(path, expected_arch=expected_arch)
    try:
        net = build_network(dict(state["arch_config"]))
    except (KeyError, ValueError, TypeError) as e:
        raise CheckpointError(f"checkpoint {path}: cannot build network "
                              f"{describe_arch(state['arch_config'])}: {e}") from e
    try:
        net.load_state_dict(state["model"])
    except RuntimeError as e:
        raise CheckpointError(f"checkpoint {path}: weights do not fit {describe_arch(state['arch_config'])}: "
                              f"{str(e).splitlines()[0]}") from e
    return net.to(device).eval()
