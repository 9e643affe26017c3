"""The adaptation job for long clips of one scene (a static camera, 100+ I-frames): 256² tiles, 4
a step, and the extra steps in the joint phase (encoder 200, joint 800).

    python -m rdm.main --config=configs/static_camera.py --workdir=runs/vtest \
        --config.data.video=data/videos/vtest.avi

Chosen on OpenCV's vtest.avi (159 I-frames, θ_D v6, β=128; WORKSPACE.md, RQ4): the encoder phase
has stopped moving by step 200, the joint phase is still gaining at 800, and tiles with 800 joint
steps beat whole frames with 200 at less cost.
"""
from configs import xiph_beta


def get_config():
  c = xiph_beta.get_config()
  with c.unlocked():
    c.update_from_flattened_dict({'adapt.crop': 256, 'adapt.batch_size': 4,
                                  'adapt.candidates': 2, 'adapt.joint_steps': 800})
  return c
