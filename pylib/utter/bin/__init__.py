"""Stage programs: one module per pipeline stage, run as python -m utter.bin.<name>."""
