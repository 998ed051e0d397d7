"""Pretrained wav2vec 2.0 / HuBERT backbones as utterance embedding networks (Lux et al.'s backbone).

The model is torchaudio's :class:`~torchaudio.models.Wav2Vec2Model` (HuBERT shares its
architecture), built offline from a config and loaded from

* a torchaudio-format checkpoint: a ``.pt`` file ``{"config": <wav2vec2_model kwargs>,
  "state_dict": <its state dict>}`` (what :func:`save_torchaudio_checkpoint` writes), or
* a Hugging Face checkpoint directory (``config.json`` + ``pytorch_model.bin``, or
  ``model.safetensors`` when the ``safetensors`` package is importable), mapped with
  torchaudio's own import functions (``_get_config``, ``_build``) fed a namespace config and
  the state dict; ``transformers`` is not needed.

The embedding pools, over valid frames, either the CNN encoder's features (``layer=0``, as
Lux et al.) or transformer layer ``layer`` (1-based; -1 the last), by ``pooling`` ``mean``
or ``mean_std``. Input is raw audio ``[B, S]`` (or ``[B, S, 1]``, as the loaders pad
waveforms) at 16 kHz with ``lengths`` in samples; each utterance is normalised to zero mean
and unit variance over its valid samples (``normalize_waveform``), as the HF feature
extractor's ``do_normalize``. Built by :func:`utter.nnet.build_network` for the archs in
``SSL_ARCHS``; torchaudio's model code is imported only when such a network is built.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from types import SimpleNamespace

import torch
from torch import nn

from utter.atomic import atomic_path
from utter.nnet.base import EmbeddingNetwork
from utter.nnet.pooling import length_mask, masked_mean_std
from utter.nnet.specaug import span_mask

#: Raw-audio front-ends (wav2vec 2.0 / HuBERT); torchaudio's model code is imported only when one is built.
SSL_ARCHS = ("wav2vec2", "hubert")

SAMPLE_RATE = 16000

# Hugging Face Wav2Vec2Config defaults for keys a config.json may leave out
_HF_DEFAULTS = dict(feat_extract_norm="group", conv_dim=[512] * 7, conv_kernel=[10, 3, 3, 3, 3, 2, 2],
                    conv_stride=[5, 2, 2, 2, 2, 2, 2], conv_bias=False, hidden_size=768,
                    feat_proj_dropout=0.0, num_conv_pos_embeddings=128, num_conv_pos_embedding_groups=16,
                    num_hidden_layers=12, num_attention_heads=12, attention_dropout=0.1,
                    intermediate_size=3072, activation_dropout=0.1, hidden_dropout=0.1,
                    do_stable_layer_norm=False, layerdrop=0.1)
_HF_PREFIXES = ("wav2vec2.", "hubert.", "model.")


def _plain_config(config: dict) -> dict:
    """A wav2vec2_model config with JSON-friendly types (lists for the conv layer triples)."""
    out = dict(config)
    out.pop("aux_num_out", None)
    if out.get("extractor_conv_layer_config") is not None:
        out["extractor_conv_layer_config"] = [list(map(int, t)) for t in out["extractor_conv_layer_config"]]
    return out


class SSLFrontend(EmbeddingNetwork):
    """torchaudio wav2vec 2.0 / HuBERT model pooled to one embedding per utterance.

    ``last_affine()`` names the block that feeds the pooling (there is no post-pooling
    layer): the chosen transformer layer, or the last CNN layer for ``layer=0``.
    """

    input_kind = "waveform"

    def __init__(self, arch: str = "wav2vec2", model_config: dict | None = None, layer: int = 0,
                 pooling: str = "mean_std", normalize_waveform: bool = True):
        super().__init__()
        from torchaudio.models import wav2vec2_model

        if arch not in SSL_ARCHS:
            raise ValueError(f"SSL frontend arch must be one of {SSL_ARCHS}, got {arch!r}")
        if not isinstance(model_config, dict):
            raise ValueError("SSL frontend needs model_config: the keyword arguments of "
                             "torchaudio.models.wav2vec2_model")
        if pooling not in ("mean", "mean_std"):
            raise ValueError(f"pooling must be 'mean' or 'mean_std', got {pooling!r}")
        cfg = _plain_config(model_config)
        try:
            self.model = wav2vec2_model(**cfg, aux_num_out=None)
        except TypeError as e:
            raise ValueError(f"bad wav2vec2 model config: {e}") from None
        n_layers = int(cfg["encoder_num_layers"])
        if not -n_layers <= layer <= n_layers:
            raise ValueError(f"layer {layer} outside [-{n_layers}, {n_layers}] (0: CNN encoder features)")
        self.layer = layer if layer >= 0 else n_layers + 1 + layer
        self.pooling, self.normalize_waveform = pooling, normalize_waveform
        conv_out = int(cfg["extractor_conv_layer_config"][-1][0]) if cfg.get("extractor_conv_layer_config") \
            else 512
        width = conv_out if self.layer == 0 else int(cfg["encoder_embed_dim"])
        self.embed_dim = width * (2 if pooling == "mean_std" else 1)
        self.config = dict(arch=arch, model_config=cfg, layer=layer, pooling=pooling,
                           normalize_waveform=normalize_waveform)
        self._last_affine_prefixes = (
            (f"model.feature_extractor.conv_layers.{len(self.model.feature_extractor.conv_layers) - 1}.",)
            if self.layer == 0 else (f"model.encoder.transformer.layers.{self.layer - 1}.",))
        self.time_mask_prob, self.time_mask_len = 0.0, 2
        self.mask_generator: torch.Generator | None = None

    def set_time_masking(self, prob: float, span: int = 2, generator: torch.Generator | None = None) -> None:
        """wav2vec 2.0 span masking of the encoder frames (20 ms) in training mode: a fraction of
        about ``prob`` of the frames in spans of ``span`` frames set to 0 before pooling
        (``layer=0``) or before the transformer (our stand-in for the learned mask embedding)."""
        if not 0.0 <= prob < 1.0 or span < 1:
            raise ValueError(f"time masking needs 0 <= prob < 1 and span >= 1, got {prob}, {span}")
        self.time_mask_prob, self.time_mask_len, self.mask_generator = float(prob), int(span), generator

    def _waveform(self, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        if x.dim() == 3 and x.shape[-1] == 1:
            x = x.squeeze(-1)
        if x.dim() != 2:
            raise ValueError(f"expected raw audio [batch, samples] (or [batch, samples, 1]), got "
                             f"shape {tuple(x.shape)}: this network reads waveforms, not features")
        if not self.normalize_waveform:
            return x
        mask = length_mask(lengths, x.shape[1], x.shape[0], x.device)
        m = torch.ones_like(x) if mask is None else mask.to(x.dtype)
        n = m.sum(dim=1, keepdim=True)
        mean = (x * m).sum(dim=1, keepdim=True) / n
        var = ((x - mean) * m).pow(2).sum(dim=1, keepdim=True) / n
        return (x - mean) / (var + 1e-7).sqrt() * m

    def _mask(self, feats: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        if not (self.training and self.time_mask_prob > 0):
            return feats
        B, T, _ = feats.shape
        lens = lengths if lengths is not None else torch.full((B,), T, dtype=torch.long, device=feats.device)
        mask = span_mask(lens.to(feats.device), T, self.time_mask_prob, self.time_mask_len, self.mask_generator)
        return feats.masked_fill(mask.unsqueeze(-1), 0.0)

    def frame_features(self, x: torch.Tensor, lengths: torch.Tensor | None = None
                       ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The chosen layer's frames ``[B, T', C]`` and their valid lengths."""
        wav = self._waveform(x, lengths)
        feats, flen = self.model.feature_extractor(wav, lengths)
        feats = self._mask(feats, flen)
        if self.layer == 0:
            return feats, flen
        enc = self.model.encoder
        h, attn = enc._preprocess(feats, flen)
        outs = enc.transformer.get_intermediate_outputs(h, attention_mask=attn, num_layers=self.layer)
        return outs[-1], flen

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        feats, flen = self.frame_features(x, lengths)
        if flen is not None:
            flen = flen.clamp(min=1)
        mask = length_mask(flen, feats.shape[1], feats.shape[0], feats.device)
        mean, std = masked_mean_std(feats.transpose(1, 2), mask)
        return mean if self.pooling == "mean" else torch.cat([mean, std], dim=1)


