"""Stage-program parsing: Kaldi-style config files, command line wins, booleans, exit codes."""
import pytest

from utter.atomic import atomic_open, outputs_complete
from utter.bin import common
from utter.data.datadir import DataDir, DataDirError, read_table, utt2spk_to_spk2utt, write_table


def _parser():
    p = common.make_parser("test")
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--use-vad", type=common.str2bool, default=True)
    p.add_argument("--name", default="x")
    return p


def test_config_then_command_line_wins(tmp_path):
    conf = tmp_path / "a.conf"
    conf.write_text("# comment\n--lr=0.5  # trailing comment\n--use-vad=false\n--name=conf\n")
    args = common.parse_args(_parser(), ["--config", str(conf), "--name", "cli"])
    assert args.lr == 0.5 and args.use_vad is False and args.name == "cli"


def test_bad_config_line_and_bad_bool(tmp_path, capsys):
    conf = tmp_path / "bad.conf"
    conf.write_text("lr=0.5\n")
    with pytest.raises(SystemExit):
        common.parse_args(_parser(), ["--config", str(conf)])
    assert "bad.conf:1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        common.parse_args(_parser(), ["--use-vad", "yes"])
    assert "expected true or false" in capsys.readouterr().err


def test_bad_config_value_names_the_file_and_line(tmp_path, capsys):
    """A value of the wrong type or outside the choices in a conf is named by file and line (argparse
    alone names only the option, which sends a user looking through every conf of a run)."""
    p = _parser()
    p.add_argument("--arch", choices=("tdnn", "ecapa"), default="tdnn")
    for text, said in (("--name=a\n--lr=fast\n", "v.conf:2: bad value 'fast' for --lr"),
                       ("--use-vad=yes\n", "v.conf:1: bad value 'yes' for --use-vad (expected true or false"),
                       ("# x\n\n--arch=resnet9\n", "v.conf:3: --arch must be one of tdnn, ecapa, got 'resnet9'")):
        conf = tmp_path / "v.conf"
        conf.write_text(text)
        with pytest.raises(SystemExit):
            common.parse_args(p, ["--config", str(conf)])
        assert said in capsys.readouterr().err
    conf.write_text("--lr=0.25\n--arch=ecapa\n--use-vad=false\n")
    args = common.parse_args(p, ["--config", str(conf)])
    assert (args.lr, args.arch, args.use_vad) == (0.25, "ecapa", False)


def test_run_turns_errors_into_one_line(capsys):
    def main(args):
        raise ValueError("utterance u1: broken")
    assert common.run(main, _parser(), []) == 1
    err = capsys.readouterr().err
    assert "error: utterance u1: broken" in err and "Traceback" not in err


def test_table_roundtrip_sorted_c_order(tmp_path):
    write_table(tmp_path / "utt2spk", {"b-1": "b", "a_2": "a", "a-1": "a", "B-1": "B"})
    # LC_ALL=C: uppercase before lowercase, '-' (0x2d) before '_' (0x5f)
    assert (tmp_path / "utt2spk").read_text().splitlines() == ["B-1 B", "a-1 a", "a_2 a", "b-1 b"]
    d = DataDir(tmp_path)
    assert d.utts == ["B-1", "a-1", "a_2", "b-1"]
    assert utt2spk_to_spk2utt(d.utt2spk) == {"B": ["B-1"], "a": ["a-1", "a_2"], "b": ["b-1"]}


def test_table_errors_name_file_and_line(tmp_path):
    (tmp_path / "utt2spk").write_text("u1 s1\nu1 s2\n")
    with pytest.raises(DataDirError, match=r"utt2spk:2: duplicate key 'u1'"):
        read_table(tmp_path / "utt2spk")
    (tmp_path / "utt2spk").write_text("u1 s1\nu2\n")
    with pytest.raises(DataDirError, match=r"utt2spk:2: key 'u2' has no value"):
        read_table(tmp_path / "utt2spk")


def test_atomic_open_leaves_target_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_open(target) as f:
            f.write("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old\n"
    assert list(tmp_path.iterdir()) == [target]
    with atomic_open(target) as f:
        f.write("new\n")
    assert target.read_text() == "new\n"
    assert outputs_complete([target])
    assert not outputs_complete([target, tmp_path / "missing"])


def test_config_items_shared_by_conf_readers(tmp_path):
    from utter.config import ConfigError, config_argv, config_items
    from utter.data.options import FbankOptions

    (tmp_path / "base.conf").write_text("--num-mel-bins=40\n")
    (tmp_path / "top.conf").write_text("--config=base.conf\n--low-freq=30 # Hz\n--dither=0\n")
    assert config_argv(tmp_path / "top.conf") == ["--num-mel-bins", "40", "--low-freq", "30", "--dither", "0"]
    assert config_items("--a=1\n\n# x\n--b=two words\n") == [(1, "--a", "1"), (4, "--b", "two words")]
    with pytest.raises(ConfigError, match="<conf>:1: expected --option=value"):
        config_items("--a b=1\n")
    opts = FbankOptions.from_conf(tmp_path / "base.conf")
    assert opts.num_mel_bins == 40
    with pytest.raises(ValueError, match="bad.conf:2"):
        (tmp_path / "bad.conf").write_text("--dither=0\nnum-mel-bins=3\n")
        FbankOptions.from_conf(tmp_path / "bad.conf")


def test_atomic_outputs_get_ordinary_permissions(tmp_path):
    import os
    old = os.umask(0o022)
    try:
        with atomic_open(tmp_path / "f") as f:
            f.write("x")
    finally:
        os.umask(old)
    assert (tmp_path / "f").stat().st_mode & 0o777 == 0o644


def _bin_programs() -> list[str]:
    import pkgutil

    import utter.bin
    return sorted(m.name for m in pkgutil.iter_modules(utter.bin.__path__)
                  if m.name not in ("common", "train_common"))


@pytest.mark.parametrize("program", _bin_programs())
def test_help_states_each_default_once(program):
    """Every stage program's --help: no option says its default twice, none shows an empty or None
    default, and every Kaldi option (fbank, VAD) has a help text."""
    import importlib

    parser = importlib.import_module(f"utter.bin.{program}").build_parser()
    for action in parser._actions:
        text = parser.formatter_class(prog="x")._get_help_string(action) if action.help else ""
        assert text.count("(default:") <= 1, (program, action.dest, text)
        assert "(default: )" not in text and "(default: None)" not in text, (program, action.dest, text)
    for group in parser._action_groups:
        if "Kaldi option names" in (group.title or ""):
            assert all(a.help for a in group._group_actions), (program, group.title)
