"""Audio behind a data dir: ``wav.scp`` entries (files or ``cmd |`` pipes) and ``segments``.

Samples come back as float32 at Kaldi's int16 scale (float in [-1, 1] times 32768), so that
dither and energy thresholds mean what they mean in Kaldi. Every error names the utterance
(and the recording or command), so a failing job says what to fix.
"""
from __future__ import annotations

import io
import os
import re
import struct
import subprocess
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator

import kaldiio
import numpy as np
import soundfile as sf

from utter.data.datadir import DataDir

#: Kaldi's int16 scale: soundfile's float samples in [-1, 1] times this.
INT16_SCALE = 32768.0
#: How far (seconds) a segment may run past its recording's end before it is an error (Kaldi's
#: extract-segments --max-overshoot); within it the segment is clipped to the recording.
MAX_OVERSHOOT = 0.5

_ARK_OFFSET = re.compile(r"^(.+):(\d+)$")

#: ``resample(samples, orig_rate, new_rate) -> samples``, e.g. :func:`utter.data.features.resample`
#: (torch's, kept out of this module so that reading audio and durations needs no torch).
Resampler = Callable[[np.ndarray, int, int], np.ndarray]


class AudioError(ValueError):
    """An utterance whose audio cannot be read or does not fit the data dir or the config."""


def is_pipe(entry: str) -> bool:
    """A ``wav.scp`` value ending in ``|`` is a command whose stdout is the audio."""
    return entry.rstrip().endswith("|")


def _fix_wav_header(buf: bytes) -> bytes:
    """Make a streamed WAV's RIFF and data sizes match the bytes we have.

    Programs writing WAV to a pipe cannot seek back to fill in the sizes, so they leave 0 or
    0xFFFFFFFF there; the data chunk then runs to the end of the stream.
    """
    if len(buf) < 12 or buf[:4] != b"RIFF" or buf[8:12] != b"WAVE":
        return buf
    out = bytearray(buf)
    struct.pack_into("<I", out, 4, min(len(buf) - 8, 0xFFFFFFFF))
    pos = 12
    while pos + 8 <= len(buf):
        chunk, size = buf[pos:pos + 4], struct.unpack_from("<I", buf, pos + 4)[0]
        if chunk == b"data":
            remaining = len(buf) - pos - 8
            if size == 0 or size > remaining:
                struct.pack_into("<I", out, pos + 4, remaining)
            break
        pos += 8 + size + (size & 1)
    return bytes(out)


#: Data-chunk sizes that writers streaming to a pipe leave in a WAV header (0, or at or near 2^32 - 1):
#: no size to check a file against.
_UNKNOWN_DATA_SIZES = (0, 0xFFFFFFFF, 0x7FFFF000, 0x7FFFFFFF)


def check_wav_complete(path: str, name: str) -> None:
    """AudioError when a WAV file's data chunk is shorter than its header says (a file cut short by an
    interrupted copy or download), naming both sample counts: libsndfile would read the part that is
    there, without a word. Other formats, and WAVs written to a pipe (no size), are not checked."""
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
            size = os.fstat(f.fileno()).st_size
    except OSError:
        return
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return
    pos, block_align = 12, 0
    while pos + 8 <= len(head):
        chunk, length = head[pos:pos + 4], struct.unpack_from("<I", head, pos + 4)[0]
        if chunk == b"fmt " and pos + 22 <= len(head):
            block_align = struct.unpack_from("<H", head, pos + 20)[0]
        if chunk == b"data":
            have = size - pos - 8
            if length not in _UNKNOWN_DATA_SIZES and length > have and block_align > 0:
                raise AudioError(f"{name}: '{path}' is truncated: its header says {length // block_align} samples, "
                                 f"the file holds {max(have, 0) // block_align}")
            return
        pos += 8 + length + (length & 1)


def run_pipe(command: str, name: str) -> bytes:
    """Run a ``wav.scp`` pipe command with bash (pipefail) and return its stdout."""
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", command], stdin=subprocess.DEVNULL,
                          capture_output=True)
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        tail = f": {err[-1]}" if err else ""
        raise AudioError(f"{name}: command '{command}' failed with exit status {proc.returncode}{tail}")
    if not proc.stdout:
        raise AudioError(f"{name}: command '{command}' wrote no audio")
    return proc.stdout