def input_kind(net: nn.Module) -> str:
    """'waveform' for networks that read raw audio, else 'fbank'."""
    return getattr(net, "input_kind", "fbank")


# ---------------------------------------------------------------- checkpoints

def save_torchaudio_checkpoint(model: nn.Module, config: dict, path: str | os.PathLike) -> Path:
    """Write a torchaudio Wav2Vec2Model's config and state dict as one ``.pt`` file."""
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save({"config": _plain_config(config), "state_dict": model.state_dict()}, tmp)
    return path


def _read_state(path: Path) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types for corrupt or unsafe files
        raise ValueError(f"cannot read {path}: {str(e).splitlines()[0]}") from e
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state dict")
    return state


def load_torchaudio_checkpoint(path: str | os.PathLike) -> tuple[dict, dict[str, torch.Tensor]]:
    """(wav2vec2_model config, state dict) of a torchaudio-format ``.pt`` checkpoint."""
    path = Path(path)
    state = _read_state(path)
    if not isinstance(state.get("config"), dict) or not isinstance(state.get("state_dict"), dict):
        raise ValueError(f"{path}: not a torchaudio-format checkpoint (needs 'config' and 'state_dict')")
    return _plain_config(state["config"]), state["state_dict"]


class _StateView:
    """Stands in for a transformers submodule in torchaudio's ``_build``: only ``state_dict()``."""

    def __init__(self, state: dict[str, torch.Tensor]):
        self._state = state

    def state_dict(self) -> dict[str, torch.Tensor]:
        return dict(self._state)


