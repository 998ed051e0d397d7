"""The extension points stay honest (DESIGN.md "Adding things"): an objective that lives in one module
of its own, registered by name and found by no list, trains end to end through the step script the
recipes use (steps/train_nnet.sh --program train_ssl), and the recipes' systems list (utils/recipe_lib.sh)
gives each system's kind, name and training program.
"""
from __future__ import annotations

import subprocess
import textwrap

import pytest
import torch
from test_train_stages import FEAT_DIM, TINY_NET, write_feature_set

from utter.train.checkpoint import load_checkpoint, load_embedder

#: a whole objective in one module outside the package: the views it needs, its options, its loss
TOY = textwrap.dedent('''
    import torch
    from utter.train.objectives.base import Objective
    from utter.train.objectives.registry import CropViews, ObjectiveSpec, register_objective

    class ToyAgreement(Objective):
        """The two views of an utterance agree; the batch's embeddings keep unit spread."""

        def __init__(self, network, weight):
            self.model, self.weight = network, weight

        def modules(self):
            return {"model": self.model}

        def loss(self, batch):
            z = self.model(batch["global"], batch["global_lengths"])
            a, b = z.chunk(2)
            spread = torch.relu(1.0 - z.std(dim=0)).mean()
            loss = (a - b).pow(2).mean() + self.weight * spread
            return loss, {"spread": float(spread)}

    def add_arguments(group):
        group.add_argument("--spread-weight", type=float, default=1.0, help="weight of the spread term")
        group.add_argument("--crop-frames", type=int, default=100, help="frames of each of the two views")

    register_objective(ObjectiveSpec(
        name="toy_agreement", summary="a test's toy", add_arguments=add_arguments,
        views=lambda args: CropViews(global_frames=args.crop_frames, num_global=2),
        build=lambda network, args, specaug: ToyAgreement(network, args.spread_weight)))
''')


