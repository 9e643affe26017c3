"""The main job: adapt the shipped θ_D to one video's 2 fps I-frames (full-model, the paper).

    python -m rdm.main --config=configs/xiph_beta.py --workdir=runs/main

Default: the bundled bikes clip (20 I-frames, 640×272), global model msh-n64-beta128,
β=128, t=0.005, 1000 steps of one 256² crop: about 6 min on 2 CPU cores. Prints real-byte
bpp (latent / model / header / total) and PSNR for the adapted and the global model, and writes
results-*.json, rd-*.png and the .rdm to the workdir (numbers: WORKSPACE.md).
Other videos: --config.data.video=PATH; sweeps: --config.loss.beta=..., --config.adapt.t=...
"""
from configs import base


def get_config():
  c = base.get_config()
  c.job = 'adapt'
  c.lock()
  return c

