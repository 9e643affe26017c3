"""The main job: adapt the shipped θ_D to one video's 2 fps I-frames (full-model, the paper).

    python -m rdm.main --config=configs/xiph_beta.py --workdir=runs/main

Default: the bundled bikes clip (20 I-frames, 640×272), global model msh-n64-beta128,
β=128, t=0.005; 200 encoder-phase + 200 joint-phase steps of 1 whole I-frame, 9 candidates
and the best one without its unpaid leaves of δ̂ coded: under 10 min on 2 quiet CPU cores. Prints
real-byte bpp (latent / model / header / total), PSNR and coded L_RDM for the global model,
encoder-only finetuning and the stream written, and writes results-*.json, rd-*.png and the .rdm
to the workdir (its latest result: WORKSPACE.md).
Other videos: --config.data.video=PATH; sweeps: --config.loss.beta=..., --config.adapt.t=...
"""
from configs import base


def get_config():
  c = base.adapting()
  c.lock()
  return c

