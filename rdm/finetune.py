"""Instance adaptation: finetune on one video's I-frames (van Rozendaal et al. 2021).

Modes (config.adapt.mode):
  none     θ_D as is.
  encoder  finetune g_a and h_a only (nothing to transmit; L_RD).
  full     first the encoder phase, then g_a, h_a and the receiver-side update δ jointly (the
           joint phase), δ quantized to δ̂ and priced by the spike-and-slab prior (each opened
           leaf by the cheapest of adapt.leaf_priors beside it): L_RDM = D + β(R + M), M the
           bits the coder writes for δ̂ (rdm.model_update).
  latents  optimise every frame's y and z directly with θ_D fixed (no amortization gap).

Both finetuning phases save candidates (evenly spaced checkpoints; the encoder phase also its
step 0, i.e. θ_D): rdm.pipeline codes each and keeps the one with the lowest coded L_RDM. Full
adaptation's encoder phase is the encoder-only run itself, so its candidates include every one
of encoder-only's and it never ends worse in coded L_RDM (nor does either end worse than θ_D).
"""
import dataclasses
import functools
import pathlib
import time

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from rdm import batching
from rdm import checkpoint
from rdm import distributed
from rdm import errors
from rdm import latents
from rdm import losses
from rdm import model
from rdm import model_prior
from rdm import model_update
from rdm import trainer
from rdm import zoo
from rdm.candidate import Candidate

MODES = ('none', 'latents', 'encoder', 'full')



@dataclasses.dataclass
class Adapted:
  """What adaptation hands to the coder."""
  candidates: list  # [Candidate], to be coded and compared (the last is the final iterate)
  latents: list | None  # per-frame (y, z) in latents mode
  history: list  # metric lines


def priors_from_config(cfg) -> model_prior.LeafPriors:
  return model_prior.LeafPriors.from_config(cfg.t, cfg.alpha, cfg.sigma_slab, cfg.leaf_priors)


def validate(config) -> None:
  cfg = config.adapt
  if cfg.mode not in MODES:
    raise errors.ConfigError(f'adapt.mode must be one of {MODES}, not {cfg.mode!r}')
  if config.loss.beta < 0:
    raise errors.ConfigError(f'loss.beta must be >= 0, got {config.loss.beta}')
  priors_from_config(cfg)
  if cfg.rate_gradient not in model_update.RATE_GRADIENTS:
    raise errors.ConfigError(f'adapt.rate_gradient must be one of '
                             f'{model_update.RATE_GRADIENTS}, not {cfg.rate_gradient!r}')
  if cfg.steps < 0 or cfg.joint_steps < 0 or cfg.batch_size < 1 or cfg.candidates < 1:
    raise errors.ConfigError('adapt.steps and adapt.joint_steps must be >= 0, adapt.batch_size '
                             'and adapt.candidates >= 1')


def rdm_loss_fn(train_vars, base_params, x, keys, *, arch, priors, groups, beta, total_pixels,
                model_rate: bool, quantize_aware: bool, rate_mode: str, decoder_mode: str,
                rate_gradient: str):
  """L_RDM on a batch of I-frames (or crops); M is normalised by all pixels of all I-frames."""
  params, delta_used = model_update.adapted_params(base_params, train_vars, priors.t,
                                                  quantize_aware)
  fwd = trainer.batch_forward(arch, params, x, keys, rate_mode, decoder_mode)
  bpp_model = (model_update.model_bits(priors, groups, train_vars['delta'], delta_used,
                                       rate_gradient, jax.random.fold_in(keys[0], 1))
               / total_pixels
               if delta_used else 0.0)
  loss, m = losses.rd_loss(fwd, x, beta, bpp_model if model_rate else 0.0)
  m = {**m, 'bpp_model': bpp_model * jnp.ones(()), 'bpp': m['bpp_latent'] + bpp_model}
  return loss, m


def frame_batches(frames: np.ndarray, cfg, seed: int, start: int):
  """Whole I-frames in shuffled epochs (crop 0: what is coded, padded as the coder pads them,
  every pixel weighted alike), or the tiles of the frames padded as the coder pads them, also
  every pixel alike (for frames too large for a step)."""
  if cfg.crop:
    padded = np.asarray(model.pad_to_multiple(frames))
    return batching.tile_batches(padded, cfg.batch_size, cfg.crop, seed, start, flip=cfg.flip)
  return batching.epoch_batches(frames, cfg.batch_size, seed, start)


