"""Mean embedding per speaker (or per enrolment model) over its utterances, as Kaldi's ivector-mean.

Raw embeddings are averaged, as Kaldi does; the scoring back-ends length-normalise. Writes
OUT_DIR/<name>.ark/.scp (float32 vectors) and OUT_DIR/num_utts.ark (text lines ``spk N``).
SPK2UTT maps each speaker or model to its utterances (a data dir's spk2utt, or an enrolment
list). An utterance without an embedding is an error naming it, unless --allow-missing true.

  python -m utter.bin.speaker_means data/test/spk2utt exp/dino/emb/test/xvector.scp exp/dino/emb/test
"""
from __future__ import annotations

from utter.bin.common import main_entry, make_parser, str2bool
from utter.train.extract import write_speaker_means


def build_parser():
    p = make_parser(__doc__.splitlines()[0], threads=False)
    p.add_argument("--name", default="spk_xvector", help="output file stem: OUT_DIR/<name>.ark/.scp")
    p.add_argument("--allow-missing", type=str2bool, default=False, metavar="true|false",
                   help="skip utterances without an embedding (counted in the log) instead of failing")
    p.add_argument("spk2utt")
    p.add_argument("xvector_scp")
    p.add_argument("out_dir")
    return p


def main(args) -> None:
    write_speaker_means(args.spk2utt, args.xvector_scp, args.out_dir, name=args.name,
                        allow_missing=args.allow_missing)


if __name__ == "__main__":
    main_entry(main, build_parser)
