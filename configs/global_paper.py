"""Paper-scale θ_D (N=128, M=192, 256² crops, batch 8) for a GPU; ~20× slower per step than the
CPU default.

    python -m rdm.main --config=configs/global_paper.py --workdir=runs/global-paper-b128
"""
from configs import base


def get_config():
  c = base.get_config()
  c.job = 'train_global'
  c.train.short_side = 0  # full-resolution photos, seen at random scales
  c.train.min_scale = 0.125
  c.model.N, c.model.M = 128, 192
  c.train.crop = 256
  c.train.steps = 200_000
  c.train.lr = 1e-4
  c.train.checkpoint_every = 2000
  c.train.eval_every = 10_000
  c.global_model = 'msh-n128-beta128'
  c.lock()
  return c

