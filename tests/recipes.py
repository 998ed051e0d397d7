"""Run a recipe (egs/<name>/run.sh) in a temporary copy, so tests never write into egs/.

The copy is ``TMP/egs/<name>/`` with run.sh, cmd.sh and path.sh linked to the repository's,
``conf/`` copied (so a test may override ``conf/mini/*`` files), and ``steps``, ``utils``,
``local`` linking to ``TMP/{steps,utils,local}``, which (like ``tools``, ``pylib`` and
``setup.py``) link to the repository: the recipe runs the repository's code unchanged.

Fixtures (session scope; registered through ``pytest_plugins`` of tests/conftest.py). Each is a
recipe run that :func:`pytest_collection_modifyitems` starts in a background thread as soon as the
tests are collected, when a selected test needs it (:class:`BackgroundRuns`); the tests that need
one are moved to the end, so the other tests run while the recipes do, on the other core:
  voxceleb_mini_run  the recipe directory (Path) of a reduced ``egs/voxceleb/run.sh --mini true``
                     run (tiny corpora and networks, :data:`VOXCELEB_REDUCED`), all stages done:
                     ``exp/dino/final.pt``, ``exp/xvector/final.pt``, embeddings, scores, result
                     JSON files and RESULTS.md. Read it; do not write into it.
  voxceleb_mini_trained  the recipe directory (Path) of ``egs/voxceleb/run.sh --mini true --stop-stage 5``
                     with the shipped conf/mini settings (the README's first command, up to training):
                     the mini corpora at scale 1 and ``exp/{dino,xvector}/final.pt`` as a user gets
                     them; the training-quality checks of issue 6 read it.
  mini_vox_feats     from the reduced run: {'train': VoxCeleb2-dev dir with feats.scp and vad.scp,
                     'test': VoxCeleb1 dir, 'trials_O': the O trial list}.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINKED = ("tools", "steps", "utils", "local", "pylib", "setup.py")
RECIPE_FILES = ("run.sh", "cmd.sh", "path.sh")

#: conf/mini overrides of the reduced VoxCeleb run (file name -> full text): a small simulated
#: corpus, tiny networks and a few dozen steps, so the whole recipe runs in about two minutes on
#: two cores. Checkpoints every few steps, so a killed run has something to resume from.
_TINY_NET = """--arch=lresnet34
--base-channels=4
--blocks=1,1,1,1
--embed-dim=32
"""
VOXCELEB_REDUCED: dict[str, str] = {
    "dino.conf": "# reduced DINO for the test suite (tests/recipes.py)\n" + _TINY_NET + """--global-frames=120
--num-global=2
--local-frames=60
--num-local=2
--out-dim=256
--head-hidden=64
--head-bottleneck=32
--head-layers=3
--student-temp=0.1
--teacher-temp=0.04
--teacher-momentum=0.99
--optimizer=adam
--lr=0.005
--lr-reference-batch=8
--batch-size=8
--warmup-steps=4
--freeze-last-layer-steps=4
--total-steps=20
--checkpoint-interval=4
--keep-last=2
--average-last=1
--log-interval=4
""",
    "xvector.conf": "# reduced supervised model for the test suite (tests/recipes.py)\n" + _TINY_NET + """\
--chunk-frames=120
--balanced=true
--aam-scale=30
--aam-margin=0.2
--margin-warmup-steps=8
--optimizer=adam
--lr=0.01
--batch-size=16
--warmup-steps=4
--total-steps=20
--checkpoint-interval=4
--keep-last=2
--average-last=1
--log-interval=4
""",
    "recipe.conf": "# reduced run for the test suite (tests/recipes.py): one thread per job, the O list only\n"
                   "default_nj=2\ntrain_threads=1\ntrain_workers=0\nextract_threads=1\ntrial_lists=O\n",
    "pseudo.conf": "# reduced run: no pseudo-label rounds (stages 9-11 skipped)\npseudo_rounds=0\n",
    "backend.conf": "# reduced back-end settings for the test suite (tests/recipes.py)\n"
                    "calib_num_speakers=3\ncalib_num_trials=400\nlda_dim=8\nasnorm_top_n=5\n",
}
VOXCELEB_REDUCED_ARGS = ("--mini", "true", "--mini-scale", "small")


def recipe_copy(name: str, dest: Path, conf_overrides: Mapping[str, str] | None = None) -> Path:
    """A runnable copy of egs/<name> under ``dest`` (see the module doc); returns its directory.

    ``conf_overrides`` maps file names under ``conf/mini/`` to the text written there.
    """
    src = ROOT / "egs" / name
    if not (src / "run.sh").is_file():
        raise FileNotFoundError(f"{src}/run.sh: no such recipe")
    dest.mkdir(parents=True, exist_ok=True)
    for item in LINKED:
        link = dest / item
        if not link.exists():
            link.symlink_to(ROOT / item)
    rdir = dest / "egs" / name
    rdir.mkdir(parents=True, exist_ok=True)
    for f in RECIPE_FILES:
        if (src / f).exists() and not (rdir / f).exists():
            (rdir / f).symlink_to(src / f)
    for item in ("steps", "utils", "local"):
        if not (rdir / item).exists():
            (rdir / item).symlink_to(Path("../..") / item)
    if not (rdir / "conf").exists():
        shutil.copytree(src / "conf", rdir / "conf")
    for fname, text in (conf_overrides or {}).items():
        (rdir / "conf" / "mini" / fname).parent.mkdir(parents=True, exist_ok=True)
        (rdir / "conf" / "mini" / fname).write_text(text)
    return rdir


def recipe_env() -> dict[str, str]:
    """The environment a recipe runs in: the test interpreter's venv first on PATH, 1 thread."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    env["LC_ALL"] = "C"
    env["PYTHONUNBUFFERED"] = "1"
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[var] = "1"
    return env


