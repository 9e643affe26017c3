"""Global θ_D: a small mean-scale hyperprior trained on the gathered photos (CPU-sized).

    python scripts/gather_photos.py
    python -m rdm.main --config=configs/global.py --workdir=runs/global-b128

Re-running the same command resumes from the last checkpoint. β ladder from this model:
    python -m rdm.main --config=configs/global.py --workdir=runs/global-b32 \
        --config.loss.beta=32 --config.train.init_from=runs/global-b128 --config.train.steps=1000
"""
from configs import base


def get_config():
  c = base.training()
  c.train.short_side = 0  # full-resolution photos, seen at random scales
  c.train.min_scale = 0.125
  c.lock()
  return c

