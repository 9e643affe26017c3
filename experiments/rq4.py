"""RQ4: how the gain of full adaptation over encoder-only grows with finetuning steps, and how
many I-frames it needs to pay for its update (the break-even point).

    python experiments/rq4.py --video bikes --betas 128 --steps 50,100,200,400 \
        --frames 1,2,5,10,20 --frames_steps 200
    python experiments/rq4.py --candidates experiments/results/rq1-bikes-thetaD6.jsonl

Steps: both finetuning phases at the step count (adapt.steps = adapt.joint_steps), default
schedule, each in its own workdir under runs/rq4/ (encoder-only and full share the encoder
phase; --workdirs). Frames: the first n I-frames only (data.max_frames), at --frames_steps. Every point
is a real stream (update included), the lowest coded L_RDM of its candidates, decoded and
checked. One JSON line per point in --out (default experiments/results/rq4-<video>.jsonl;
finished points are skipped); a plot beside it of
ΔPSNR, Δbpp and ΔL = ΔMSE + β·Δbpp (full − encoder; ΔL < 0: full pays).
"""
import json
import pathlib
import time

from absl import app
from absl import flags

from rdm import configuration, data, figures, pipeline, zoo

ROOT = pathlib.Path(__file__).resolve().parent.parent
FLAGS = flags.FLAGS


def define_flags() -> None:
  """The command line (defined only when run, so tests may import this module)."""
  configuration.define_config_flag('rq.py')
  flags.DEFINE_string('video', 'bikes', 'a video file or a bundled clip name')
  flags.DEFINE_list('betas', '128', 'β of the points')
  flags.DEFINE_list('steps', '50,100,200,400', 'the steps axis: steps of each phase')
  flags.DEFINE_list('frames', '1,2,5,10,20', 'the frames axis: the first n I-frames')
  flags.DEFINE_integer('frames_steps', 200, 'steps of each phase on the frames axis')
  flags.DEFINE_string('model', '', 'θ_D where no ladder model is shipped for β')
  flags.DEFINE_string('out', None, 'default: experiments/results/rq4-<video>.jsonl')
  flags.DEFINE_string('workdirs', str(ROOT / 'runs' / 'rq4'), 'finetuning checkpoints')
  flags.DEFINE_string('candidates', None, "a sweep's .jsonl: follow its full points' "
                      'candidates instead of running')
  flags.DEFINE_string('tag', '', 'with --candidates: the sweep tag of the points to follow')
  flags.DEFINE_list('beside', None, "clips' .jsonl files (rq4's and sweeps'): plot full's gain over "
                    'encoder-only against the pixels it was amortised over, clip beside clip')

MODES = ('encoder', 'full')


def load(path: pathlib.Path) -> list:
  return [json.loads(l) for l in path.read_text().splitlines()] if path.exists() else []


def gains(records: list, axis: str) -> list:
  """Per (β, axis value): full − encoder in PSNR, bpp and the coded L_RDM each record carries."""
  by = {(r['beta'], r[axis], r['mode']): r for r in records if r['axis'] == axis}
  out = []
  for (beta, value, mode), f in sorted(by.items()):
    e = by.get((beta, value, 'encoder'))
    if mode == 'full' and e:
      out.append({'beta': beta, axis: value, 'd_psnr': f['psnr'] - e['psnr'],
                  'd_bpp': f['bpp_total'] - e['bpp_total'],
                  'd_loss': f['L_rdm_coded'] - e['L_rdm_coded']})
  return out


def candidate_curves(records: list, tag: str = '') -> dict:
  """{β: [(steps so far, coded L_RDM)]} along the candidates of each full point tagged tag."""
  out = {}
  for r in records:
    if r['mode'] != 'full' or r.get('tag', '') != tag:
      continue
    trained = [c for c in r['candidates'] if not c['pruned']]  # training's, not the pruned one
    encoder_steps = max(c['step'] for c in trained if c['phase'] == 'encoder')
    out[r['beta']] = sorted((c['step'] + (encoder_steps if c['phase'] == 'joint' else 0),
                             c['L_rdm_coded']) for c in trained)
  return dict(sorted(out.items()))


def report_candidates(path: pathlib.Path, tag: str = '') -> None:
  """Print and plot the gain over θ_D of each candidate, in % of θ_D's coded L_RDM."""
  curves = candidate_curves(load(path), tag)
  fig, ax = figures.subplots(figsize=(6, 4))
  for beta, points in curves.items():
    start = points[0][1]
    gains = [(steps, 100 * (start - loss) / start) for steps, loss in points]
    print(f'β={beta:g}: θ_D L {start:.2f}; gain % at steps ' +
          ', '.join(f'{steps}: {g:.2f}' for steps, g in gains))
    ax.plot(*zip(*gains), 'o-', label=f'β={beta:g}')
  figures.label(ax, 'finetuning steps (encoder phase, then joint phase)',
                 'coded L_RDM gain over θ_D (%)')
  figures.save(fig, path.with_name(f'{path.stem}-steps.png'))


