"""Every field rdm reads, with its meaning, unit and paper symbol. Other configs override.

Not run directly. Two kinds of config are made from it: training() for global training
(configs/global.py, configs/global_paper.py: no video, no adaptation fields) and adapting() for
the adaptation job (configs/xiph_beta.py: no training fields); rdm.main runs whichever it gets.
"""
import ml_collections


def get_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.seed = 0  # PRNG seed for initialisation, noise and crops

  c.model = ml_collections.ConfigDict()
  c.model.N = 64  # channels of g_a/g_s hidden layers and of z (paper scale: 128)
  c.model.M = 96  # channels of y (paper scale: 192)

  c.quantization = ml_collections.ConfigDict()
  c.quantization.rate = 'noise'  # proxy for round() in R: 'noise' (U(-½,½)) or 'ste'
  c.quantization.decoder = 'ste'  # proxy for round() on the decoder input: 'ste' or 'noise'

  c.loss = ml_collections.ConfigDict()
  c.loss.beta = 128.0  # β in L = D + β·R, D = MSE on 0–255, R in bits per pixel

  c.train = ml_collections.ConfigDict()  # global training on photos
  # training photos: a folder, or several comma-separated (scripts/gather_photos.py [--more])
  c.train.photos = 'data/photos/train'
  c.train.eval_photos = 'data/photos/eval'  # held-out photos, full images, rounded latents
  c.train.short_side = 512  # photos are downscaled so min(H, W) is this many pixels (0: never)
  # Crops see each photo at a random scale s in [min_scale, 1] (log-uniform; a (crop/s)² region
  # downscaled), so full-resolution originals give both fine texture and whole-scene statistics.
  c.train.min_scale = 1.0
  c.train.eval_side = 512  # held-out photos: downscaled to this short side, centre-cropped square
  # 256² crops make z 4×4: with 128² crops z is 2×2 and every z position touches the border, so
  # h_s never learns the interior and full frames cost far more than their crops.
  c.train.crop = 256  # random square crop side, pixels
  c.train.batch_size = 2  # crops per step, over all devices (2×256² = the pixels of 8×128²)
  c.train.steps = 3000  # total optimizer steps (the schedule spans them)
  c.train.stop_at = 0  # end this sitting at this step (0: at train.steps); re-run to go on
  c.train.lr = 3e-4  # peak Adam learning rate
  c.train.end_lr = 1e-5  # learning rate at the last step (cosine decay)
  c.train.warmup_steps = 100  # linear warm-up from 0 to lr
  c.train.grad_clip = 1.0  # global gradient-norm clip
  c.train.init_from = ''  # checkpoint dir or shipped model name to start from (β ladder)
  c.train.log_every = 25  # steps between metric lines
  c.train.checkpoint_every = 200  # steps between orbax checkpoints
  c.train.eval_every = 1000  # steps between held-out evaluations (0: only at the end)

  c.data = ml_collections.ConfigDict()  # adaptation data
  c.data.video = 'bikes'  # video file, or a bundled clip: 'bikes', 'carphone'
  c.data.fps = 2.0  # I-frame sampling rate, frames per second (paper: 2)
  c.data.max_frames = 0  # keep only the first this many I-frames (0: all)

  c.global_model = 'msh-n64-beta128'  # shipped θ_D the job starts from (models/)

  c.adapt = ml_collections.ConfigDict()
  c.adapt.mode = 'full'  # 'none', 'latents', 'encoder' or 'full' (paper)
  c.adapt.groups = 'g_s,h_s,prior_z'  # receiver-side groups in δ (comma separated prefixes)
  c.adapt.t = 0.005  # t: quantization bin width of δ
  c.adapt.alpha = 1000.0  # α: spike weight of the spike-and-slab prior
  c.adapt.sigma_slab = 0.05  # σ_slab: std of the slab; σ_spike = t/6
  # Further priors an opened leaf may be coded under, as comma-separated 'α:σ_slab' pairs (same
  # t): each takes the one of fewest bits, the update carries the priors so used and names each
  # leaf's in ⌈log2 J⌉ bits. '' = the paper's one prior. These three suit leaves changed in ~1 %,
  # ~10 % and ~50 % of their entries (their effect: experiments/LOG.md).
  c.adapt.leaf_priors = '100:0.01,10:0.005,1:0.005'
  c.adapt.model_rate = True  # include M in the loss (RQ2 ablation: False)
  # What M's gradient follows (its value is always the bits the coder writes for δ̂):
  # 'bins' (straight-through bin masses, flat at δ̂ = 0), 'density' (the continuous prior, which
  # pulls entries inside the zero bin back to 0) or 'noise' (bin masses at δ + U(±t/2)). Noise
  # lets entries leave the zero bin that density holds back; bins alone turns δ̂ dense
  # (the comparison: experiments/LOG.md).
  c.adapt.rate_gradient = 'noise'
  c.adapt.quantize_aware = True  # train with δ̂ (False: train δ, quantize at the end; RQ2)
  # Proxy for round() in R while adapting: 'noise' (as in training) or 'ste' (the rounded latents
  # the coder pays for; the comparison: experiments/LOG.md).
  c.adapt.rate_mode = 'noise'
  c.adapt.steps = 200  # encoder-phase steps (encoder mode: all; full mode: before the joint phase)
  c.adapt.joint_steps = 200  # full mode: steps of g_a, h_a and δ together after the encoder phase
  c.adapt.lr = 1e-4  # peak Adam learning rate of the encoder (×10 for y, z in 'latents' mode)
  c.adapt.delta_lr = 1e-4  # peak Adam learning rate of δ (0: adapt.lr)
  c.adapt.joint_encoder_lr = 0.0  # peak rate of g_a, h_a in the joint phase (0: adapt.lr)
  c.adapt.warmup_steps = 50  # linear warm-up of both rates from 0, in each phase
  c.adapt.end_lr_factor = 0.1  # cosine decay to this fraction of the peak rates (1: constant)
  c.adapt.batch_size = 2  # I-frames (or crops) per step
  # 0: whole I-frames, padded as the coder pads them (what is coded, every pixel alike);
  # > 0: tiles of this side that cover the frames, padded as the coder pads them, once each per
  # epoch (capped at the frame size), for frames too large per step.
  c.adapt.crop = 0
  c.adapt.flip = False  # random horizontal flips of tiles (the coded frames are never flipped)
  c.adapt.candidates = 4  # evenly spaced checkpoints per phase that are coded and compared
  c.adapt.select = True  # write the candidate of lowest coded L_RDM (False: the last iterate)
  # With select: also code the best candidate without the leaves of δ̂ whose reset lowers the
  # estimated L_RDM (rdm/prune.py: what opening a leaf costs is invisible to the rate gradient).
  c.adapt.prune_leaves = True
  c.adapt.checkpoint_every = 100  # steps between finetuning checkpoints
  c.adapt.log_every = 25  # steps between metric lines
  return c


