"""fix_data_dir.sh: every table sorted, and filtered to the utterances, speakers and recordings
that every table Kaldi knows has."""
from __future__ import annotations

import os
from collections.abc import Sequence
from itertools import islice

from utter.data.datadir import DataDirError
from utter.data.dirtools.speakers import grouped_by_speaker, spk2utt_build, utt2spk_pairs
from utter.data.dirtools.tables import (
    UTT_FILES,
    DirTables,
    Say,
    Table,
    copy_file,
    filter_table,
    has_file,
    is_sorted,
    keys_are,
    recordings_of,
    say_stdout,
    sort_unique_by_key,
    sorted_by_speaker,
    write_lines,
)

#: The tables fix_data_dir.sh sorts (sort -k1,1 -u) and backs up first.
FIX_SORTED = ("utt2spk", "spk2utt", "feats.scp", "text", "segments", "wav.scp", "cmvn.scp", "vad.scp",
              "reco2file_and_channel", "spk2gender", "utt2lang", "utt2uniq", "utt2dur", "reco2dur",
              "utt2num_frames")


def _positive_keys(t: Table) -> set[bytes] | None:
    """Keys of the lines of two fields whose second is a number > 0 (awk's ``NF == 2 && $2 > 0``);
    None when that is every line."""
    if t.simple:
        vals = [line.partition(b" ")[2] for line in t.lines]
        try:
            nums = list(map(float, vals))        # fails on a third field (or a non-number)
        except ValueError:
            pass
        else:
            if nums and min(nums) > 0:
                return None
            return {k for k, v in zip(t.keys, nums) if v > 0}
    out = set()
    for line in t.lines:
        f = line.split()
        if len(f) == 2:
            try:
                if float(f[1]) > 0:
                    out.add(f[0])
            except ValueError:
                pass
    return out