def run_recipe(rdir: Path, args: Sequence[str], *, timeout: float = 900, log_name: str = "run.log",
               check: bool = True, started: Callable[[subprocess.Popen], None] | None = None
               ) -> subprocess.CompletedProcess:
    """Run ``rdir/run.sh args`` to the end; stdout+stderr go to ``rdir/<log_name>``. ``started`` is
    called with the process as soon as it runs (so that it can be killed from outside)."""
    log = rdir / log_name
    cmd = ["bash", str(rdir / "run.sh"), *args]
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, cwd=rdir, env=recipe_env(), stdout=f, stderr=subprocess.STDOUT)
        if started is not None:
            started(proc)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_tree(proc.pid)
            proc.wait()
            raise AssertionError(f"{rdir}/run.sh {' '.join(args)}: not done within {timeout} s:\n"
                                 + log.read_text()[-6000:]) from None
    done = subprocess.CompletedProcess(cmd, proc.returncode)
    if check and done.returncode != 0:
        raise AssertionError(f"{rdir}/run.sh {' '.join(args)} failed ({done.returncode}):\n"
                             + log.read_text()[-6000:])
    return done


def _children() -> dict[int, list[int]]:
    """Parent pid -> child pids, from /proc (Linux)."""
    out: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        out.setdefault(ppid, []).append(int(entry))
    return out