def plot(records: list, path: pathlib.Path) -> None:
  measured = [(axis, label, gains(records, axis)) for axis, label in (
      ('steps', 'finetuning steps'), ('frames', 'I-frames used'))]
  measured = [m for m in measured if m[2]]  # an axis this run did not measure gets no panel
  fig, axes = figures.subplots(1, len(measured), figsize=(5 * len(measured), 4),
                              squeeze=False)
  for ax, (axis, label, g) in zip(axes[0], measured):
    for beta in sorted({x['beta'] for x in g}):
      pts = [x for x in g if x['beta'] == beta]
      ax.plot([x[axis] for x in pts], [x['d_loss'] for x in pts], 'o-', label=f'β={beta:g}')
    ax.axhline(0, color='gray', lw=0.8)
    ax.set_xscale('log')
    ticks = sorted({x[axis] for x in g})  # plain numbers: log ticks would read 2×10⁰
    ax.set_xticks(ticks, [f'{v:g}' for v in ticks])
    ax.minorticks_off()
    figures.label(ax, label, 'ΔL = ΔMSE + β·Δbpp, full − encoder')
  fig.suptitle(f'{path.stem}: full adaptation vs encoder-only\n(ΔL < 0: full pays)', fontsize=10)
  figures.save(fig, path)


def frames_gains(records: list) -> dict:
  """{β: [(pixels, ΔL in % of encoder-only's L)]} of full vs encoder-only per number of
  I-frames (an untagged sweep point counts as all of its clip's I-frames)."""
  by = {}
  for r in records:
    if r.get('axis', 'frames') == 'frames' and not r.get('tag'):
      by[(r['beta'], round(8 * r['bytes'] / r['bpp_total']), r['mode'])] = r['L_rdm_coded']
  out = {}
  for (beta, pixels, mode), loss in sorted(by.items()):
    encoder = by.get((beta, pixels, 'encoder'))
    if mode == 'full' and encoder:
      out.setdefault(beta, []).append((pixels, 100 * (loss - encoder) / encoder))
  return out


def plot_beside(paths: list[str], out: pathlib.Path) -> None:
  fig, ax = figures.subplots(figsize=(6.5, 4))
  clips = {}
  for path in paths:
    records = load(pathlib.Path(path))
    clips.setdefault(data.clip_name(records[0]['video']), []).extend(records)
  for (clip, records), marker in zip(sorted(clips.items()), 'osd^v'):
    for beta, points in frames_gains(records).items():
      print(f'{clip} β={beta:g}: ' + ', '.join(f'{p / 1e6:.1f} Mpx: ΔL {g:+.1f} %'
                                             for p, g in points))
      ax.plot(*zip(*[(p / 1e6, g) for p, g in points]), marker=marker, label=f'{clip}, β={beta:g}')
  ax.axhline(0, color='grey', lw=0.8)
  ax.set_xscale('log')
  figures.label(ax, 'pixels of the I-frames the update is amortised over (millions)',
                 'ΔL_RDM coded, full − encoder-only (%)', fontsize=8)
  figures.save(fig, out)


def main(argv):
  del argv
  if FLAGS.beside:
    return plot_beside(FLAGS.beside, pathlib.Path(FLAGS.out or ROOT / 'experiments' / 'results' /
                                                  'rq4-frames-beside.png'))
  if FLAGS.candidates:
    report_candidates(pathlib.Path(FLAGS.candidates), FLAGS.tag)
    return
  overrides = configuration.overrides()
  video = FLAGS.video
  out = pathlib.Path(FLAGS.out or ROOT / 'experiments' / 'results' /
                     f'rq4-{data.clip_name(video)}.jsonl')
  done = {r['key'] for r in load(out)}
  all_frames = data.read_iframes(video, FLAGS.config.data.fps)
  plan = [('steps', int(s), len(all_frames), int(s)) for s in FLAGS.steps if s]
  plan += [('frames', int(n), int(n), FLAGS.frames_steps) for n in FLAGS.frames
           if n and int(n) <= len(all_frames)]
  for beta in (float(b) for b in FLAGS.betas):
    model = zoo.ladder_model(beta, FLAGS.model)
    theta_d = None
    for mode in MODES:
      for axis, value, n_frames, steps in plan:
        key = (f'{video}|{zoo.model_key(model)}|{mode}|{axis}={value}|'
               f'{json.dumps(overrides, sort_keys=True)}')
        if key in done:
          continue
        config = configuration.with_fields(
            configuration.adaptation(FLAGS.config, video, mode, beta, model),
            {'adapt.steps': steps, 'adapt.joint_steps': steps, 'data.max_frames': n_frames})
        root = (pathlib.Path(FLAGS.workdirs) / f'{data.clip_name(video)}-{zoo.model_key(model)}-'
                f'b{beta:g}-{n_frames}f-{steps}s')
        theta_d = theta_d or zoo.load_global_model(model)
        result = pipeline.encode_and_check(config, all_frames[:n_frames], root / mode, theta_d,
                                           root / 'encoder')
        record = {'key': key, 'video': video, 'beta': beta, 'mode': mode, 'axis': axis,
                  axis: value, 'steps_run': steps, 'n_frames': n_frames,
                  'overrides': overrides, 'date': time.strftime('%Y-%m-%d'), **result}
        with out.open('a') as f:
          f.write(json.dumps(record) + '\n')
        print(f'{key}: {result["bpp_total"]:.4f} bpp (model {result["bpp_model"]:.4f}), '
              f'{result["psnr"]:.2f} dB', flush=True)
  records = load(out)
  for axis in ('steps', 'frames'):
    for g in gains(records, axis):
      print(f'β={g["beta"]:g} {axis}={g[axis]}: ΔPSNR {g["d_psnr"]:+.3f} dB, '
            f'Δbpp {g["d_bpp"]:+.4f}, ΔL {g["d_loss"]:+.2f}')
  plot(records, out.with_suffix('.png'))
  print(f'→ {out.with_suffix(".png")}')


if __name__ == '__main__':
  define_flags()
  app.run(main, flags_parser=configuration.parse_flags)
