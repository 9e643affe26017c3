"""The scripts that make WORKSPACE.md's numbers run end to end on a tiny point."""
import json

from conftest import run_python


def test_a_sweep_point_and_its_report(use_tiny_models, tmp_path):
  out = tmp_path / 'sweep.jsonl'
  args = ['experiments/sweep.py', '--out', str(out), '--video', 'carphone', '--modes',
          'encoder,full', '--betas', '64,128', '--model', 'tiny-a', '--workdirs',
          str(tmp_path / 'runs'), '--set', 'model.N=8', 'model.M=8', 'data.max_frames=2',
          'adapt.steps=2', 'adapt.joint_steps=2', 'adapt.candidates=1']
  result = run_python(args)
  assert result.returncode == 0, result.stderr[-3000:]
  records = [json.loads(l) for l in out.read_text().splitlines()]
  assert [(r['mode'], r['beta']) for r in records] == [
      ('encoder', 64.0), ('full', 64.0), ('encoder', 128.0), ('full', 128.0)]
  for r in records:
    assert r['loss'] == min(c['loss'] for c in r['candidates'])
    assert r['bpp_total'] > 0 and r['psnr'] > 0  # a random tiny θ_D: poor, but real
  again = run_python(args)  # every point is done: nothing is recomputed
  assert again.returncode == 0 and again.stdout.count('skip ') == 4
  report = run_python(['experiments/report.py', str(out), '--anchor', 'jpeg'])
  assert report.returncode == 0, report.stderr[-3000:]
  assert 'encoder' in report.stdout and 'full' in report.stdout
  assert out.with_suffix('.png').stat().st_size > 10_000
