"""Every field rdm reads, with its meaning, unit and paper symbol, declared once per section.

Not run directly: configs/global*.py (global training on photos) start from training(),
configs/xiph_beta.py (the adaptation job) from adapting(); rdm.main runs whichever it gets. Every
script overrides fields the same way, e.g. --config.adapt.steps=300 (rdm/configuration.py).
"""
import ml_collections

SEED = 0  # PRNG seed for initialisation, noise and crops
GLOBAL_MODEL = 'msh-n64-beta128'  # shipped θ_D the adaptation job starts from (models/)


def model() -> ml_collections.ConfigDict:
  """The mean-scale hyperprior's widths."""
  c = ml_collections.ConfigDict()
  c.N = 64  # channels of g_a/g_s hidden layers and of z (paper scale: 128)
  c.M = 96  # channels of y (paper scale: 192)
  # How models trained elsewhere are built (rdm/compressai_import.py sets them; rdm.model):
  c.alignment = 'flax'  # strided convolutions' windows: 'flax' ('SAME') or 'torch' (PyTorch's)
  c.sigma = 'exp'  # σ of y from h_s: 'exp' (σ = exp(raw)) or 'identity' (σ = raw), ≥ 0.11
  c.hyperprior = 'mean-scale'  # 'mean-scale' (Minnen 2018) or 'scale-only' (Ballé 2018)
  c.z_filters = (3, 3, 3)  # hidden widths of the factorized prior's cumulative on z
  c.z_offsets = False  # quantize z around a learned per-channel median (CompressAI) or around 0
  return c


def quantization() -> ml_collections.ConfigDict:
  """What stands in for round() while training."""
  c = ml_collections.ConfigDict()
  c.rate = 'noise'  # proxy for round() in R: 'noise' (U(-½,½)) or 'ste'
  c.decoder = 'ste'  # proxy for round() on the decoder input: 'ste' or 'noise'
  return c


def loss() -> ml_collections.ConfigDict:
  """The rate–distortion trade-off."""
  c = ml_collections.ConfigDict()
  c.beta = 128.0  # β in L = D + β·R, D = MSE on 0–255, R in bits per pixel
  return c


def train() -> ml_collections.ConfigDict:
  """Global training of θ_D on photos."""
  c = ml_collections.ConfigDict()
  # training photos: a folder, or several comma-separated (scripts/gather_photos.py [--more])
  c.photos = 'data/photos/train'
  c.eval_photos = 'data/photos/eval'  # held-out photos, full images, rounded latents
  c.short_side = 512  # photos are downscaled so min(H, W) is this many pixels (0: never)
  # Crops see each photo at a random scale s in [min_scale, 1] (log-uniform; a (crop/s)² region
  # downscaled), so full-resolution originals give both fine texture and whole-scene statistics.
  c.min_scale = 1.0
  c.eval_side = 512  # held-out photos: downscaled to this short side, centre-cropped square
  # 256² crops make z 4×4: with 128² crops z is 2×2 and every z position touches the border, so
  # h_s never learns the interior and full frames cost far more than their crops.
  c.crop = 256  # random square crop side, pixels
  c.batch_size = 2  # crops per step, over all devices (2×256² = the pixels of 8×128²)
  c.steps = 3000  # total optimizer steps (the schedule spans them)
  c.stop_at = 0  # end this sitting at this step (0: at train.steps); re-run to go on
  # ...or at the first checkpoint step from this Unix time on (0: none): a sitting that must end
  # before its machine is given back (an export then ships it; a re-run goes on).
  c.stop_by = 0
  c.lr = 3e-4  # peak Adam learning rate
  c.end_lr = 1e-5  # learning rate at the last step (cosine decay)
  c.warmup_steps = 100  # linear warm-up from 0 to lr
  c.grad_clip = 1.0  # global gradient-norm clip
  # Decay of an exponential moving average of θ kept in the train state (0: none), evaluated
  # beside θ; `<workdir>/ema` names it wherever a θ source is read (init_from, export_model.py).
  c.ema_decay = 0.999
  c.init_from = ''  # checkpoint dir or shipped model name to start from (β ladder)
  c.log_every = 25  # steps between metric lines
  c.checkpoint_every = 200  # steps between orbax checkpoints
  c.eval_every = 1000  # steps between held-out evaluations (0: only at the end)
  # Stop before train.steps once the held-out L (of θ or its average, whichever is lower) moved
  # by at most converge_tol (relative) over the last converge_window steps (0: never).
  c.converge_window = 0
  c.converge_tol = 0.005
  # Multiply the learning rate by lr_drop_factor (once) where the held-out L first moved by at
  # most lr_drop_tol over converge_window steps (0: never); convergence is then judged only on a
  # window that starts at or after that step, i.e. at the lowered rate.
  c.lr_drop_tol = 0.0
  c.lr_drop_factor = 0.1
  return c


