"""Export the embedding network of a checkpoint to TorchScript or ONNX (dynamic batch and time length).

The exported model maps feats [B, T, F] float32 and lengths [B] int64 to embeddings [B, D],
and is checked against the PyTorch network before it is written. ONNX needs the optional
onnx package (and onnxruntime for the check).

  python -m utter.bin.export_model --format torchscript exp/dino/final.pt exp/dino/extractor.ts
  # later: net = torch.jit.load("exp/dino/extractor.ts"); emb = net(feats, lengths)
"""
from __future__ import annotations

from utter.bin.common import main_entry, make_parser
from utter.train.export import FORMATS, export_model


def build_parser():
    p = make_parser(__doc__.splitlines()[0])
    p.add_argument("--format", choices=FORMATS, default="torchscript", help="export format")
    p.add_argument("model", help="checkpoint (final.pt)")
    p.add_argument("out", help="output file")
    return p


def main(args) -> None:
    export_model(args.model, args.out, args.format)


if __name__ == "__main__":
    main_entry(main, build_parser)
