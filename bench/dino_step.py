"""One DINO training step, ours (as the trainer runs it) against a plain PyTorch step of the same computation.

"ours" is utter.train.objectives.dino.DINOObjective run by utter.train.trainer.Trainer's own step
(loss with centring and collapse statistics, backward, gradient clipping, the optimiser step with
the trainer's per-step lr / weight decay, teacher EMA, every logged scalar read back). The
"reference" is written here in plain PyTorch: the same blocks as nn.Conv/BatchNorm/Linear
without length masks, NCHW, eager fp32, the same DINO loss, centre, EMA and Adam, the lr set by
hand. Both start from the same weights and take the same synthetic batches (every crop full
length, as DINO's are); the variants run alternated in one process (the order rotating each
step), and each prints the median of the timed steps after warm-up (wall time, and the
process's CPU time, steadier on a shared machine: it counts work, not waiting for a core), its
ratios to the reference, and its loss against the reference's: step 1 (same inputs and
weights) must agree to 1e-4; later steps drift apart only by rounding.

Variants (--variants, comma-separated):
  reference    the plain PyTorch step above
  ours         the default step: masks skipped on full-length batches, channels-last ResNet
               activations, the trainer's fused Adam
  ours-masked  ours with the masked path forced (all-true masks): the cost of masking
  ours-nchw    ours with channels-last off (the ResNet's convolutions in NCHW)
  ours-loop    ours with the per-tensor Adam loop instead of the fused one
  before       channels-last off and the per-tensor Adam loop: the step before issue 16
  ours-compile ours with the networks and heads torch.compile'd (compile time in the warm-up column)
  ours-bf16    ours under bf16 autocast (the trainer's --amp bf16; CUDA only, as the trainer)
  ours-fp16    ours under fp16 autocast with a grad scaler (--amp fp16; CUDA only)

Configurations (--config): resnet34 = WeSpeaker's v3 DINO network (ResNet34, 32 base channels,
256-d embedding, 6,634,336 parameters), 2 global crops of 300 frames + 4 local of 200, head
K=65536 (2048 hidden, 256 bottleneck); tdnn-mini = egs/voxceleb/conf/mini/dino.conf (TDNN
128 x 4 + 384, 128-d, 2 x 300 + 2 x 150 frames, K=1024 with head BN). Optimiser as the recipes:
Adam (amsgrad, betas 0.9/0.95, weight decay 1e-4 without decay on biases and norms),
gradient clipping at 3, teacher momentum 0.996 -> 1 (resnet34) or 0.99 (tdnn-mini).

--loader-steps N (with --workers W) also runs N steps of real training from features: a
synthetic compressed-feature data dir read by utter.data.dataset.multi_crop_loader_factory with
W workers into the trainer's step, and reports the fraction of the wall time the step loop
waits for the next batch (on a GPU, the time the GPU sits idle for data; goal < 15 %).

usage: python bench/dino_step.py [--config resnet34|tdnn-mini] [--batch 4] [--steps 5]
       [--warmup 1] [--device cpu|cuda] [--threads N] [--variants reference,ours]
       [--loader-steps 0] [--workers 2]
"""
from __future__ import annotations

import argparse
import copy
import logging
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from utter.nnet import build_network
from utter.train.config import TrainConfig
from utter.train.objectives.dino import DINOObjective
from utter.train.trainer import Trainer

CONFIGS = {
    "resnet34": dict(
        net=dict(arch="resnet", base_channels=32, blocks=[3, 4, 6, 3], strides=[1, 2, 2, 2], embed_dim=256,
                 feat_dim=80),
        head=dict(out_dim=65536, hidden=2048, bottleneck=256, head_layers=3, head_bn=False),
        num_global=2, global_frames=300, num_local=4, local_frames=200,
        teacher_momentum=0.996, teacher_momentum_final=1.0),
    "tdnn-mini": dict(
        net=dict(arch="tdnn", channels=[128, 128, 128, 128, 384], embed_dim=128, feat_dim=80),
        head=dict(out_dim=1024, hidden=256, bottleneck=64, head_layers=3, head_bn=True),
        num_global=2, global_frames=300, num_local=2, local_frames=150,
        teacher_momentum=0.99, teacher_momentum_final=0.99),
}
OPTIM = dict(lr=0.005, betas=(0.9, 0.95), eps=1e-8, weight_decay=1e-4, grad_clip=3.0, student_temp=0.1,
             teacher_temp=0.04, center_momentum=0.9)
VARIANTS = ("reference", "ours", "ours-masked", "ours-nchw", "ours-loop", "before", "ours-compile", "ours-bf16",
            "ours-fp16")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ------------------------------------------------------------------ the plain reference

class RefBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: tuple[int, int]):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = None
        if stride != (1, 1) or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(out + (x if self.shortcut is None else self.shortcut(x)))


def mean_std(x: torch.Tensor) -> torch.Tensor:
    """[B, C, T] -> [B, 2C]: mean and biased std over time (floored at 1e-5 before the root)."""
    mean = x.mean(-1)
    var = (x - mean.unsqueeze(-1)).pow(2).mean(-1)
    return torch.cat([mean, var.clamp(min=1e-5).sqrt()], 1)


class RefResNet(nn.Module):
    def __init__(self, feat_dim, base_channels, blocks, strides, embed_dim):
        super().__init__()
        self.conv1 = nn.Conv2d(1, base_channels, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(base_channels)
        stages, cin, freq = [], base_channels, feat_dim
        for i, (n, s) in enumerate(zip(blocks, strides)):
            cout = base_channels * 2 ** i
            stages.append(nn.ModuleList([RefBlock(cin, cout, (s, s))] +
                                        [RefBlock(cout, cout, (1, 1)) for _ in range(n - 1)]))
            cin, freq = cout, (freq + s - 1) // s
        self.stages = nn.ModuleList(stages)
        self.embedding = nn.Linear(2 * cin * freq, embed_dim)

    def forward(self, feats):
        x = F.relu(self.bn1(self.conv1(feats.transpose(1, 2).unsqueeze(1))))
        for stage in self.stages:
            for block in stage:
                x = block(x)
        return self.embedding(mean_std(x.flatten(1, 2)))


class RefTDNN(nn.Module):
    def __init__(self, feat_dim, channels, embed_dim, kernels=(5, 3, 3, 1, 1), dilations=(1, 2, 3, 1, 1)):
        super().__init__()
        layers, cin = [], feat_dim
        for c, k, d in zip(channels, kernels, dilations):
            layers.append(nn.Sequential(nn.Conv1d(cin, c, k, dilation=d, padding=d * (k - 1) // 2), nn.ReLU(),
                                        nn.BatchNorm1d(c)))
            cin = c
        self.frame_layers = nn.ModuleList(layers)
        self.embedding = nn.Linear(2 * cin, embed_dim)

    def forward(self, feats):
        x = feats.transpose(1, 2)
        for layer in self.frame_layers:
            x = layer(x)
        return self.embedding(mean_std(x))


class RefLastLayer(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.weight_v = nn.Parameter(torch.empty(cout, cin))
        self.weight_g = nn.Parameter(torch.ones(cout, 1), requires_grad=False)

    def forward(self, x):
        return F.linear(x, self.weight_g * self.weight_v / self.weight_v.norm(dim=1, keepdim=True))


class RefHead(nn.Module):
    def __init__(self, in_dim, out_dim, hidden, bottleneck, head_layers, head_bn):
        super().__init__()
        dims = [in_dim] + [hidden] * (head_layers - 1) + [bottleneck]
        layers = []
        for i in range(head_layers):
            layers.append(nn.Linear(dims[i], dims[i + 1]))
            if i < head_layers - 1:
                layers += [nn.BatchNorm1d(dims[i + 1])] if head_bn else []
                layers.append(nn.GELU())
        self.mlp = nn.Sequential(*layers)
        self.last_layer = RefLastLayer(bottleneck, out_dim)

    def forward(self, x):
        return self.last_layer(F.normalize(self.mlp(x), dim=-1, eps=1e-6))


class Reference:
    """The plain step: teacher on the global crops, student on all, DINO loss, Adam, EMA."""

    def __init__(self, cfg: dict, ours: DINOObjective, batch: int, total_steps: int, device: torch.device):
        net = cfg["net"]
        if net["arch"] == "resnet":
            make = lambda: RefResNet(net["feat_dim"], net["base_channels"], net["blocks"], net["strides"],  # noqa: E731
                                     net["embed_dim"])
        else:
            make = lambda: RefTDNN(net["feat_dim"], net["channels"], net["embed_dim"])  # noqa: E731
        self.student, self.teacher = make(), make()
        self.student_head = RefHead(net["embed_dim"], **cfg["head"])
        self.teacher_head = RefHead(net["embed_dim"], **cfg["head"])
        for mine, theirs in ((self.student, ours.student), (self.teacher, ours.teacher),
                             (self.student_head, ours.student_head), (self.teacher_head, ours.teacher_head)):
            mine.load_state_dict(theirs.state_dict())
            mine.to(device).train()
        for p in [*self.teacher.parameters(), *self.teacher_head.parameters()]:
            p.requires_grad_(False)
        self.center = torch.zeros(1, cfg["head"]["out_dim"], device=device)
        self.G, self.L = cfg["num_global"], cfg["num_local"]
        self.pairs = [(i, v) for i in range(self.G) for v in range(self.G + self.L) if v != i]
        decay, no_decay = [], []
        for m in (self.student, self.student_head):
            for name, p in m.named_parameters():
                if p.requires_grad:
                    (no_decay if name.endswith(".bias") or p.dim() <= 1 else decay).append(p)
        self.params = decay + no_decay
        self.optimizer = torch.optim.Adam([{"params": decay, "weight_decay": OPTIM["weight_decay"]},
                                           {"params": no_decay, "weight_decay": 0.0}],
                                          lr=OPTIM["lr"] * batch / 256 if net["arch"] == "resnet" else OPTIM["lr"],
                                          betas=OPTIM["betas"], eps=OPTIM["eps"], amsgrad=True)
        m0, m1 = cfg["teacher_momentum"], cfg["teacher_momentum_final"]
        self.momentum = [m1 + 0.5 * (m0 - m1) * (1 + math.cos(math.pi * i / max(total_steps - 1, 1)))
                         for i in range(total_steps)]
        self.momentum[-1] = m1
        self.step_index = 0

    def step(self, batch: dict) -> float:
        glob, loc = batch["global"], batch["local"]
        with torch.no_grad():
            t_out = self.teacher_head(self.teacher(glob))
        s_out = torch.cat([self.student_head(self.student(glob)), self.student_head(self.student(loc))])
        q = F.softmax((t_out - self.center) / OPTIM["teacher_temp"], dim=-1).chunk(self.G)
        logp = F.log_softmax(s_out / OPTIM["student_temp"], dim=-1).chunk(self.G + self.L)
        loss = sum(-(q[i] * logp[v]).sum(-1).mean() for i, v in self.pairs) / len(self.pairs)
        with torch.no_grad():
            cm = OPTIM["center_momentum"]
            self.center.mul_(cm).add_(t_out.mean(0, keepdim=True), alpha=1 - cm)
        value = float(loss.detach())
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, OPTIM["grad_clip"])
        self.optimizer.step()
        m = self.momentum[min(self.step_index, len(self.momentum) - 1)]
        with torch.no_grad():
            for t_mod, s_mod in ((self.teacher, self.student), (self.teacher_head, self.student_head)):
                for pt, ps in zip(t_mod.parameters(), s_mod.parameters()):
                    pt.mul_(m).add_(ps, alpha=1 - m)
                for bt, bs in zip(t_mod.buffers(), s_mod.buffers()):
                    if bt.is_floating_point():
                        bt.mul_(m).add_(bs, alpha=1 - m)
                    else:
                        bt.copy_(bs)
        self.step_index += 1
        return value


# ------------------------------------------------------------------ ours, through the trainer

def make_objective(cfg: dict, seed: int = 0) -> DINOObjective:
    torch.manual_seed(seed)
    net = build_network(dict(cfg["net"]))
    return DINOObjective(net, num_global=cfg["num_global"], num_local=cfg["num_local"], **cfg["head"],
                         student_temp=OPTIM["student_temp"], teacher_temp=OPTIM["teacher_temp"],
                         center_momentum=OPTIM["center_momentum"], teacher_momentum=cfg["teacher_momentum"],
                         teacher_momentum_final=cfg["teacher_momentum_final"], freeze_last_layer_steps=0,
                         freeze_last_layer_epochs=0.0)


def train_config(cfg: dict, batch: int, total_steps: int, device: torch.device, amp: str) -> TrainConfig:
    lr = OPTIM["lr"] * batch / 256 if cfg["net"]["arch"] == "resnet" else OPTIM["lr"]
    return TrainConfig(total_steps=total_steps, steps_per_epoch=total_steps, optimizer="adam", amsgrad=True,
                       betas=OPTIM["betas"], eps=OPTIM["eps"], lr=lr, min_lr=lr, weight_decay=OPTIM["weight_decay"],
                       grad_clip=OPTIM["grad_clip"], amp=amp, device=str(device), log_interval=10 ** 9)


class Ours:
    """The trainer's own step (Trainer._train_step) on a DINOObjective."""

    def __init__(self, objective: DINOObjective, cfg: dict, batch: int, total_steps: int, device: torch.device,
                 amp: str = "none", exp_dir: str = "."):
        self.objective = objective
        self.trainer = Trainer(objective, lambda *a: [], train_config(cfg, batch, total_steps, device, amp), exp_dir)
        self.trainer._setup()
        objective.begin_training(total_steps, total_steps)
        objective.train_mode()

    def step(self, batch: dict) -> float:
        loss, _ = self.trainer._train_step(batch)
        self.trainer.step += 1
        return loss


def set_fast_paths(objective: DINOObjective, channels_last: bool, skip_masks: bool) -> None:
    for net in (objective.student, objective.teacher):
        if hasattr(net, "channels_last"):
            net.channels_last = channels_last
        net.skip_full_masks = skip_masks


def build_variant(name: str, cfg: dict, batch: int, total_steps: int, device: torch.device, base: DINOObjective,
                  exp_dir: str):
    if name == "reference":
        return Reference(cfg, base, batch, total_steps, device)
    objective = copy.deepcopy(base)
    amp = {"ours-bf16": "bf16", "ours-fp16": "fp16"}.get(name, "none")
    if amp != "none" and device.type != "cuda":
        raise SystemExit(f"bench/dino_step.py: {name} needs --device cuda (the trainer uses AMP on CUDA only)")
    set_fast_paths(objective, channels_last=name not in ("ours-nchw", "before"), skip_masks=name != "ours-masked")
    variant = Ours(objective, cfg, batch, total_steps, device, amp, exp_dir)
    if name in ("ours-loop", "before"):  # the optimiser as it was: torch's per-tensor loop
        for group in variant.trainer.optimizer.param_groups:
            group["fused"], group["foreach"] = None, False
    if name == "ours-compile":
        for m in (objective.student, objective.teacher, objective.student_head, objective.teacher_head):
            m.compile(dynamic=False)  # one graph per crop length (dynamic shapes fail in inductor here)
    return variant


def make_batch(cfg: dict, batch: int, index: int, device: torch.device) -> dict:
    g = torch.Generator().manual_seed(1000 + index)
    G, L, Tg, Tl = cfg["num_global"], cfg["num_local"], cfg["global_frames"], cfg["local_frames"]
    dim = cfg["net"]["feat_dim"]
    out = {"global": torch.randn(G * batch, Tg, dim, generator=g),
           "global_lengths": torch.full((G * batch,), Tg, dtype=torch.int64),
           "local": torch.randn(L * batch, Tl, dim, generator=g),
           "local_lengths": torch.full((L * batch,), Tl, dtype=torch.int64)}
    return out if device.type == "cpu" else {k: v.to(device) for k, v in out.items()}


def time_steps(args, cfg: dict, device: torch.device) -> None:
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    if args.compile == "true" and "ours-compile" not in names:
        names.append("ours-compile")
    unknown = sorted(set(names) - set(VARIANTS))
    if unknown or "reference" not in names:
        raise SystemExit(f"bench/dino_step.py: --variants must include reference and name only {VARIANTS}; "
                         f"got unknown {unknown}" if unknown else "bench/dino_step.py: --variants needs reference")
    total = args.warmup + args.steps
    base = make_objective(cfg)
    nparams = sum(p.numel() for p in base.student.parameters())
    with tempfile.TemporaryDirectory() as exp:
        variants = {n: build_variant(n, cfg, args.batch, total, device, base, exp) for n in names}
        times = {n: [] for n in names}
        losses = {n: [] for n in names}
        first = {n: 0.0 for n in names}
        last = {n: 0.0 for n in names}
        cpu = {n: [] for n in names}
        for i in range(total):
            batch = make_batch(cfg, args.batch, i, device)
            order = names[i % len(names):] + names[:i % len(names)]
            for n in order:
                sync(device)
                t0, c0 = time.perf_counter(), time.process_time()
                losses[n].append(variants[n].step(batch))
                sync(device)
                dt = time.perf_counter() - t0
                last[n] = dt
                if i < args.warmup:
                    first[n] += dt
                else:
                    times[n].append(dt)
                    cpu[n].append(time.process_time() - c0)
            if args.verbose:
                print(f"  step {i + 1}: " + "  ".join(f"{n} {1e3 * last[n]:.0f} ms" for n in names), flush=True)
    ref, ref_cpu = statistics.median(times["reference"]), statistics.median(cpu["reference"])
    print(f"# {args.config}: {nparams:,d} network parameters, batch {args.batch} "
          f"({cfg['num_global']} x {cfg['global_frames']} + {cfg['num_local']} x {cfg['local_frames']} frames), "
          f"K={cfg['head']['out_dim']}, device {device}, threads {torch.get_num_threads()}, torch {torch.__version__}; "
          f"median of {args.steps} steps after {args.warmup} warm-up, alternated")
    print(f"{'variant':<13} {'ms/step':>9} {'ratio':>6} {'cpu ms':>9} {'ratio':>6} {'warm-up s':>9} "
          f"{'loss step 1':>12} {'|d| step 1':>10} {'max |d|':>9}  same loss (1e-4)")
    for n in names:
        med, med_cpu = statistics.median(times[n]), statistics.median(cpu[n])
        d1 = abs(losses[n][0] - losses["reference"][0])
        dmax = max(abs(a - b) for a, b in zip(losses[n], losses["reference"]))
        same = "-" if n == "reference" else ("yes" if d1 <= 1e-4 else "NO")
        print(f"{n:<13} {1e3 * med:>9.0f} {med / ref:>6.2f} {1e3 * med_cpu:>9.0f} {med_cpu / ref_cpu:>6.2f} "
              f"{first[n]:>9.1f} {losses[n][0]:>12.6f} {d1:>10.1e} {dmax:>9.1e}  {same}", flush=True)


# ------------------------------------------------------------------ loader wait

def loader_wait(args, cfg: dict, device: torch.device) -> None:
    """Steps of real training from features with --workers loader workers: the data-wait fraction."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from loader import make_data  # bench/loader.py's synthetic compressed-feature data dir

    from utter.data.dataset import multi_crop_loader_factory

    need = args.batch * 8
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / "data"
        d.mkdir()
        make_data(d, utts=need, frames=cfg["global_frames"] * 3)
        factory = multi_crop_loader_factory(str(d), batch_size=args.batch, num_workers=args.workers,
                                            global_frames=cfg["global_frames"], num_global=cfg["num_global"],
                                            local_frames=cfg["local_frames"], num_local=cfg["num_local"],
                                            min_frames=cfg["local_frames"], pin_memory=device.type == "cuda")
        amp = args.loader_amp if device.type == "cuda" else "none"
        ours = Ours(make_objective(cfg), cfg, args.batch, args.loader_steps + 1, device, amp, tmp)
        wait = steps = 0.0
        epoch, it = 0, iter(factory(0, 0, 1, 0))
        sync(device)
        t_start = None
        while steps < args.loader_steps + 1:
            t0 = time.perf_counter()
            try:
                batch = next(it)
            except StopIteration:
                epoch += 1
                it = iter(factory(epoch, 0, 1, 0))
                continue
            t1 = time.perf_counter()
            if t_start is None:  # the first batch (workers starting) is warm-up
                ours.step(batch)
                sync(device)
                t_start = time.perf_counter()
                steps = 1
                continue
            wait += t1 - t0
            ours.step(batch)
            steps += 1
        sync(device)
        wall = time.perf_counter() - t_start
    n = args.loader_steps
    print(f"# loader: {n} steps of {args.config} batch {args.batch} from a compressed-feature ark, "
          f"{args.workers} workers, device {device}, amp {amp}")
    print(f"wall {wall:.1f} s = {1e3 * wall / n:.0f} ms/step; waiting for data {wait:.1f} s = "
          f"{100 * wait / wall:.1f} % (goal < 15 %)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="resnet34", choices=sorted(CONFIGS))
    p.add_argument("--batch", type=int, default=4, help="utterances per step (each gives all its crops)")
    p.add_argument("--steps", type=int, default=5, help="timed steps per variant (median reported)")
    p.add_argument("--warmup", type=int, default=1, help="untimed first steps per variant (allocator, kernels, "
                   "compilation)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (ours-bf16/ours-fp16 and the GPU check)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default, all cores)")
    p.add_argument("--variants", default="reference,ours", help=f"comma-separated, from {', '.join(VARIANTS)}")
    p.add_argument("--compile", default="false", choices=["true", "false"],
                   help="true: also time ours-compile (torch.compile'd networks and heads; "
                   "as --variants ...,ours-compile)")
    p.add_argument("--loader-steps", type=int, default=0, help="also time this many steps of training from "
                   "features through the loader (200 for the GPU check); 0: skip")
    p.add_argument("--workers", type=int, default=2, help="loader workers for --loader-steps")
    p.add_argument("--loader-amp", default="bf16", choices=["bf16", "fp16", "none"],
                   help="mixed precision of the --loader-steps run on CUDA (the trainer's --amp; none on CPU)")
    p.add_argument("--verbose", action="store_true", help="print every step's times")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cfg = CONFIGS[args.config]
    if args.steps > 0:
        time_steps(args, cfg, device)
    if args.loader_steps > 0:
        loader_wait(args, cfg, device)


if __name__ == "__main__":
    main()
