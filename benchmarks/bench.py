"""The benchmark: rdm beside CompressAI on the same frames, coding efficiency, finetuning speed
and memory, and the main job's wall time. Writes benchmarks/results/report.{json,md}.

    bash benchmarks/run.sh            # makes the CompressAI environment, then runs this
    python benchmarks/bench.py --compressai_python PATH [--skip_main_job] [--repeats 5]

Frames: carphone I-frame 0 (176×144), bikes I-frame 0 (640×272) and the latter Lanczos-
upscaled to 1280×720. Each part runs in its own process, one after the other, so neither
framework's threads compete with the other's.
"""
import argparse
import json
import os
import pathlib
import platform
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent

import numpy as np
from PIL import Image

from rdm import data

HERE = pathlib.Path(__file__).resolve().parent
MODES = ('full', 'encoder', 'latents')


def write_frames(folder: pathlib.Path) -> None:
  bikes = data.read_iframes('bikes', max_frames=1)[0]
  np.save(folder / '176x144.npy', data.read_iframes('carphone', max_frames=1)[0])
  np.save(folder / '640x272.npy', bikes)
  np.save(folder / '1280x720.npy', np.asarray(
      Image.fromarray(bikes).resize((1280, 720), Image.Resampling.LANCZOS)))


def run_json(cmd: list, out: pathlib.Path) -> dict:
  print('$', ' '.join(map(str, cmd)), flush=True)
  subprocess.run(cmd, check=True, cwd=ROOT)
  return json.loads(out.read_text())