def _descendants(pid: int) -> list[int]:
    tree, out, todo = _children(), [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(tree.get(p, []))
    return out


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and every process it started, even those in their own sessions (as a
    crashed machine would): stop the whole tree first so no new child escapes, then kill it."""
    stopped: set[int] = set()
    while True:
        procs = [p for p in _descendants(pid) if p not in stopped]
        if not procs:
            break
        for p in procs:
            try:
                os.kill(p, signal.SIGSTOP)
            except ProcessLookupError:
                pass
            stopped.add(p)
    for p in stopped:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


def run_recipe_until(rdir: Path, args: Sequence[str], ready: Callable[[], bool], *, timeout: float = 600,
                     log_name: str = "killed.log", started: Callable[[subprocess.Popen], None] | None = None
                     ) -> bool:
    """Start ``rdir/run.sh args``, SIGKILL its whole process tree as soon as ``ready()`` holds.

    Returns True when it was killed, False when it finished first (``ready`` never held).
    ``started`` as in :func:`run_recipe`.
    """
    log = open(rdir / log_name, "w")
    proc = subprocess.Popen(["bash", str(rdir / "run.sh"), *args], cwd=rdir, env=recipe_env(),
                            stdout=log, stderr=subprocess.STDOUT)
    if started is not None:
        started(proc)
    start = time.monotonic()
    try:
        while proc.poll() is None:
            if ready():
                kill_tree(proc.pid)
                proc.wait()
                return True
            if time.monotonic() - start > timeout:
                kill_tree(proc.pid)
                proc.wait()
                raise AssertionError(f"{rdir}/run.sh {' '.join(args)}: no kill point within {timeout} s")
            time.sleep(0.05)
        return False
    finally:
        log.close()


# ---------------------------------------------------------------- background runs

class BackgroundRuns:
    """The session's recipe runs, each in a thread of its own, at most ``slots`` at once (the machine
    has two cores; the foreground tests take their share). A run waits for the runs it builds on
    before it takes a slot; :meth:`result` waits for a run (starting it if nobody has) and re-raises
    its failure in the test that asked."""

    def __init__(self, factory: pytest.TempPathFactory, slots: int = 2):
        self.factory = factory
        factory.getbasetemp()   # made here, in the main thread: threads making it at once would race
        self.slots = threading.Semaphore(slots)
        self.builders: dict[str, tuple[Callable[[BackgroundRuns], Path], tuple[str, ...]]] = {}
        self.threads: dict[str, threading.Thread] = {}
        self.results: dict[str, Path] = {}
        self.errors: dict[str, BaseException] = {}
        self.procs: list[subprocess.Popen] = []
        self.stopped = False
        self.lock = threading.Lock()

    def mktemp(self, name: str) -> Path:
        """A new temporary directory (the factory's numbering is not thread-safe: one at a time)."""
        with self.lock:
            return self.factory.mktemp(name)

    def define(self, name: str, build: Callable[[BackgroundRuns], Path], needs: Sequence[str] = ()) -> None:
        """``build(self)`` makes the run ``name``; it may call :meth:`result` of the runs in ``needs``."""
        self.builders[name] = (build, tuple(needs))

    def start(self, name: str) -> None:
        with self.lock:
            if name in self.threads:
                return
            build, needs = self.builders[name]
            thread = threading.Thread(target=self._run, args=(name, build, needs), name=name, daemon=True)
            self.threads[name] = thread
        thread.start()

    def _run(self, name: str, build: Callable, needs: Sequence[str]) -> None:
        try:
            for dep in needs:
                self.result(dep)
            with self.slots:
                self.results[name] = build(self)
        except BaseException as e:   # re-raised in every test that needs the run
            self.errors[name] = e

    def result(self, name: str) -> Path:
        self.start(name)
        self.threads[name].join()
        if name in self.errors:
            raise AssertionError(f"the background recipe run {name} failed") from self.errors[name]
        return self.results[name]

    def recipe(self, rdir: Path, args: Sequence[str], **kw) -> subprocess.CompletedProcess:
        """:func:`run_recipe` with the process kept, so the end of the session can stop it."""
        return run_recipe(rdir, args, timeout=kw.pop("timeout", 1800), started=self._started, **kw)

    def recipe_until(self, rdir: Path, args: Sequence[str], ready: Callable[[], bool], **kw) -> bool:
        """:func:`run_recipe_until` with the process kept, as :meth:`recipe`."""
        return run_recipe_until(rdir, args, ready, timeout=kw.pop("timeout", 1200), started=self._started, **kw)

    def _started(self, proc: subprocess.Popen) -> None:
        with self.lock:
            self.procs.append(proc)
            if self.stopped:   # the session ended while this run was being set up
                kill_tree(proc.pid)

    def stop(self) -> None:
        """Kill what still runs (a session ended early, e.g. by ``-x``); and what starts later."""
        with self.lock:
            self.stopped = True
            for proc in self.procs:
                if proc.poll() is None:
                    kill_tree(proc.pid)


BACKGROUND = pytest.StashKey[BackgroundRuns]()
#: More run definitions: tests/recipes_downstream.py and tests/egs/test_custom_corpus.py add theirs here
#: (``pytest_configure``, or at import), each a function that calls :meth:`BackgroundRuns.define`.
DEFINERS = pytest.StashKey[list]()


def background(config: pytest.Config) -> BackgroundRuns:
    """The session's :class:`BackgroundRuns` (made on first use, with every run defined)."""
    if BACKGROUND not in config.stash:
        runs = BackgroundRuns(config._tmp_path_factory)
        for define in (define_voxceleb_runs, *config.stash.get(DEFINERS, [])):
            define(runs)
        config.stash[BACKGROUND] = runs
    return config.stash[BACKGROUND]


def define_voxceleb_runs(runs: BackgroundRuns) -> None:
    def reduced(r: BackgroundRuns) -> Path:
        rdir = recipe_copy("voxceleb", r.mktemp("voxceleb_mini"), VOXCELEB_REDUCED)
        r.recipe(rdir, VOXCELEB_REDUCED_ARGS)
        return rdir

    def trained(r: BackgroundRuns) -> Path:
        rdir = recipe_copy("voxceleb", r.mktemp("voxceleb_mini_trained"))
        r.recipe(rdir, ["--mini", "true", "--stop-stage", "5"], log_name="run_0-5.log")
        return rdir

    def killed(r: BackgroundRuns) -> dict:
        """A copy of the reduced run (its data, stages 0-3) SIGKILLed in DINO training, then again in
        the extraction of the resumed run, then resumed to the end of extraction (--stage 6 --stop-stage 6)."""
        ref = r.result("voxceleb_mini_run")
        rdir = recipe_copy("voxceleb", r.mktemp("voxceleb_killed"), VOXCELEB_REDUCED)
        shutil.copytree(ref / "data", rdir / "data", symlinks=True)
        args = list(VOXCELEB_REDUCED_ARGS)
        dino, emb = rdir / "exp/dino", rdir / "exp/xvector/emb"
        out = {"dir": rdir, "ref": ref}
        out["killed_training"] = r.recipe_until(rdir, args + ["--stage", "4"], lambda: any(dino.glob("ckpt-*.pt")),
                                                log_name="killed_training.log")
        out["final_after_first_kill"] = (dino / "final.pt").exists()

        def extracting() -> bool:
            return (emb / "voxceleb2_dev/xvector.scp").exists() and any(emb.glob("voxceleb2_dev_heldout/log/extract.*"))
        out["killed_extraction"] = r.recipe_until(rdir, args + ["--stage", "4"], extracting,
                                                  log_name="killed_extraction.log")
        out["heldout_after_second_kill"] = (emb / "voxceleb2_dev_heldout/xvector.scp").exists()
        out["train_log"] = (dino / "log/train.log").read_text()
        r.recipe(rdir, args + ["--stage", "6", "--stop-stage", "6"], log_name="resumed.log")
        return out

    runs.define("voxceleb_mini_trained", trained)   # the longest: it starts first
    runs.define("voxceleb_mini_run", reduced)
    runs.define("voxceleb_killed_resumed", killed, needs=["voxceleb_mini_run"])


#: The order the runs are likely to finish in (the tests that need them run in this order, last).
FINISH_ORDER = ("custom_run", "voxceleb_mini_run", "iemocap_mini_emb", "adress_mini_run", "iemocap_mini_run",
                "voxceleb_killed_resumed", "voxceleb_mini_trained")
#: The niceness of the thread that runs the tests while background runs go on: the recipe runs are
#: the critical path (the tests that read them wait at the end), so they get the cores first and
#: the other tests take what is left (Linux: niceness is per thread, and a process inherits it
#: from the thread that started it).
FOREGROUND_NICENESS = 5


@pytest.hookimpl(trylast=True)   # after -k / -m have deselected: only what the selected tests need
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list) -> None:
    """Start the background runs the selected tests need (in definition order: the longest first),
    and move those tests to the end, in the order their runs are likely to finish
    (:data:`FINISH_ORDER`), so that the other tests run meanwhile."""
    runs = background(config)
    wanted = [name for name in runs.builders if any(name in item.fixturenames for item in items)]
    if not wanted or config.option.collectonly:
        return
    rank = {name: i for i, name in enumerate(FINISH_ORDER)}

    def last_needed(item) -> int:
        return max((rank.get(n, len(rank)) + 1 for n in wanted if n in item.fixturenames), default=0)

    items[:] = sorted(items, key=last_needed)   # stable: the file order within each group
    for name in wanted:
        runs.start(name)
    if hasattr(os, "setpriority") and hasattr(threading, "get_native_id"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), FOREGROUND_NICENESS)
        except OSError:
            pass


