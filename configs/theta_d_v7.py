"""θ_D v7's ladder (issue 38): v6's β=128 base, and members that continue their neighbour toward
either end of the rates until their held-out L converges.

    python -m rdm.main --config=configs/theta_d_v7.py:beta32 --workdir=runs/ladder7-b32
    BETAS="32 8 0.5" bash experiments/train_ladder.sh  # in chain order, exported one by one

Each member starts from its neighbour's shipped model (the base: msh-n64-beta128), so a fresh
checkout continues the ladder from what it ships, at a learning rate of 1e-4, keeps a moving average
of its own and evaluates the held-out photos every 500 steps. Where their L (the better of θ and the
average) first moved by at most 1 % over 2000 steps, the rate drops to 1e-5 (CompressAI and Ballé et
al. lower it on a plateau likewise); the member stops once L moved by at most 0.5 % over 2000 steps
at the lower rate, or at 40 000 steps. Re-running a member resumes it; a converged one trains no
further.
Members in WIDTH are wider than the base (msh-n96-beta0.5): they start from their neighbour
embedded in the wider model (rdm.widen), which codes as the neighbour does. β=2 is measured, not
shipped (it is under the 25 % rate step above β=8; WORKSPACE.md), so β=0.5 continues β=8; the
bottom members are β=2048 and 4096, each continuing β=512, and β=8192 for carphone's ≤ 0.08 bpp.
"""
import importlib

from rdm import zoo

V6 = importlib.import_module('configs.theta_d_v6')

BASE = 'msh-n64-beta128'
# β: the member it continues
NEIGHBOUR = {32: 128, 8: 32, 2: 8, 0.5: 8, 512: 128, 2048: 512, 4096: 512, 8192: 4096}
MEMBER = {'train.photos': V6.PHOTOS_7, 'train.steps': 40_000, 'train.lr': 1e-4,
          'train.end_lr': 1e-4, 'train.warmup_steps': 100, 'train.eval_every': 500,
          'train.checkpoint_every': 500, 'train.converge_window': 2000,
          'train.converge_tol': 0.005, 'train.lr_drop_tol': 0.01}

# The sittings a member took, as overrides of its config, in order (default: one, as it stands).
# β=32 trained at the constant 1e-4 to step 17 500 before the rate drop existed; from there on
# it ran at the dropped rate, which its first 1 % plateau (step 6000) now sets.
SITTINGS = {32: ('--config.train.lr_drop_tol=0 --config.train.stop_at=17500', '')}


# β: (N, M) of members wider than the base, where N=64 saturates: its held-out MSE hardly falls
# below β=2's however much rate β lets it spend (WORKSPACE.md).
WIDTH = {0.5: (96, 144)}


def name(beta: float) -> str:
  return f'msh-n{WIDTH.get(beta, (64,))[0]}-beta{beta:g}'


def workdir(beta: float) -> str:
  return f'runs/ladder7-b{beta:g}' + (f'-n{WIDTH[beta][0]}' if beta in WIDTH else '')


def next_sitting(beta: float) -> str:
  """Where member β's next sitting starts, by what this checkout ships under its name: 'done' (it
  converged), 'continue' (shipped at a sitting's end before it converged: the next sitting goes
  on from it, rdm.train.continued_member), or 'start' (nothing of it is shipped: it starts from
  its neighbour)."""
  if name(beta) not in zoo.available():
    return 'start'
  curve = zoo.manifest(name(beta)).get('heldout_curve')
  return 'start' if curve is None else 'done' if curve['converged'] else 'continue'


def get_config(part: str):
  """part: beta<β> for β in NEIGHBOUR (beta0.5, beta8, ...)."""
  try:
    beta = float(part.removeprefix('beta'))
  except ValueError:
    beta = None
  if beta not in NEIGHBOUR:
    raise ValueError(f'no ladder member {part!r}; members: '
                     f'{", ".join(f"beta{b:g}" for b in NEIGHBOUR)}')
  c = V6.GLOBAL.get_config()
  with c.unlocked():
    if beta in WIDTH:
      c.model.N, c.model.M = WIDTH[beta]
    c.update_from_flattened_dict({**MEMBER, 'loss.beta': float(beta),
                                  'train.init_from': name(NEIGHBOUR[beta])})
  return c