def finetune_phase(config, phase: str, arch, base_params, frames: np.ndarray,
                   workdir: pathlib.Path, initial, steps: int, previous_opt_state=None):
  """Adam steps of one phase ('encoder': g_a, h_a; 'joint': g_a, h_a and δ) on the I-frames,
  checkpointed and resumable; previous_opt_state: the optimizer state an earlier phase ended
  with, whose Adam moments go on. Returns (final host TrainState, history,
  [(step, candidate train_vars)])."""
  cfg = config.adapt
  workdir.mkdir(parents=True, exist_ok=True)
  priors = priors_from_config(cfg)
  # The warm-up matters: Adam's first steps move every weight of θ_D by about the full rate
  # whatever its gradient, which costs a converged model more than early finetuning gains.
  encoder_lr = (cfg.joint_encoder_lr or cfg.lr) if phase == 'joint' else cfg.lr
  tx = trainer.make_optimizer({'encoder': encoder_lr, 'delta': cfg.delta_lr or cfg.lr},
                              cfg.warmup_steps, steps, cfg.end_lr_factor)
  state = trainer.create_train_state(initial, tx)
  if previous_opt_state is not None:
    state = state.replace(opt_state=trainer.carry_adam_moments(state.opt_state,
                                                               previous_opt_state))
  mgr = checkpoint.manager(workdir / 'checkpoints')
  fingerprint = checkpoint.run_fingerprint(config, phase, zoo.params_hash(base_params), frames)
  checkpoint.check_resumable(workdir, fingerprint, mgr.latest_step() is not None)
  state = checkpoint.restore_latest(mgr, state) or state
  start = int(state.step)
  loss_fn = functools.partial(
      rdm_loss_fn, arch=arch, priors=priors, groups=cfg.groups,
      beta=config.loss.beta, total_pixels=int(np.prod(frames.shape[:3])),
      model_rate=cfg.model_rate, quantize_aware=cfg.quantize_aware, rate_mode=cfg.rate_mode,
      decoder_mode=config.quantization.decoder, rate_gradient=cfg.rate_gradient)
  # The ordered step: the same step on any number of devices (see its float caveat).
  p_step = trainer.make_parallel_step(loss_fn, tx, trainer.ordered_train_step)
  devices = jax.local_device_count()
  seed = config.seed + (phase == 'joint')
  batches = frame_batches(frames, cfg, seed, start)
  keep = checkpoint.candidate_steps(steps, cfg.candidates, with_start=phase == 'encoder')
  if start == 0 and 0 in keep:
    checkpoint.save_candidate(workdir, 0, state.params)
  p_state = trainer.replicate(state)
  p_frozen = trainer.replicate(base_params)
  history = []
  t_start = time.perf_counter()
  bar = tqdm(range(start, steps), initial=start, total=steps, desc=f'adapt {phase}',
             unit='step', dynamic_ncols=True, disable=not distributed.is_primary())
  for step in bar:
    batch = trainer.padded_batch(next(batches), trainer.example_keys(seed, step, cfg.batch_size),
                                 jax.device_count())
    p_state, m = trainer.parallel_step(p_step, p_state, p_frozen, devices, *batch)
    trainer.check_finite(m, step + 1)
    done = step + 1
    if done % cfg.log_every == 0 or done == steps:
      history.append({'phase': phase, 'step': done, 'time_s': time.perf_counter() - t_start,
                      **{f'train_{k}': v for k, v in m.items()}})
      if distributed.is_primary():
        trainer.log_line(workdir / 'metrics.jsonl', history[-1])
      bar.set_postfix(loss=f'{m["loss"]:.1f}', bpp=f'{m["bpp"]:.3f}', psnr=f'{m["psnr"]:.2f}')
    if done in keep:
      checkpoint.save_candidate(workdir, done, trainer.host_state(p_state).params)
    if done % cfg.checkpoint_every == 0 or done == steps:
      checkpoint.save(mgr, done, trainer.host_state(p_state))
  mgr.wait_until_finished()
  final = trainer.host_state(p_state)
  return final, history, checkpoint.load_candidates(workdir, final.params, keep)


def joint_vars(base_params, groups: tuple[str, ...], encoder=None) -> dict:
  """The joint phase's train_vars at δ = 0: `encoder` (default θ_D's g_a, h_a) and δ over the
  leaves the group patterns select."""
  encoder = encoder or {g: base_params[g] for g in model.SENDER_GROUPS}
  return {'encoder': encoder, 'delta': model_update.init_delta(base_params, groups)}


def as_candidate(phase: str, step: int, base_params, train_vars, priors,
                 groups: tuple[str, ...]) -> Candidate:
  """θ to code with and the update to send, from a phase's train_vars; δ̂ is rebuilt from its
  integers exactly as the receiver will."""
  params = {**base_params, **train_vars['encoder']}
  if 'delta' not in train_vars:
    return Candidate(phase, step, params, None)
  update = model_update.ModelUpdate.from_delta(train_vars['delta'], priors, groups)
  if update.is_zero:
    return Candidate(phase, step, params, None)
  return Candidate(phase, step, update.apply(params), update)


def adapt(config, arch, base_params, frames: np.ndarray, workdir: pathlib.Path,
          encoder_workdir: pathlib.Path | None = None) -> Adapted:
  """Run config.adapt.mode on the I-frames; workdir holds this run's checkpoints, and
  encoder_workdir (default workdir/encoder) the encoder phase's, which an encoder-only run of
  the same settings shares."""
  validate(config)
  cfg = config.adapt
  if cfg.mode == 'none':
    return Adapted([Candidate('none', 0, base_params, None)], None, [])
  if cfg.mode == 'latents':
    optimized, history = latents.optimize_latents(config, arch, base_params, frames)
    return Adapted([Candidate('latents', 0, base_params, None)], optimized, history)
  priors = priors_from_config(cfg)
  encoder = {g: base_params[g] for g in model.SENDER_GROUPS}
  encoder_dir = encoder_workdir or (workdir if cfg.mode == 'encoder' else workdir / 'encoder')
  encoder_state, history, kept = finetune_phase(config, 'encoder', arch, base_params, frames,
                                                encoder_dir, {'encoder': encoder}, cfg.steps)
  candidates = [as_candidate('encoder', s, base_params, v, priors, cfg.groups) for s, v in kept]
  if cfg.mode == 'full' and cfg.joint_steps:
    initial = joint_vars(base_params, cfg.groups, encoder_state.params['encoder'])
    _, joint_history, kept = finetune_phase(config, 'joint', arch, base_params, frames,
                                            workdir / 'joint', initial, cfg.joint_steps,
                                            encoder_state.opt_state)
    history += joint_history
    candidates += [as_candidate('joint', s, base_params, v, priors, cfg.groups) for s, v in kept]
  return Adapted(candidates, None, history)