def _decode(source, name: str, what: str) -> tuple[np.ndarray, int]:
    try:
        data, rate = sf.read(source, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as e:
        raise AudioError(f"{name}: cannot decode audio from {what}: {e}") from None
    return data, int(rate)


def read_audio_channels(entry: str, name: str = "") -> tuple[np.ndarray, int]:
    """Decode one ``wav.scp`` value into ([num_samples, num_channels] float32 in [-1, 1], rate)."""
    entry = entry.strip()
    name = name or entry
    if is_pipe(entry):
        command = entry[:-1].strip()
        return _decode(io.BytesIO(_fix_wav_header(run_pipe(command, name))), name, f"command '{command}'")
    if not os.path.isfile(entry):
        m = _ARK_OFFSET.match(entry)
        if m and os.path.isfile(m.group(1)):  # Kaldi extended filename: audio inside an ark
            rate, data = kaldiio.load_mat(entry)
            data = np.asarray(data, dtype=np.float32).reshape(len(data), -1) / INT16_SCALE
            return data, int(rate)
        raise AudioError(f"{name}: audio file '{entry}' does not exist")
    check_wav_complete(entry, name)
    return _decode(entry, name, f"'{entry}'")


def pick_channel(data: np.ndarray, channel: int, name: str) -> np.ndarray:
    """One channel of decoded ``[num_samples, num_channels]`` audio as 1-D float32 samples at int16
    scale: the one rule for multi-channel audio (the recipes' make_fbank ``--channel`` and ``utter``)."""
    if not 0 <= channel < data.shape[1]:
        raise AudioError(f"{name}: channel {channel} requested but the audio has {data.shape[1]} channel(s)")
    return np.ascontiguousarray(data[:, channel]) * np.float32(INT16_SCALE)


def read_audio(entry: str, *, channel: int = 0, name: str = "") -> tuple[np.ndarray, int]:
    """Decode one ``wav.scp`` value into (1-D float32 samples at int16 scale, sample rate)."""
    data, rate = read_audio_channels(entry, name)
    name = name or entry
    if data.shape[0] == 0:
        raise AudioError(f"{name}: empty recording ({entry.strip()})")
    return pick_channel(data, channel, name), rate


def segment_bounds(start: float, end: float, num_samples: int, rate: int, name: str, reco: str,
                   max_overshoot: float = MAX_OVERSHOOT) -> tuple[int, int]:
    """Sample range [first, last) of segment ``start end`` (end -1: to the end) in a recording."""
    dur = num_samples / rate
    if start < 0 or (end != -1 and end <= start):
        raise AudioError(f"{name}: bad segment {start} {end} of recording '{reco}'")
    first = int(round(start * rate))
    last = num_samples if end == -1 else int(round(end * rate))
    if first >= num_samples or last > num_samples + int(round(max_overshoot * rate)):
        raise AudioError(f"{name}: segment {start}-{end} s lies outside recording '{reco}' ({dur:.3f} s)")
    last = min(last, num_samples)
    if last <= first:
        raise AudioError(f"{name}: segment {start}-{end} s of recording '{reco}' is empty")
    return first, last


class AudioReader:
    """The utterances of a data dir as (utt, samples at int16 scale, sample rate).

    Iteration goes recording by recording, so one decoded recording serves all its segments;
    :meth:`read` gives random access through a small cache of decoded recordings.
    With ``sample_rate`` set, other rates are an error unless a ``resampler`` is given, which
    brings them to ``sample_rate``.
    """

    def __init__(self, data_dir: str | os.PathLike, *, sample_rate: int | None = None,
                 resampler: Resampler | None = None, channel: int = 0, max_overshoot: float = MAX_OVERSHOOT,
                 cache_size: int = 4, utts: Iterable[str] | None = None):
        self.data = DataDir(data_dir)
        self.sample_rate = None if sample_rate is None else int(sample_rate)
        self.resampler = resampler
        self.channel = channel
        self.max_overshoot = max_overshoot
        self.cache_size = max(1, cache_size)
        self._cache: OrderedDict[str, tuple[np.ndarray, int]] = OrderedDict()
        #: utt -> seconds its segment ran past the end of its recording (within ``max_overshoot``,
        #: clipped as Kaldi's extract-segments does), for the caller to count in its log
        self.clipped: dict[str, float] = {}
        self.wav_scp = self.data.wav_scp
        segments = self.data.segments
        if segments is None:
            self.segments = None
            self.utts = list(self.wav_scp)
        else:
            self.segments = segments
            self.utts = list(segments)
        if utts is not None:
            wanted = list(utts)
            known = set(self.utts)
            missing = [u for u in wanted if u not in known]
            if missing:
                raise AudioError(f"{missing[0]}: not in {self.data.path}/"
                                 f"{'segments' if segments is not None else 'wav.scp'}")
            self.utts = wanted

    def __len__(self) -> int:
        return len(self.utts)

    def recording_of(self, utt: str) -> str:
        return utt if self.segments is None else self.segments[utt][0]

    def _load_recording(self, reco: str, utt: str) -> tuple[np.ndarray, int]:
        if reco in self._cache:
            self._cache.move_to_end(reco)
            return self._cache[reco]
        if reco not in self.wav_scp:
            raise AudioError(f"{utt}: recording '{reco}' is not in {self.data.file('wav.scp')}")
        name = utt if reco == utt else f"{utt} (recording {reco})"
        samples, rate = read_audio(self.wav_scp[reco], channel=self.channel, name=name)
        if self.sample_rate is not None and rate != self.sample_rate:
            if self.resampler is None:
                raise AudioError(f"{name}: sample rate {rate} Hz, but the config expects {self.sample_rate} Hz "
                                 "(use --allow-resample true to resample)")
            samples, rate = self.resampler(samples, rate, self.sample_rate), self.sample_rate
        self._cache[reco] = (samples, rate)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return samples, rate

    def read(self, utt: str) -> tuple[np.ndarray, int]:
        """One utterance's samples (at int16 scale) and sample rate."""
        reco = self.recording_of(utt)
        samples, rate = self._load_recording(reco, utt)
        if self.segments is None:
            return samples, rate
        _, start, end = self.segments[utt]
        first, last = segment_bounds(start, end, len(samples), rate, utt, reco, self.max_overshoot)
        if end != -1 and end * rate > len(samples) + 0.5:
            self.clipped[utt] = end - len(samples) / rate
        return samples[first:last], rate

    def order(self) -> list[str]:
        """The utterances grouped by recording (recordings in order of first appearance)."""
        groups: OrderedDict[str, list[str]] = OrderedDict()
        for utt in self.utts:
            groups.setdefault(self.recording_of(utt), []).append(utt)
        return [u for us in groups.values() for u in us]

    def __iter__(self) -> Iterator[tuple[str, np.ndarray, int]]:
        for utt in self.order():
            samples, rate = self.read(utt)
            yield utt, samples, rate


def entry_duration(entry: str, name: str = "") -> float:
    """Duration in seconds of one ``wav.scp`` value: the header for files, decoding for pipes."""
    path = entry.strip()
    if not is_pipe(path) and os.path.isfile(path):
        check_wav_complete(path, name or path)
        try:
            info = sf.info(path)
        except (sf.LibsndfileError, RuntimeError) as e:
            raise AudioError(f"{name or path}: cannot read audio header of '{path}': {e}") from None
        return info.frames / info.samplerate
    data, rate = read_audio_channels(entry, name)
    return data.shape[0] / rate


def compute_utt2dur(data_dir: str | os.PathLike) -> OrderedDict[str, float]:
    """utt -> duration in seconds: segment arithmetic, else the recording's length."""
    data = DataDir(data_dir)
    wav_scp = data.wav_scp
    segments = data.segments
    if segments is None:
        return OrderedDict((utt, entry_duration(e, utt)) for utt, e in wav_scp.items())
    reco_dur: dict[str, float] = {}
    out: OrderedDict[str, float] = OrderedDict()
    for utt, (reco, start, end) in segments.items():
        if end == -1:
            if reco not in wav_scp:
                raise AudioError(f"{utt}: recording '{reco}' is not in {data.file('wav.scp')}")
            if reco not in reco_dur:
                reco_dur[reco] = entry_duration(wav_scp[reco], f"{utt} (recording {reco})")
            end = reco_dur[reco]
        out[utt] = round(end - start, 4)
    return out


__all__ = ["AudioError", "AudioReader", "INT16_SCALE", "Resampler", "pick_channel", "read_audio", "read_audio_channels",
           "segment_bounds", "entry_duration", "compute_utt2dur", "is_pipe", "run_pipe"]
