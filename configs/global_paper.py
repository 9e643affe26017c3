"""Paper-scale θ_D (N=128, M=192, batch 8 × 256² crops of full-resolution photos at random
scales) for a GPU.

    python -m rdm.main --config=configs/global_paper.py --workdir=runs/global-paper-b128

On a lent device (10 minutes a command): scripts/device_train.py, which runs this config in
sittings sized to the time left and resumes from what the previous sitting returned.
"""
from configs import base


def get_config():
  c = base.training()
  c.train.short_side = 0  # full-resolution photos, seen at random scales
  c.train.min_scale = 0.125
  c.model.N, c.model.M = 128, 192
  c.train.crop = 256
  c.train.batch_size = 8
  c.train.steps = 200_000
  c.train.lr = 1e-4
  c.train.checkpoint_every = 2000
  c.train.eval_every = 10_000
  c.lock()
  return c

