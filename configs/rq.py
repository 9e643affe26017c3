"""The research questions' adaptation recipe: the adaptation job as every RQ1–RQ4 point in
WORKSPACE.md was measured, 2 whole I-frames a step (the main job, configs/xiph_beta.py, takes 1).
The experiments' scripts default to it, so a resumed sweep continues its points as they began.

    python experiments/sweep.py --out ... --video bikes   # --config=configs/rq.py
"""
from configs import base


def get_config():
  c = base.adapting()
  c.adapt.batch_size = 2
  c.lock()
  return c
