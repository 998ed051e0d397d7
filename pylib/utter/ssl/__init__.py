"""Self-supervised objectives: DINO (dino.py) and contrastive + non-contrastive losses (contrastive.py)."""
