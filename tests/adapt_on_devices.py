"""Run by test_adapt.py under 1 and under 2 fake CPU devices: full adaptation of the tiny model
on real frames; prints the stream's sha256, the device count and how many δ̂ entries moved."""
import hashlib
import pathlib
import sys
import tempfile

import jax
import numpy as np

from configs import base
from rdm import data, pipeline

c = base.adapting()
c.model.N, c.model.M = 8, 8
c.global_model = 'tiny-a'
c.adapt.update(mode='full', steps=2, joint_steps=6, batch_size=3, crop=64, lr=3e-3,
               delta_lr=3e-2, t=0.01, warmup_steps=0, select=False)
frames = data.read_iframes('bikes', max_frames=2)[:, :96, :128]
with tempfile.TemporaryDirectory() as workdir:
  result = pipeline.encode_video(c, frames, pathlib.Path(workdir))
moved = sum(int(np.count_nonzero(k)) for k in pipeline.stream.unpack_update(
    pipeline.stream.container.read(result.encoded.data).update,
    pipeline.zoo.load_global_model('tiny-a').params).k)
print('DEVICES', jax.local_device_count(), 'MOVED', moved, 'SHA', hashlib.sha256(
    result.encoded.data).hexdigest())
sys.exit(0)