ADAPTATION_FIELDS = ('data', 'global_model', 'adapt')


def training() -> ml_collections.ConfigDict:
  """The fields of global training (learn θ_D on photos)."""
  c = get_config()
  for field in ADAPTATION_FIELDS:
    del c[field]
  return c


def adapting() -> ml_collections.ConfigDict:
  """The fields of the adaptation job (the paper: finetune θ_D on a video and code it)."""
  c = get_config()
  del c['train']
  return c


def parse_value(text: str):
  """A command-line value: int, float, true/false, or the string itself."""
  for cast in (int, float):
    try:
      return cast(text)
    except ValueError:
      pass
  return {'true': True, 'false': False}.get(text.lower(), text)


def override(c, overrides: dict):
  """c with dotted-key overrides ({'adapt.steps': 300}) cast to each field's type, locked."""
  for key, value in overrides.items():
    *parents, leaf = key.split('.')
    node = c
    for p in parents:
      node = node[p]
    node[leaf] = bool(value) if isinstance(node[leaf], bool) else type(node[leaf])(value)
  c.lock()
  return c


def adaptation(video: str, mode: str, beta: float, model: str, overrides: dict):
  """The adaptation config of one sweep point."""
  c = adapting()
  c.global_model = model
  c.data.video, c.adapt.mode, c.loss.beta = video, mode, beta
  return override(c, overrides)