def _hf_state(path: Path) -> dict[str, torch.Tensor]:
    bin_path, st_path = path / "pytorch_model.bin", path / "model.safetensors"
    if bin_path.is_file():
        return _read_state(bin_path)
    if st_path.is_file():
        try:
            from safetensors.torch import load_file
        except ImportError:
            raise ValueError(f"{st_path}: reading safetensors needs the 'safetensors' package; "
                             "or convert the checkpoint to pytorch_model.bin") from None
        return load_file(str(st_path))
    raise ValueError(f"{path}: no pytorch_model.bin or model.safetensors")


def _rename_hf_key(key: str) -> str:
    for p in _HF_PREFIXES:
        if key.startswith(p):
            key = key[len(p):]
            break
    # old-style weight norm names of the positional convolution -> torch parametrizations
    return (key.replace("pos_conv_embed.conv.weight_g", "pos_conv_embed.conv.parametrizations.weight.original0")
               .replace("pos_conv_embed.conv.weight_v", "pos_conv_embed.conv.parametrizations.weight.original1"))


def load_huggingface_dir(path: str | os.PathLike) -> tuple[str, dict, dict[str, torch.Tensor]]:
    """(arch, wav2vec2_model config, torchaudio state dict) of a HF wav2vec 2.0 / HuBERT checkpoint dir."""
    from torchaudio.models.wav2vec2.utils.import_huggingface import _build, _get_config

    path = Path(path)
    try:
        hf = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ValueError(f"{path / 'config.json'}: cannot read the model config ({e})") from None
    model_type = hf.get("model_type", "wav2vec2")
    if model_type not in SSL_ARCHS:
        raise ValueError(f"{path / 'config.json'}: model_type {model_type!r} is not one of {SSL_ARCHS}")
    config = _get_config(SimpleNamespace(**{**_HF_DEFAULTS, **hf}))
    parts: dict[str, dict[str, torch.Tensor]] = {"feature_extractor": {}, "feature_projection": {}, "encoder": {}}
    for key, value in _hf_state(path).items():
        key = _rename_hf_key(key)
        head, _, rest = key.partition(".")
        if head in parts:
            parts[head][rest] = value
    for name, sub in parts.items():
        if not sub:
            raise ValueError(f"{path}: no '{name}.*' weights (is this a wav2vec 2.0 / HuBERT checkpoint?)")
    original = SimpleNamespace(**{k: _StateView(v) for k, v in parts.items()})
    level = logging.getLogger("torchaudio.models.wav2vec2.utils.import_huggingface").level
    logging.getLogger("torchaudio.models.wav2vec2.utils.import_huggingface").setLevel(logging.ERROR)
    try:
        model = _build(config, original)  # strict loads: a missing or extra weight is an error
    except RuntimeError as e:
        raise ValueError(f"{path}: weights do not fit the config: {str(e).splitlines()[0]}") from None
    finally:
        logging.getLogger("torchaudio.models.wav2vec2.utils.import_huggingface").setLevel(level)
    return model_type, _plain_config(config), model.state_dict()


def load_ssl_frontend(path: str | os.PathLike, *, arch: str | None = None, layer: int = 0,
                      pooling: str = "mean_std", normalize_waveform: bool = True) -> SSLFrontend:
    """An :class:`SSLFrontend` from a HF checkpoint dir or a torchaudio-format ``.pt`` file."""
    path = Path(path)
    if path.is_dir():
        found, config, state = load_huggingface_dir(path)
        arch = arch or found
    elif path.is_file():
        config, state = load_torchaudio_checkpoint(path)
        arch = arch or "wav2vec2"
    else:
        raise ValueError(f"{path}: no such SSL checkpoint (a HF directory or a torchaudio .pt file)")
    net = SSLFrontend(arch, config, layer=layer, pooling=pooling, normalize_waveform=normalize_waveform)
    missing, unexpected = net.model.load_state_dict(state, strict=False)
    unexpected = [k for k in unexpected if not k.startswith("aux.")]
    if missing or unexpected:
        raise ValueError(f"{path}: weights do not fit the model: missing {missing[:3]}, unexpected {unexpected[:3]}")
    return net