def main_job_seconds(workdir: pathlib.Path) -> dict:
  """Wall time of the README's main job, and its δ̂ coding efficiency (real / estimated).
  workdir keeps the job's outputs (results JSON, plot, .rdm)."""
  shutil.rmtree(workdir, ignore_errors=True)
  start = time.perf_counter()
  subprocess.run([sys.executable, '-m', 'rdm.main', '--config=configs/xiph_beta.py',
                  f'--workdir={workdir}'], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
  wall = time.perf_counter() - start
  res = json.loads(next(workdir.glob('results-*.json')).read_text())
  return {'wall_s': wall, **update_efficiency(res)}


def update_efficiency(res: dict) -> dict:
  """Real / estimated bits of the update section (the estimate is what finetuning's loss
  charges: model_update.ModelUpdate.ideal_bits, head and flags included) and of the latents,
  from a main-job results JSON (the row of the stream written)."""
  row = next(r for name, r in res['rows'].items() if name.startswith('full ('))
  ratio = row['bpp_model'] / row['estimated_bpp_model'] if row['estimated_bpp_model'] else 1.0
  return {'bpp_model': row['bpp_model'], 'estimated_bpp_model': row['estimated_bpp_model'],
          'update_real_over_estimated': ratio,
          'latent_real_over_estimated': row['bpp_latent'] / row['estimated_bpp_latent']}


def machine() -> str:
  cpu = next((l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo')
              if l.startswith('model name')), platform.machine())
  return f'{cpu}, {os.cpu_count()} cores, {platform.system()}'


def format_report(r: dict) -> str:
  lines = [f'# rdm benchmark — {r["date"]}', '', f'Machine: {r["machine"]}. Command: '
           f'`{r["command"]}`. rdm model {r["rdm"]["model"]} (N={r["rdm"]["N"]}, '
           f'M={r["rdm"]["M"]}); CompressAI {r["compressai"]["compressai"]} MeanScaleHyperprior'
           f'(N={r["compressai"]["N"]}, M={r["compressai"]["M"]}), torch '
           f'{r["compressai"]["torch"]}, {r["compressai"]["threads"]} threads. Medians of '
           f'{r["repeats"]} runs after a warm-up run.', '',
           '## Global codec, seconds per frame (network + range coding)', '',
           '| frame | rdm enc (net) | rdm dec (net) | CompressAI enc (net) | CompressAI dec (net)'
           ' | enc ratio rdm/CAI | dec ratio | enc+dec ratio | rdm enc / dec MP/s | '
           'recompiles |', '|' + ' --- |' * 10]
  for name, a in r['rdm']['frames'].items():
    b = r['compressai']['frames'][name]
    lines.append(
        f'| {name} | {a["encode_s"]:.3f} ({a["encode_net_s"]:.3f}) | {a["decode_s"]:.3f} '
        f'({a["decode_net_s"]:.3f}) | {b["encode_s"]:.3f} ({b["encode_net_s"]:.3f}) | '
        f'{b["decode_s"]:.3f} ({b["decode_net_s"]:.3f}) | {a["encode_s"] / b["encode_s"]:.2f} | '
        f'{a["decode_s"] / b["decode_s"]:.2f} | '
        f'{(a["encode_s"] + a["decode_s"]) / (b["encode_s"] + b["decode_s"]):.2f} | '
        f'{a["encode_mpix_s"]:.2f} / {a["decode_mpix_s"]:.2f} | '
        f'{a["compilations_after_warmup"]} |')
  lines += ['', '## Coding efficiency (real bits / estimated bits; entropy bound = 1)', '',
            '| what | real / estimated |', '| --- | --- |']
  for name, a in r['rdm']['frames'].items():
    lines.append(f'| latents, {name} | {a["real_over_estimated"]:.4f} |')
  if r.get('main_job'):
    m = r['main_job']
    lines += [f'| latents, main job (20 bikes I-frames, adapted model) | '
              f'{m["latent_real_over_estimated"]:.4f} |',
              f'| model update δ̂, main job (range-coded payload) | '
              f'{m["update_real_over_estimated"]:.4f} |']
  lines += ['', "## Finetuning (bikes I-frames, msh-n64-beta128, the main job's settings)", '',
            '| mode | steps/s | 640×272 frames a step | Mpixel/s | peak RSS (MB) |',
            '| --- | --- | --- | --- | --- |']
  for mode, f in r['finetune'].items():
    lines.append(f'| {mode} | {f["steps_per_s"]:.2f} | {f["pixels_per_step"] / (640 * 272):g} | '
                 f'{f["mpix_per_s"]:.3f} | {f["peak_rss_mb"]:.0f} |')
  lines.append('')
  lines.append('`latents` optimises whole 640×272 frames, one at a time.')
  if r.get('main_job'):
    lines += ['', f'Main job (`./run.sh main`, bundled default): {r["main_job"]["wall_s"]:.0f} s '
              'wall, including its fresh-process decode and the JPEG curve.']
  return '\n'.join(lines) + '\n'


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--compressai_python', required=True)
  parser.add_argument('--repeats', type=int, default=5)
  parser.add_argument('--finetune_steps', type=int, default=40)
  parser.add_argument('--skip_main_job', action='store_true')
  parser.add_argument('--out', type=pathlib.Path, default=HERE / 'results')
  args = parser.parse_args()
  args.out.mkdir(parents=True, exist_ok=True)
  report = {'date': time.strftime('%Y-%m-%d'), 'machine': machine(), 'repeats': args.repeats,
            'command': 'bash benchmarks/run.sh' + (' --skip_main_job' if args.skip_main_job else '')}
  with tempfile.TemporaryDirectory() as tmp:
    tmp = pathlib.Path(tmp)
    (tmp / 'frames').mkdir()
    write_frames(tmp / 'frames')
    report['rdm'] = run_json([sys.executable, HERE / 'codec_rdm.py', '--frames', tmp / 'frames',
                              '--out', tmp / 'rdm.json', '--repeats', str(args.repeats)],
                             tmp / 'rdm.json')
    report['compressai'] = run_json(
        [args.compressai_python, HERE / 'codec_compressai.py', '--frames', tmp / 'frames',
         '--out', tmp / 'cai.json', '--repeats', str(args.repeats)], tmp / 'cai.json')
    report['finetune'] = {
        mode: run_json([sys.executable, HERE / 'finetune_speed.py', '--mode', mode, '--steps',
                        str(args.finetune_steps), '--out', tmp / f'{mode}.json'],
                       tmp / f'{mode}.json') for mode in MODES}
    if not args.skip_main_job:
      report['main_job'] = main_job_seconds(ROOT / 'runs' / 'bench-main-job')
  (args.out / 'report.json').write_text(json.dumps(report, indent=2) + '\n')
  (args.out / 'report.md').write_text(format_report(report))
  print(format_report(report))


if __name__ == '__main__':
  main()