class _Fixer:
    """One run of fix_data_dir.sh over the tables of a data dir: read once, changed in memory
    (each change backed up to ``DATA/.backup/`` first), written at the end."""

    def __init__(self, data: str, d: DirTables, utt_extra: list[str], spk_extra: list[str], prog: str, say: Say):
        self.data, self.d, self.prog, self.say = data, d, prog, say
        self.utt_extra, self.spk_extra = utt_extra, spk_extra
        self.backup = os.path.join(data, ".backup")
        self.backed_up: dict[str, int] = {}            # table -> the version its backup holds
        self.utt_keyed = set(UTT_FILES) | set(utt_extra) | ({"wav.scp", "reco2dur"} if not d.has("segments")
                                                             else set())
        self._pairs: dict[int, list[tuple[bytes, bytes]]] = {}                  # by utt2spk's version
        self._spk2utt: dict[int, tuple[list[bytes], list[list[bytes]]]] = {}  # by utt2spk's version

    def run(self) -> None:
        self.sort_tables()
        self.filter_recordings()
        self.filter_speakers()
        self.filter_utts()
        self.filter_speakers()
        self.filter_recordings()
        d = self.d
        s2u, groups = self.spk2utt_now()
        if s2u != d.get("spk2utt").lines:
            d.set("spk2utt", s2u, [g[0] for g in groups], simple=True)
        d.flush(order=[n for n in d.dirty if n not in ("utt2spk", "spk2utt")] + ["spk2utt", "utt2spk"])
        self.say(f"fix_data_dir.sh: old files are kept in {self.data}/.backup")

    def save_backup(self, name: str) -> None:
        d = self.d
        t = d.get(name)
        v = d.version.get(name, 0)
        if self.backed_up.get(name) == v:
            return          # the backup already holds exactly this
        if t.on_disk:
            copy_file(d.file(name), os.path.join(self.backup, name))
        else:
            write_lines(os.path.join(self.backup, name), t.lines)
        self.backed_up[name] = v

    def sort_tables(self) -> None:
        """Back up and ``sort -k1,1 -u`` every table (one keyed exactly as utt2spk is left as it is)."""
        d = self.d
        utt_sp: list[bytes] | None = None
        for x in dict.fromkeys(list(FIX_SORTED) + self.utt_extra + self.spk_extra):
            if d.has(x):
                self.save_backup(x)
                t = d.get(x)
                if utt_sp is not None and t.simple and x in self.utt_keyed and keys_are(t, utt_sp):
                    t._keys = d.get("utt2spk").keys        # the same (sorted, unique) keys as utt2spk
                    continue
                if sort_unique_by_key(t):
                    self.say(f"{self.prog}: file {d.file(x)} is not in sorted order or not unique, sorting it")
                    d.changed(x)
                if x == "utt2spk" and t.simple:
                    utt_sp = [k + b" " for k in t.keys]

    def filter_to(self, name: str, ids, what: str) -> Table:
        d = self.d
        t = d.get(name)
        n1 = len(t)
        lines, keys = filter_table(t, ids)
        if len(lines) != n1:
            d.set(name, lines, keys)
            self.say(f"{self.prog}: filtered {d.file(name)} from {n1} to {len(lines)} lines based on filter {what}.")
        return t

    # ------------------------------------------------------------------------- recordings

    def filter_recordings(self) -> None:
        """segments to the recordings of wav.scp, and the recording tables to those of segments."""
        d, prog, data = self.d, self.prog, self.data
        if not d.has("segments"):
            return
        if not d.has("wav.scp"):
            raise DataDirError(f"{prog}: {data}/segments exists but not {data}/wav.scp")
        segs = d.get("segments")
        recos = recordings_of(segs)
        if not recos:
            raise DataDirError(f"{prog}: empty list of recordings (bad file {data}/segments)?")
        wav = set(d.get("wav.scp").keys)
        recos = {r for r in recos if r in wav}
        norm, kept, keys = normalized_segments(segs.lines, recos)
        if norm != segs.lines:
            d.set("segments", norm)
        if len(kept) != len(norm):
            d.set("segments", kept, keys)
            self.say(f"{prog}: filtered {d.file('segments')} from {len(norm)} to {len(kept)} lines based on filter "
                     f"recordings.")
        self.filter_to("wav.scp", recos, "recordings")
        for name in ("reco2file_and_channel", "reco2dur"):
            if d.has(name):
                self.filter_to(name, recos, "recordings")

    # ------------------------------------------------------------------------- speakers

    def pairs_now(self) -> list[tuple[bytes, bytes]]:
        """utt2spk's (utt, spk) pairs as it stands."""
        v = self.d.version.get("utt2spk", 0)
        p = self._pairs.get(v)
        if p is None:
            self._pairs.clear()
            p = self._pairs[v] = utt2spk_pairs(self.d.get("utt2spk"))
        return p

    def set_utt2spk(self, pairs: list[tuple[bytes, bytes]], lines: list[bytes] | None = None) -> None:
        t = self.d.set("utt2spk", lines if lines is not None else [u + b" " + s for u, s in pairs],
                       [u for u, _ in pairs], simple=True)
        t.single = True
        self._pairs.clear()
        self._pairs[self.d.version["utt2spk"]] = pairs

    def spk2utt_now(self) -> tuple[list[bytes], list[list[bytes]]]:
        """spk2utt made from utt2spk as it stands: its lines and [spk, utt...] lists."""
        v = self.d.version.get("utt2spk", 0)
        if v not in self._spk2utt:
            self._spk2utt.clear()
            self._spk2utt[v] = spk2utt_build(self.pairs_now())
        return self._spk2utt[v]

    def filter_speakers(self) -> None:
        """spk2utt remade from utt2spk (utt2spk is primary), both filtered to the speakers of
        cmvn.scp and spk2gender, and the speaker tables to them."""
        d, prog = self.d, self.prog
        pairs = self.pairs_now()
        s2u, groups = self.spk2utt_now()
        t = d.set("spk2utt", s2u, [g[0] for g in groups], simple=True)
        speakers = list(t.keys)
        for s in ("cmvn.scp", "spk2gender"):
            if d.has(s):
                have = set(d.get(s).keys)
                kept = [x for x in speakers if x in have]
                if len(kept) != len(speakers):
                    self.say(f"{prog}: filtered speakers from {len(speakers)} to {len(kept)} lines based on filter "
                             f"{d.file(s)}.")
                speakers = kept
        keep = set(speakers)
        if len(keep) != len(groups):
            n1 = len(groups)
            groups = [g for g in groups if g[0] in keep]
            d.set("spk2utt", [b" ".join(g) for g in groups], [g[0] for g in groups], simple=True)
            self.say(f"{prog}: filtered {d.file('spk2utt')} from {n1} to {len(groups)} lines based on filter "
                     f"speakers.")
            self.set_utt2spk([(u, g[0]) for g in groups for u in islice(g, 1, None)])
        elif not grouped_by_speaker(pairs):
            self.set_utt2spk([(u, g[0]) for g in groups for u in islice(g, 1, None)])
        else:
            u2s = d.get("utt2spk")
            if not u2s.single:
                self.set_utt2spk(pairs)                     # spk2utt_to_utt2spk.pl writes 'utt spk'
        for s in ("cmvn.scp", "spk2gender", *self.spk_extra):
            if d.has(s):
                self.filter_to(s, keep, "speakers")

    # ------------------------------------------------------------------------- utterances

    def check_orders(self, u2s: Table, pairs: list[tuple[bytes, bytes]]) -> None:
        """What fix_data_dir.sh leaves to the user: utt2spk sorted (also by speaker), spk2utt and
        utt2uniq sorted."""
        d, prog, data = self.d, self.prog, self.data
        if not is_sorted(u2s.lines):
            raise DataDirError(f"{prog}: {data}/utt2spk is not in sorted order (fix this yourself)")
        if not sorted_by_speaker(u2s.lines, pairs if u2s.single else None):
            raise DataDirError(f"{prog}: {data}/utt2spk is not in sorted order when sorted first on speaker-id "
                               "(fix this by making speaker-ids prefixes of utt-ids)")
        if not is_sorted(d.get("spk2utt").lines):
            raise DataDirError(f"{prog}: {data}/spk2utt is not in sorted order (fix this yourself)")
        if d.has("utt2uniq") and not is_sorted(d.get("utt2uniq").lines):
            raise DataDirError(f"{prog}: {data}/utt2uniq is not in sorted order (fix this yourself)")

    def utt_filters(self) -> list[str]:
        """The utterance tables whose utterances are kept (wav.scp and a non-empty reco2dur only
        without segments)."""
        d = self.d
        names = ["feats.scp", "vad.scp", "text", "segments", "utt2lang", "utt2uniq"]
        if not d.has("segments"):
            names.append("wav.scp")
            if d.has("reco2dur") and len(d.get("reco2dur")):
                names.append("reco2dur")
        return names

    def kept_utterances(self, utts: list[bytes]) -> list[bytes]:
        """The utterances of ``utts`` (utt2spk's) in every filter table, and with a positive
        utt2dur and utt2num_frames."""
        d = self.d
        keep = None
        for x in self.utt_filters() + ["utt2dur", "utt2num_frames"]:
            if d.has(x):
                t = d.get(x)
                ks = _positive_keys(t) if x in ("utt2dur", "utt2num_frames") else None
                if ks is None:
                    if t.keys == utts:
                        continue          # exactly utt2spk's utterances: nothing to drop
                    ks = set(t.keys)
                keep = ks if keep is None else keep & ks
        if keep is not None:
            utts = [u for u in utts if u in keep]
        return utts

    def filter_utts(self) -> None:
        """Every utterance table (utt2spk first) to the utterances every filter table has."""
        d = self.d
        u2s = d.get("utt2spk")
        pairs = self.pairs_now()
        lines = u2s.lines
        self.check_orders(u2s, pairs)
        utts = self.kept_utterances(u2s.keys)
        if not utts:
            raise DataDirError("fix_data_dir.sh: no utterances remained: not proceeding further.")
        if len(utts) != len(lines):
            self.say(f"fix_data_dir.sh: kept {len(utts)} utterances out of {len(lines)}")
        else:
            self.say(f"fix_data_dir.sh: kept all {len(lines)} utterances.")
        all_kept = len(utts) == len(lines)
        uset = None
        names = ["utt2spk", "utt2uniq", "feats.scp", "vad.scp", "text", "segments", "utt2lang", "utt2dur",
                 "utt2num_frames"]
        if not d.has("segments"):
            names += ["wav.scp"]
            if d.has("reco2dur") and len(d.get("reco2dur")):
                names += ["reco2dur"]
        for x in dict.fromkeys(names + self.utt_extra):
            if d.has(x):
                self.save_backup(x)
                t = d.get(x)
                if all_kept and t.keys == utts:
                    continue
                if uset is None:
                    uset = set(utts)
                if x == "utt2spk":
                    kept_pairs = [p for p in pairs if p[0] in uset]
                    self.set_utt2spk(kept_pairs, [line for line, p in zip(t.lines, pairs) if p[0] in uset])
                    continue
                kept, keys = filter_table(t, uset)
                if len(kept) != len(t):
                    d.set(x, kept, keys)