def test_toy_objective_trains_through_the_step_script(tmp_path, root, shell_env):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "toy_agreement.py").write_text(TOY)
    data = write_feature_set(tmp_path / "train")
    conf = tmp_path / "toy_agreement.conf"
    conf.write_text("--objective=toy_agreement\n--spread-weight=0.5\n--crop-frames=90\n" + "".join(
        f"{k}={v}\n" for k, v in zip(TINY_NET[::2], TINY_NET[1::2])) + "--batch-size=4\n--warmup-steps=1\n")
    env = {**shell_env, "PYTHONPATH": f"{plugins}:{shell_env.get('PYTHONPATH', '')}"}
    exp = tmp_path / "exp"
    done = subprocess.run([str(root / "steps/train_nnet.sh"), "--program", "train_ssl", "--train-config", str(conf),
                           "--train-opts", "--max-steps 2 --seed 3", str(data), str(exp)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    log = (exp / "log/train.log").read_text() if (exp / "log/train.log").exists() else ""
    assert done.returncode == 0, done.stderr + log
    state = load_checkpoint(exp / "final.pt")
    assert state["step"] == 2
    config = (exp / "config.json").read_text()
    assert '"objective": "toy_agreement"' in config and '"spread_weight": 0.5' in config
    assert "spread" in (exp / "train_log.tsv").read_text().splitlines()[0]
    with torch.no_grad():
        assert load_embedder(exp / "final.pt")(torch.randn(1, 90, FEAT_DIM), torch.tensor([90])).shape == (1, 24)
    # an objective nobody registered: the program says which ones exist
    bad = conf.with_name("bad.conf")
    bad.write_text("--objective=no_such_objective\n")
    done = subprocess.run([str(root / "steps/train_nnet.sh"), "--program", "train_ssl", "--train-config", str(bad),
                           str(data), str(tmp_path / "exp_bad")], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode != 0
    assert "unknown objective 'no_such_objective'" in (tmp_path / "exp_bad/log/train.log").read_text()


def _recipe_lib(root, script: str, env) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", "set -euo pipefail; . utils/recipe_lib.sh; say() { echo \"say: $*\"; }; "
                           + script], cwd=root, env=env, capture_output=True, text=True)


def test_systems_list_gives_kind_name_and_seed_replicas(root, shell_env):
    done = _recipe_lib(root, 'pretrain_seeds="0 2"; systems="dino:dino xvector:xvector ssl:ntxent dino:dino_ecapa"; '
                       'recipe_systems; echo "$systems|$(systems_of_kind dino)|$(kind_of ntxent)|$(kind_of dino_p2)|'
                       '$(system_names $system_list)"', shell_env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == (
        "dino xvector ntxent dino_ecapa dino_p2 xvector_p2 ntxent_p2 dino_ecapa_p2|dino dino_ecapa|ssl|dino|"
        "dino xvector ntxent dino_ecapa")


def test_old_system_variables_are_read_as_kinds(root, shell_env):
    done = _recipe_lib(root, 'pretrain_seeds=0; systems=; dino_systems="dino"; sup_systems="xvector"; '
                       'recipe_systems; echo "$system_list"', shell_env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "dino:dino xvector:xvector"
    assert 'read as systems="dino:dino xvector:xvector"' in done.stdout


@pytest.mark.parametrize("systems,needle", [("dino", "'dino' (conf/recipe.conf) is not KIND:NAME"),
                                            ("", "systems is empty")])
def test_bad_systems_list_is_named(root, shell_env, systems, needle):
    done = _recipe_lib(root, f'pretrain_seeds=0; systems="{systems}"; recipe_systems', shell_env)
    assert done.returncode != 0 and needle in done.stderr


def test_downstream_recipes_transfer_a_third_system_by_its_name(root, shell_env, tmp_path):
    """egs/iemocap and egs/adress name their pretrained systems by egs/voxceleb's NAMEs (a KIND:NAME copied
    from there is read as NAME), each of each pretraining seed; pretrained_exp finds every one's model."""
    exp = tmp_path / "vox_exp"
    for sys in ("dino", "xvector", "ntxent", "dino_p3", "ntxent_p3"):
        (exp / sys).mkdir(parents=True)
        (exp / sys / "final.pt").write_text("")
    rdir = tmp_path / "recipe"
    rdir.mkdir()
    script = (f'cd {rdir}; mini=false; pretrain_seeds="0 3"; systems="dino:dino xvector ssl:ntxent"; '
              f'ablation_systems="ntxent"; pretrained_exp={exp}; xvector_model={exp}/xvector/final.pt; '
              f'. {root}/utils/recipe_lib.sh; say() {{ echo "say: $*"; }}; '
              'pretrained_systems systems ablation_systems; echo "$systems|$ablation_systems"; ')
    done = _recipe_lib(root, script + "link_pretrained_models; readlink exp/pretrained/ntxent_p3/final.pt", shell_env)
    assert done.returncode == 1, done.stdout   # no xvector_p3: beside xvector_model, absent
    lines = done.stdout.splitlines()
    assert "dino xvector ntxent dino_p3 xvector_p3 ntxent_p3|ntxent ntxent_p3" in lines
    assert f"say: exp/pretrained/ntxent/final.pt -> {exp}/ntxent/final.pt" in lines
    assert f"{exp}/xvector_p3/final.pt: no such file" in done.stderr
    done = _recipe_lib(root, script.replace("xvector ssl:ntxent", "ssl:ntxent").replace("xvector_model=", "x=")
                       + "link_pretrained_models; readlink exp/pretrained/ntxent_p3/final.pt", shell_env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == f"{exp}/ntxent_p3/final.pt"
    done = _recipe_lib(root, script.replace('ablation_systems="ntxent"', 'ablation_systems="dino_ecapa"'), shell_env)
    assert done.returncode == 1 and "ablation_systems names 'dino_ecapa', which is not among" in done.stderr
