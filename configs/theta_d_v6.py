"""θ_D v6's recipe (models/msh-n64-beta*): the β=128 base's nine sittings and the β ladder.

    python -m rdm.main --config=configs/theta_d_v6.py:sitting3 --workdir=runs/global2-b128
    python -m rdm.main --config=configs/theta_d_v6.py:beta512 --workdir=runs/ladder8-b512
    bash experiments/train_ladder.sh  # all of it in order, each sitting resuming when re-run

Each sitting starts from the previous one's workdir (train.init_from) on a schedule of its own;
the ladder members continue the base at their β. Why each sitting changed what it did:
experiments/LOG.md.
"""
import importlib

GLOBAL = importlib.import_module('configs.global')  # `global` is a keyword

# Sittings 1–3 ran when configs/global.py downscaled every photo to a 512-pixel short side.
EARLY = {'train.short_side': 512, 'train.min_scale': 1.0}
LATER = {'train.warmup_steps': 100, 'train.lr': 1e-4, 'train.checkpoint_every': 250}
# From sitting 5 on, 56 more photographs (gather_photos.py --more) join the 32; from sitting 7 on,
# 109 cut from gcompris-qt-data (--gcompris).
PHOTOS_5 = 'data/photos/train,data/photos/more'
PHOTOS_7 = PHOTOS_5 + ',data/photos/gcompris'
# Sittings 8 and 9 ran on a lent H200 (scripts/device_train.py, which sized their steps to its
# 10-minute limit) on data/pack: those photos as JPEG, short side 512 (scripts/pack_photos.py).
PACK = {'train.photos': 'data/pack/train', 'train.batch_size': 16, 'train.eval_every': 0,
        'train.checkpoint_every': 500}

SITTINGS = {
    # 128² crops (batch 8); sitting 2 switched to 256² crops (batch 2) on the same schedule.
    'sitting1': {**EARLY, 'train.steps': 4000, 'train.crop': 128, 'train.batch_size': 8,
                 'train.stop_at': 1400},
    'sitting2': {**EARLY, 'train.steps': 4000, 'train.stop_at': 3200},
    # A new schedule with fresh Adam moments: a peak of 2e-4 diverged here within 400 steps.
    'sitting3': {**EARLY, **LATER, 'train.init_from': 'runs/global-b128', 'train.steps': 7000,
                 'train.eval_every': 1000},
    'sitting4': {**LATER, 'train.init_from': 'runs/global2-b128', 'train.steps': 6000,
                 'train.eval_every': 2000},
    'sitting5': {**LATER, 'train.photos': PHOTOS_5, 'train.init_from': 'runs/global4-b128',
                 'train.steps': 8000, 'train.eval_every': 2000},
    'sitting6': {**LATER, 'train.photos': PHOTOS_5, 'train.init_from': 'runs/global5-b128',
                 'train.steps': 12000, 'train.eval_every': 2000},
    'sitting7': {**LATER, 'train.photos': PHOTOS_7, 'train.init_from': 'runs/global6-b128',
                 'train.steps': 12000, 'train.eval_every': 2000},
    'sitting8': {**LATER, **PACK, 'train.init_from': 'runs/global7-b128', 'train.steps': 4059},
    'sitting9': {**LATER, **PACK, 'train.init_from': 'runs/global8-b128', 'train.steps': 2446,
                 'train.warmup_steps': 50, 'train.lr': 5e-5},
}
LADDER = {**LATER, 'train.photos': PHOTOS_7, 'train.init_from': 'runs/global9-b128',
          'train.steps': 800, 'train.warmup_steps': 50, 'train.eval_every': 0}
LADDER_BETAS = (8, 32, 512, 2048)


def get_config(part: str):
  """part: sitting1 … sitting9 (the base), or beta8, beta32, beta512, beta2048 (the ladder)."""
  ladder = {f'beta{b}': {**LADDER, 'loss.beta': float(b)} for b in LADDER_BETAS}
  fields = {**SITTINGS, **ladder}[part]
  c = GLOBAL.get_config()
  with c.unlocked():
    c.update_from_flattened_dict(fields)
  return c