def normalized_segments(lines: Sequence[bytes], recos: set[bytes]) -> tuple[list[bytes], list[bytes], list[bytes]]:
    """Kaldi swaps fields 1 and 2 of segments with awk (twice): lines come back as their first four
    fields single-spaced. Returns those lines, the ones of ``recos`` and their keys."""
    norm, kept, keys = [], [], []
    for line in lines:
        f = line.split()
        nl = b" ".join(f[:4])
        norm.append(nl)
        if f[1] in recos:
            kept.append(nl)
            keys.append(f[0])
    return norm, kept, keys


def fix_data_dir(data: str | os.PathLike, *, utt_extra_files: Sequence[str] = (),
                 spk_extra_files: Sequence[str] = (), prog: str = "fix_data_dir.sh", say: Say = say_stdout,
                 _state: DirTables | None = None) -> None:
    """fix_data_dir.sh: sort every table (first line of a repeated key kept), keep the utterances
    present in every per-utterance table Kaldi knows (feats.scp, vad.scp, text, segments,
    utt2lang, utt2uniq, wav.scp and reco2dur without segments; utt2dur and utt2num_frames with
    a positive value), the speakers in cmvn.scp/spk2gender and the recordings of the kept
    segments; filter every table (and this toolkit's label tables) to them. Originals go to
    ``DATA/.backup/``."""
    data = os.fspath(data)
    if not os.path.isdir(data):
        raise DataDirError(f"{data}: no such directory")
    if not has_file(data, "utt2spk"):
        raise DataDirError(f"{data}/utt2spk: no such file")
    d = _state or DirTables(data)
    os.makedirs(os.path.join(data, ".backup"), exist_ok=True)
    utt_extra = [f for f in dict.fromkeys(list(UTT_FILES) + list(utt_extra_files)) if f not in ("utt2spk",)]
    spk_extra = [f for f in spk_extra_files if f not in ("cmvn.scp", "spk2gender")]
    _Fixer(data, d, utt_extra, spk_extra, prog, say).run()