def pytest_sessionfinish(session: pytest.Session) -> None:
    if BACKGROUND in session.config.stash:
        session.config.stash[BACKGROUND].stop()


@pytest.fixture(scope="session")
def voxceleb_mini_run(request) -> Path:
    """A reduced ``egs/voxceleb/run.sh --mini true`` run, all stages (the module doc)."""
    return background(request.config).result("voxceleb_mini_run")


@pytest.fixture(scope="session")
def voxceleb_mini_trained(request) -> Path:
    """``egs/voxceleb/run.sh --mini true --stop-stage 5`` with the shipped conf/mini files (see the module doc)."""
    return background(request.config).result("voxceleb_mini_trained")


@pytest.fixture(scope="session")
def voxceleb_killed_resumed(request) -> dict:
    """The reduced run killed twice and resumed (the ``killed`` run above): its dir, the reference dir,
    and what was seen at each kill."""
    return background(request.config).result("voxceleb_killed_resumed")


@pytest.fixture(scope="session")
def mini_vox_feats(voxceleb_mini_run) -> dict[str, Path]:
    """Features of the reduced VoxCeleb run: training and test dirs, O trials."""
    d = voxceleb_mini_run / "data"
    return {"train": d / "voxceleb2_dev", "test": d / "voxceleb1", "trials_O": d / "voxceleb1_trials/O"}