def data() -> ml_collections.ConfigDict:
  """The video an adaptation job codes."""
  c = ml_collections.ConfigDict()
  c.video = 'bikes'  # video file, or a bundled clip: 'bikes', 'carphone'
  c.fps = 2.0  # I-frame sampling rate, frames per second (paper: 2)
  c.max_frames = 0  # keep only the first this many I-frames (0: all)
  return c


def adapt() -> ml_collections.ConfigDict:
  """Adaptation of θ_D to one video: finetuning, the model update and its prior."""
  c = ml_collections.ConfigDict()
  c.mode = 'full'  # 'none', 'latents', 'encoder' or 'full' (paper)
  c.groups = ('g_s', 'h_s', 'prior_z')  # receiver-side groups in δ (leaf-name prefixes)
  c.t = 0.005  # t: quantization bin width of δ
  c.alpha = 1000.0  # α: spike weight of the spike-and-slab prior
  c.sigma_slab = 0.05  # σ_slab: std of the slab; σ_spike = t/6
  # Further priors an opened leaf may be coded under, as (α, σ_slab) pairs (same
  # t): each takes the one of fewest bits, the update carries the priors so used and names each
  # leaf's in ⌈log2 J⌉ bits. () = the paper's one prior. These three suit leaves changed in ~1 %,
  # ~10 % and ~50 % of their entries (their effect: experiments/LOG.md).
  c.leaf_priors = ((100.0, 0.01), (10.0, 0.005), (1.0, 0.005))
  c.model_rate = True  # include M in the loss (RQ2 ablation: False)
  # What M's gradient follows (its value is always the bits the coder writes for δ̂):
  # 'bins' (straight-through bin masses, flat at δ̂ = 0), 'density' (the continuous prior, which
  # pulls entries inside the zero bin back to 0) or 'noise' (bin masses at δ + U(±t/2)). Noise
  # lets entries leave the zero bin that density holds back; bins alone turns δ̂ dense
  # (the comparison: experiments/LOG.md).
  c.rate_gradient = 'noise'
  c.quantize_aware = True  # train with δ̂ (False: train δ, quantize at the end; RQ2)
  # Proxy for round() in R while adapting: 'noise' (as in training) or 'ste' (the rounded latents
  # the coder pays for; the comparison: experiments/LOG.md).
  c.rate_mode = 'noise'
  c.steps = 200  # encoder-phase steps (encoder mode: all; full mode: before the joint phase)
  c.joint_steps = 200  # full mode: steps of g_a, h_a and δ together after the encoder phase
  c.lr = 1e-4  # peak Adam learning rate of the encoder (×10 for y, z in 'latents' mode)
  c.delta_lr = 1e-4  # peak Adam learning rate of δ (0: adapt.lr)
  c.joint_encoder_lr = 0.0  # peak rate of g_a, h_a in the joint phase (0: adapt.lr)
  c.warmup_steps = 50  # linear warm-up of both rates from 0, in each phase
  c.end_lr_factor = 0.1  # cosine decay to this fraction of the peak rates (1: constant)
  # I-frames (or crops) per step: 1 keeps the main job under 10 min on 2 slow cores at about 2's
  # coded L_RDM (WORKSPACE.md, the main job); the research questions' recipe is 2 (configs/rq.py).
  c.batch_size = 1
  # 0: whole I-frames, padded as the coder pads them (what is coded, every pixel alike);
  # > 0: tiles of this side that cover the frames, padded as the coder pads them, once each per
  # epoch (capped at the frame size), for frames too large per step.
  c.crop = 0
  c.flip = False  # random horizontal flips of tiles (the coded frames are never flipped)
  c.candidates = 4  # evenly spaced checkpoints per phase that are coded and compared
  c.select = True  # write the candidate of lowest coded L_RDM (False: the last iterate)
  # With select: also code the best candidate without the leaves of δ̂ whose reset lowers the
  # estimated L_RDM (rdm/prune.py: what opening a leaf costs is invisible to the rate gradient).
  c.prune_leaves = True
  c.checkpoint_every = 100  # steps between finetuning checkpoints
  c.log_every = 25  # steps between metric lines
  return c


def training() -> ml_collections.ConfigDict:
  """The fields of global training (learn θ_D on photos)."""
  return ml_collections.ConfigDict({
      'seed': SEED, 'model': model(), 'quantization': quantization(), 'loss': loss(),
      'train': train()})


def adapting() -> ml_collections.ConfigDict:
  """The fields of the adaptation job (the paper: finetune θ_D on a video and code it)."""
  return ml_collections.ConfigDict({
      'seed': SEED, 'model': model(), 'quantization': quantization(), 'loss': loss(),
      'data': data(), 'global_model': GLOBAL_MODEL, 'adapt': adapt()})
