"""wav2vec 2.0 / HuBERT frontends: loading a tiny random model from a torchaudio-format file and from a
Hugging Face-style directory (written here with HF parameter names) gives the saved model's outputs;
pooling against a direct computation; waveform training through step 1."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from utter.nnet.ssl_frontends import SSLFrontend, load_ssl_frontend, save_torchaudio_checkpoint

CFG = dict(extractor_mode="group_norm", extractor_conv_layer_config=[(16, 10, 5), (16, 3, 2), (16, 3, 2), (16, 2, 2)],
           extractor_conv_bias=False, encoder_embed_dim=32, encoder_projection_dropout=0.0,
           encoder_pos_conv_kernel=8, encoder_pos_conv_groups=4, encoder_num_layers=2, encoder_num_heads=2,
           encoder_attention_dropout=0.0, encoder_ff_interm_features=64, encoder_ff_interm_dropout=0.0,
           encoder_dropout=0.0, encoder_layer_norm_first=False, encoder_layer_drop=0.0)


def _model():
    from torchaudio.models import wav2vec2_model

    torch.manual_seed(0)
    m = wav2vec2_model(**CFG, aux_num_out=None)
    with torch.no_grad():  # move the layer norms off their identity init so a mix-up would show
        for name, p in m.named_parameters():
            if "layer_norm" in name:
                p.add_(0.1 * torch.randn_like(p))
    return m.eval()


def _hf_dir(model, path, prefix="", old_weight_norm=True, model_type="wav2vec2"):
    """Write config.json + pytorch_model.bin as transformers names them (torchaudio's mapping reversed)."""
    path.mkdir()
    state = {}
    for k, v in model.state_dict().items():
        if k.startswith("feature_extractor."):
            hf = k
        elif k.startswith("encoder.feature_projection."):
            hf = k[len("encoder."):]
        elif k.startswith("encoder.transformer."):
            hf = "encoder." + k[len("encoder.transformer."):]
        else:
            raise AssertionError(k)
        if old_weight_norm:
            hf = hf.replace("conv.parametrizations.weight.original0", "conv.weight_g")
            hf = hf.replace("conv.parametrizations.weight.original1", "conv.weight_v")
        state[prefix + hf] = v.clone()
    state[prefix + "masked_spec_embed"] = torch.zeros(32)
    torch.save(state, path / "pytorch_model.bin")
    conv = CFG["extractor_conv_layer_config"]
    config = {"model_type": model_type, "feat_extract_norm": "group", "conv_dim": [c[0] for c in conv],
              "conv_kernel": [c[1] for c in conv], "conv_stride": [c[2] for c in conv], "conv_bias": False,
              "hidden_size": 32, "feat_proj_dropout": 0.0, "num_conv_pos_embeddings": 8,
              "num_conv_pos_embedding_groups": 4, "num_hidden_layers": 2, "num_attention_heads": 2,
              "attention_dropout": 0.0, "intermediate_size": 64, "activation_dropout": 0.0, "hidden_dropout": 0.0,
              "do_stable_layer_norm": False, "layerdrop": 0.0}
    (path / "config.json").write_text(json.dumps(config))
    return path


def _audio(seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(3, 8000, generator=g) * 0.1
    return x, torch.tensor([8000, 8000, 8000])


@pytest.mark.parametrize("layer", [0, 1, 2, -1])
def test_torchaudio_and_hf_loading_match_saved_model(tmp_path, layer):
    model = _model()
    ta = save_torchaudio_checkpoint(model, CFG, tmp_path / "w2v.pt")
    hf = _hf_dir(model, tmp_path / "hf", prefix="wav2vec2.")
    x, lengths = _audio()
    # the reference: torchaudio's own model on the normalised waveform, pooled by hand
    wav = (x - x.mean(1, keepdim=True)) / (x.var(1, unbiased=False, keepdim=True) + 1e-7).sqrt()
    with torch.no_grad():
        if layer == 0:
            frames, _ = model.feature_extractor(wav, None)
        else:
            outs, _ = model.extract_features(wav, None)
            frames = outs[layer - 1 if layer > 0 else layer]
    ref = torch.cat([frames.mean(1), frames.var(1, unbiased=False).clamp(min=1e-5).sqrt()], dim=1)
    for path in (ta, hf):
        net = load_ssl_frontend(path, layer=layer).eval()
        with torch.no_grad():
            out = net(x, lengths)
            out3 = net(x.unsqueeze(-1), lengths)  # the loaders' [B, S, 1] layout
        assert out.shape == (3, net.embed_dim) == ref.shape
        torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(out3, out)


def test_hf_variants_and_errors(tmp_path):
    model = _model()
    x, lengths = _audio(2)
    ref = load_ssl_frontend(save_torchaudio_checkpoint(model, CFG, tmp_path / "w.pt"), layer=1, pooling="mean")
    hub = load_ssl_frontend(_hf_dir(model, tmp_path / "hub", prefix="hubert.", old_weight_norm=False,
                                    model_type="hubert"), layer=1, pooling="mean")
    assert hub.config["arch"] == "hubert" and hub.embed_dim == 32
    with torch.no_grad():
        torch.testing.assert_close(hub.eval()(x, lengths), ref.eval()(x, lengths))
    bad = _hf_dir(model, tmp_path / "bad")
    state = torch.load(bad / "pytorch_model.bin", weights_only=True)
    state.pop("encoder.layer_norm.weight")
    torch.save(state, bad / "pytorch_model.bin")
    with pytest.raises(ValueError, match="do not fit"):
        load_ssl_frontend(bad)
    with pytest.raises(ValueError, match="reads waveforms"):
        ref(torch.zeros(2, 50, 80), torch.tensor([50, 50]))
    with pytest.raises(ValueError, match="layer 5"):
        SSLFrontend("wav2vec2", CFG, layer=5)


def test_padding_and_rebuild_from_config():
    from utter.nnet import build_network as build_embedding_network

    torch.manual_seed(0)
    net = SSLFrontend("wav2vec2", CFG, layer=0, pooling="mean_std").eval()
    x, _ = _audio(3)
    # the network's own padding handling: a padded item's pooled frames are those the extractor marks valid
    lengths = torch.tensor([8000, 6000, 4000])
    with torch.no_grad():
        out = net(x, lengths)
        wav = net._waveform(x, lengths)
        frames, flen = net.model.feature_extractor(wav, lengths)
        f = frames[2, :flen[2]]
        torch.testing.assert_close(out[2], torch.cat([f.mean(0), f.var(0, unbiased=False).clamp(min=1e-5).sqrt()]))
    rebuilt = build_embedding_network(net.config)
    rebuilt.load_state_dict(net.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(rebuilt.eval()(x, lengths), out)
    assert net.last_affine() and all(n.startswith("model.feature_extractor.conv_layers.3.") for n in net.last_affine())


def test_waveform_step1_end_to_end(tmp_path):
    """Step 1 on a wav.scp data dir with a tiny wav2vec2 checkpoint; the result reloads as a network."""
    import soundfile as sf

    from utter.bin import train_triplet_barlow
    from utter.bin.common import run
    from utter.train.checkpoint import load_embedder as load_network

    data = tmp_path / "data"
    (data / "wav").mkdir(parents=True)
    rng = np.random.default_rng(0)
    wav_scp, utt2spk, utt2emo = {}, {}, {}
    for s in ("s1", "s2", "s3"):
        for e, f0 in (("ang", 220.0), ("sad", 110.0)):
            for i in range(3):
                u = f"{s}-{e}{i}"
                t = np.arange(int(16000 * rng.uniform(0.4, 0.6))) / 16000
                y = 0.3 * np.sin(2 * np.pi * f0 * t) + 0.05 * rng.normal(size=t.size)
                sf.write(data / "wav" / f"{u}.wav", (y * 32767).astype(np.int16), 16000)
                wav_scp[u], utt2spk[u], utt2emo[u] = str(data / "wav" / f"{u}.wav"), s, e
    for name, table in (("wav.scp", wav_scp), ("utt2spk", utt2spk), ("utt2emo", utt2emo)):
        (data / name).write_text("".join(f"{k} {v}\n" for k, v in sorted(table.items())))
    fold = data / "folds" / "1"
    fold.mkdir(parents=True)
    (fold / "train").write_text("".join(u + "\n" for u in sorted(utt2spk) if utt2spk[u] != "s3"))
    (fold / "test").write_text("".join(u + "\n" for u in sorted(utt2spk) if utt2spk[u] == "s3"))
    model = save_torchaudio_checkpoint(_model(), CFG, tmp_path / "w2v.pt")
    exp = tmp_path / "exp"
    argv = ["--init-model", str(model), "--ssl-layer", "1", "--exp-dir", str(exp), "--batch-size", "4",
            "--chunk-frames", "30", "--max-steps", "3", "--seed", "0", str(data)]
    assert run(train_triplet_barlow.main, train_triplet_barlow.build_parser(), argv) == 0
    res = json.loads((exp / "results.json").read_text())
    assert set(res["folds"]["1"]["after"]) >= {"within_between", "davies_bouldin", "test_ncm_acc"}
    net = load_network(exp / "fold1" / "final.pt")
    assert isinstance(net, SSLFrontend) and net.config["layer"] == 1
