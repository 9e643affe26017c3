"""The scripts that make WORKSPACE.md's numbers run end to end on a tiny point."""
import json

import numpy as np
import pytest

from conftest import ROOT, load_script, run_python


def test_a_sweep_point_and_its_report(use_tiny_models, tmp_path):
  out = tmp_path / 'sweep.jsonl'
  args = ['experiments/sweep.py', '--out', str(out), '--video', 'carphone', '--modes',
          'encoder,full', '--betas', '64,128', '--model', 'tiny-a', '--workdirs',
          str(tmp_path / 'runs'), '--config.model.N=8', '--config.model.M=8',
          '--config.data.max_frames=2', '--config.adapt.steps=2', '--config.adapt.joint_steps=2',
          '--config.adapt.candidates=1', '--config.adapt.batch_size=1']
  result = run_python(args)
  assert result.returncode == 0, result.stderr[-3000:]
  records = [json.loads(l) for l in out.read_text().splitlines()]
  assert [(r['mode'], r['beta']) for r in records] == [
      ('encoder', 64.0), ('full', 64.0), ('encoder', 128.0), ('full', 128.0)]
  for r in records:
    assert r['L_rdm_coded'] == min(c['L_rdm_coded'] for c in r['candidates'])
    assert r['bpp_total'] > 0 and r['psnr'] > 0  # a random tiny θ_D: poor, but real
  again = run_python(args)  # every point is done: nothing is recomputed
  assert again.returncode == 0 and again.stdout.count('skip ') == 4
  report = run_python(['experiments/report.py', str(out), '--anchor', 'jpeg'])
  assert report.returncode == 0, report.stderr[-3000:]
  assert 'encoder' in report.stdout and 'full' in report.stdout
  assert out.with_suffix('.png').stat().st_size > 10_000
  steps = run_python(['experiments/rq4.py', '--candidates', str(out)])
  assert steps.returncode == 0, steps.stderr[-3000:]
  # Each full point's candidates: θ_D, encoder@2, then joint@2 two steps later.
  lines = [l for l in steps.stdout.splitlines() if l.startswith('β=')]
  assert [l.split(':')[0] for l in lines] == ['β=64', 'β=128']
  assert all('gain % at steps 0: 0.00, 2: ' in l and ', 4: ' in l for l in lines)
  assert (tmp_path / 'sweep-steps.png').stat().st_size > 10_000


def test_a_report_at_another_frame_rate_leaves_out_the_2fps_classical_curves(tmp_path):
  def sweep(path, mode, gain):
    path.write_text(''.join(json.dumps({
        'video': 'carphone', 'mode': mode, 'beta': 1 / bpp, 'tag': 'fps25', 'bpp_total': bpp,
        'psnr': psnr + gain, 'overrides': {'data.fps': 25}}) + '\n'
        for bpp, psnr in ((0.1, 28.0), (0.2, 31.0), (0.4, 34.0))))
    return str(path)
  anchor, full = sweep(tmp_path / 'anchor.jsonl', 'encoder', 0.0), sweep(tmp_path / 'fps25.jsonl', 'full', 0.3)
  alone = run_python(['experiments/report.py', full, '--anchor', 'encoder-fps25'])
  assert alone.returncode == 0, alone.stderr[-3000:]
  assert 'BD-PSNR' not in alone.stdout  # the anchor is in the other file
  report = run_python(['experiments/report.py', full, '--with', anchor, '--anchor', 'encoder-fps25'])
  assert report.returncode == 0, report.stderr[-3000:]
  assert 'classical codecs left out' in report.stdout and 'jpeg' not in report.stdout
  assert 'full-fps25       BD-PSNR +0.30 dB' in report.stdout


def test_the_free_curve_takes_each_full_runs_last_joint_iterate_without_its_update(tmp_path):
  from experiments import report
  def candidate(phase, step, pruned, bpp_total, bpp_model, psnr):
    return {'phase': phase, 'step': step, 'pruned': pruned, 'bpp_total': bpp_total,
            'bpp_model': bpp_model, 'psnr': psnr}
  records = [{'video': 'carphone', 'mode': 'full', 'beta': 1 / bpp, 'tag': 'noM',
              'bpp_total': bpp, 'psnr': 30.0 + 10 * bpp, 'candidates': [
                  candidate('encoder', 0, False, bpp, 0.0, 29.0),
                  candidate('joint', 50, False, 9.0, 8.0, 1.0),
                  candidate('joint', 200, False, bpp + 0.5, 0.5 + bpp / 10, 31.0 + 10 * bpp),
                  candidate('joint', 200, True, 9.0, 0.0, 1.0)]}
             for bpp in (0.1, 0.2, 0.4)]
  c = report.curves(records, free=('noM',))
  np.testing.assert_allclose(c['full-noM-free'], [(0.09, 32.0), (0.18, 33.0), (0.36, 35.0)])
  assert 'full-noM-free' not in report.curves(records)
  path = tmp_path / 'free.jsonl'
  path.write_text(''.join(json.dumps(r) + '\n' for r in records))
  printed = run_python(['experiments/report.py', str(path), '--anchor', 'full-noM', '--free',
                        'noM'])
  assert printed.returncode == 0, printed.stderr[-3000:]
  assert 'full-noM-free    BD-PSNR +' in printed.stdout


def test_rq3_splits_the_written_stream_by_parameter_group(use_tiny_models, tmp_path):
  out = tmp_path / 'rq3.json'
  result = run_python([
      'experiments/rq3.py', '--video', 'carphone', '--beta', '64', '--model', 'tiny-a', '--out',
      str(out), *(f'--config.{kv}' for kv in (
          'model.N=8', 'model.M=8', 'data.max_frames=2', 'adapt.steps=1', 'adapt.joint_steps=2',
          'adapt.candidates=1', 'adapt.select=false', 'adapt.lr=3e-3', 'adapt.delta_lr=3e-2',
          'adapt.t=0.01', 'adapt.warmup_steps=0'))])
  assert result.returncode == 0, result.stderr[-3000:]
  report = json.loads(out.read_text())
  rows = report['groups']
  assert report['label'] == 'joint@2'
  assert all(r['group'].startswith(('g_s', 'h_s', 'prior_z')) for r in rows)
  assert any(r['nonzero'] > 0 for r in rows)  # the rates move δ̂ across a bin edge
  # Unchanged leaves cost their flag alone; changed ones their flag and their symbols.
  assert all((r['bits'] == 1) == (r['nonzero'] == 0) for r in rows)
  assert all(r['bits_channel_flags'] == 1 for r in rows if r['nonzero'] == 0)
  assert report['bits_split']['update'] > 0
  assert report['pixels'] == 2 * 144 * 176
  # Only opened leaves are valued; each one's price is its bits in L_RDM's units (β = 64).
  assert all(r['net_value'] == 0 for r in rows if r['nonzero'] == 0)
  assert any(r['net_value'] != 0 for r in rows if r['nonzero'] > 0)
  assert all(r['price'] == pytest.approx(64 * r['bits'] / report['pixels']) for r in rows)


def test_a_leaf_that_damages_the_decoder_has_negative_net_value(bikes_frames):
  from rdm import model_prior, model_update, prune, zoo
  priors = model_prior.LeafPriors((model_prior.SpikeSlab(0.005, 1000.0, 0.05),))
  theta_d = zoo.load_global_model('msh-n64-beta128')
  params = theta_d.params
  groups = ('g_s/ConvTranspose_3/kernel',)
  names = model_update.selected_names(params, groups)
  kernel = np.asarray(params['g_s']['ConvTranspose_3']['kernel'])
  noise = np.random.default_rng(0).integers(-4, 5, kernel.shape).astype(np.int32)
  frames = bikes_frames[:1, :64, :64]
  update = model_update.ModelUpdate(priors, groups, names, (noise,))
  values = prune.leaf_values(theta_d.arch, params, update, frames, 64.0)
  assert list(values) == list(groups)
  # Noise of up to ±0.02 (about the weights' own size) on every weight of the trained last layer:
  # removing it lowers L by more than the price of its bits alone.
  assert values[groups[0]] < -64 * update.ideal_bits() / 64 ** 2


@pytest.mark.parametrize('layout', ['out', 'in'])
def test_a_kernel_truncated_to_rank_r_is_its_best_rank_r_part(layout):
  from experiments import free_update_rank
  rng = np.random.default_rng(0)
  kernel = rng.normal(size=(5, 5, 6, 4))
  whole, numbers, energy = free_update_rank.truncated(kernel, 200, layout)
  np.testing.assert_allclose(whole, kernel, atol=1e-12)
  assert energy == pytest.approx(1.0)
  # a kernel made of two rank-one terms in this layout is kept whole at rank 2, not at rank 1
  a, b = rng.normal(size=(2, 150)), rng.normal(size=(2, 4 if layout == 'out' else 100))
  if layout == 'out':
    low = (a.T @ b).reshape(5, 5, 6, 4)
  else:
    low = (a[:, :6].T @ b).reshape(6, 5, 5, 4).transpose(1, 2, 0, 3)
  two, numbers, energy = free_update_rank.truncated(low, 2, layout)
  np.testing.assert_allclose(two, low, atol=1e-9)
  assert numbers == 2 * (150 + 4 if layout == 'out' else 6 + 100)
  one, _, energy = free_update_rank.truncated(low, 1, layout)
  assert 0 < energy < 1 and np.abs(one - low).max() > 1e-3


def test_rq4_follows_the_candidates_of_the_points_with_the_asked_tag():
  from experiments import rq4
  def point(tag, losses):
    made = (('encoder', 0, False), ('encoder', 100, False), ('joint', 100, False),
            ('joint', 100, True))
    return {'mode': 'full', 'beta': 64.0, 'tag': tag, 'candidates': [
        {'phase': phase, 'step': step, 'pruned': pruned, 'L_rdm_coded': x}
        for (phase, step, pruned), x in zip(made, losses)]}
  records = [point('', (9, 8, 7, 6)), point('leafpriors', (9, 8, 5, 4)),
             {**point('leafpriors', (9, 9, 9, 9)), 'mode': 'encoder'}]
  # The pruned candidate is not a step of training; the joint phase counts on from the encoder's.
  assert rq4.candidate_curves(records) == {64.0: [(0, 9), (100, 8), (200, 7)]}
  assert rq4.candidate_curves(records, 'leafpriors') == {64.0: [(0, 9), (100, 8), (200, 5)]}


def test_rq4_measures_both_axes_and_plots_the_gain(use_tiny_models, tmp_path):
  out = tmp_path / 'rq4.jsonl'
  args = ['experiments/rq4.py', '--video', 'carphone', '--betas', '64', '--model', 'tiny-a',
          '--steps', '2', '--frames', '1', '--frames_steps', '1', '--out', str(out),
          '--workdirs', str(tmp_path / 'runs'), '--config.model.N=8', '--config.model.M=8',
          '--config.adapt.candidates=1', '--config.adapt.batch_size=1']
  result = run_python(args)
  assert result.returncode == 0, result.stderr[-3000:]
  records = [json.loads(l) for l in out.read_text().splitlines()]
  assert sorted((r['mode'], r['axis'], r['n_frames'], r['steps_run']) for r in records) == [
      ('encoder', 'frames', 1, 1), ('encoder', 'steps', 8, 2),
      ('full', 'frames', 1, 1), ('full', 'steps', 8, 2)]
  assert 'β=64 steps=2: ΔPSNR' in result.stdout and 'β=64 frames=1: ΔPSNR' in result.stdout
  assert out.with_suffix('.png').stat().st_size > 10_000


def test_anchors_code_the_iframes_and_skip_done_points(tmp_path):
  out = tmp_path / 'anchors.jsonl'
  args = ['experiments/anchors.py', '--video', 'carphone', '--codecs', 'jpeg,hevc-intra',
          '--max_frames', '1', '--out', str(out)]
  result = run_python(args)
  assert result.returncode == 0, result.stderr[-3000:]
  records = [json.loads(l) for l in out.read_text().splitlines()]
  for codec in ('jpeg', 'hevc-intra'):
    curve = [r for r in records if r['codec'] == codec]
    assert len(curve) >= 8
    # Better quality settings cost more bits and give a higher PSNR.
    by_rate = sorted(curve, key=lambda r: r['bpp'])
    assert by_rate[-1]['psnr'] > by_rate[0]['psnr'] + 5
  again = run_python(args)
  assert again.returncode == 0 and again.stdout == ''
  assert len(out.read_text().splitlines()) == len(records)


def test_channel_flags_code_only_the_opened_output_channels():
  from experiments import rq3
  from rdm import model_prior, model_update
  prior = model_prior.SpikeSlab(0.005, 1000.0, 0.05)
  kernel = np.zeros((5, 5, 8, 4), np.int32)
  kernel[2, 3, 1, 2] = 3
  one_channel = kernel[..., 2:3]
  symbol_bits = lambda k: model_update.ideal_symbol_bits(prior, k)
  assert rq3.channel_flag_bits(prior, kernel) == pytest.approx(1 + 4 + symbol_bits(one_channel))
  # the 3 closed channels' 600 zeros no longer pay the table's price of a zero
  saved = symbol_bits(kernel) - symbol_bits(one_channel)
  assert saved == pytest.approx(600 * model_update.symbol_bits(prior)[0][prior.half_width])
  bias = np.array([0, 0, -1], np.int32)
  assert rq3.channel_flag_bits(prior, bias) == pytest.approx(1 + symbol_bits(bias))
  assert rq3.channel_flag_bits(prior, np.zeros((3, 3), np.int32)) == 1


def test_a_clip_given_by_path_has_its_workdir_one_level_under_the_root(use_tiny_models, tmp_path):
  from experiments import sweep
  by_path = sweep.point_dir(tmp_path, 'data/videos/clip.mp4', 'tiny-a', 128.0, {'data.fps': 6})
  assert by_path.parent == tmp_path and by_path.name.startswith('clip.mp4-')
  # A joint-phase override leaves the encoder phase's workdir where it was; a data one moves it.
  for joint_setting in ({'adapt.delta_lr': 1e-3}, {'adapt.joint_steps': 800}):
    assert sweep.point_dir(tmp_path, 'bikes', 'tiny-a', 128.0, joint_setting) == \
        sweep.point_dir(tmp_path, 'bikes', 'tiny-a', 128.0, {})
  assert sweep.point_dir(tmp_path, 'bikes', 'tiny-a', 128.0, {'adapt.steps': 800}) != \
      sweep.point_dir(tmp_path, 'bikes', 'tiny-a', 128.0, {})
  assert by_path != sweep.point_dir(tmp_path, 'data/videos/clip.mp4', 'tiny-a', 128.0, {})


def test_the_main_jobs_plot_zooms_on_its_operating_points_and_labels_their_differences(tmp_path):
  from rdm import job_report as report
  points = {'global': {'bpp_total': 0.3253, 'psnr': 35.20, 'L_rdm_coded': 63.5},
            'encoder-only': {'bpp_total': 0.3115, 'psnr': 35.12, 'L_rdm_coded': 62.2},
            'full': {'bpp_total': 0.3045, 'psnr': 35.02, 'L_rdm_coded': 61.7}}
  lo_b, hi_b, lo_p, hi_p = report.zoom_window(points)
  assert lo_b < 0.3045 and hi_b > 0.3253 and hi_b - lo_b < 0.1  # tight: 0.02 bpp apart
  assert lo_p < 35.02 and hi_p > 35.20 and hi_p - lo_p < 1.0
  assert report.difference_label(points['full'], points['global']).splitlines() == [
      'ΔL_RDM -1.80', 'Δbpp -6.4 %, ΔPSNR -0.18 dB']
  one = report.zoom_window({'a': points['full']})  # a single point still gets a window
  assert one[0] < 0.3045 < one[1] and one[2] < 35.02 < one[3]
  curves = {'JPEG': [{'bpp': 0.3, 'psnr': 31.0}, {'bpp': 2.0, 'psnr': 45.0}]}
  report.plot_rd(tmp_path / 'rd.png', points, curves, 'test', 'global')
  assert (tmp_path / 'rd.png').stat().st_size > 20_000


def test_the_package_has_no_import_cycle_and_the_graph_script_finds_one(tmp_path):
  graph = load_script('import_graph')
  modules = {p.stem: p for p in (ROOT / 'rdm').glob('*.py') if p.stem != '__init__'}
  floor = graph.floors(modules, graph.arrows(modules))
  assert floor['errors'] == 1 and floor['cli'] > floor['job'] > floor['pipeline']
  (tmp_path / 'a.py').write_text('from rdm import b\n')
  (tmp_path / 'b.py').write_text('def f():\n  from rdm import a\n')  # lazy imports count too
  looped = {p.stem: p for p in tmp_path.glob('*.py')}
  with pytest.raises(SystemExit, match='import cycle'):
    graph.floors(looped, graph.arrows(looped))


def test_rq4_puts_full_against_encoder_only_at_the_pixels_each_pair_was_coded_over():
  from experiments import rq4

  def point(mode, frames, loss, **extra):
    return {'mode': mode, 'beta': 128.0, 'bytes': 1000 * frames, 'bpp_total': 0.002,
            'L_rdm_coded': loss, 'axis': 'frames', **extra}  # 4 M pixels a frame
  records = [point('encoder', 1, 100.0), point('full', 1, 90.0), point('encoder', 2, 50.0),
             point('full', 2, 49.0), point('full', 2, 10.0, tag='noM'),  # another setting
             {**point('encoder', 4, 80.0), 'axis': 'steps'}]
  assert rq4.frames_gains(records) == {128.0: [(4_000_000, -10.0), (8_000_000, -2.0)]}


def test_the_ladder_check_flags_a_short_span_a_close_pair_and_a_psnr_that_falls():
  from experiments import ladder
  good = [(0.07, 28.0, 'a'), (0.2, 32.0, 'b'), (0.5, 36.0, 'c'), (1.1, 39.0, 'd')]
  assert ladder.span_checks(good) == {
      'lowest_bpp': 0.07, 'highest_bpp': 1.1, 'spans': True,
      'smallest_rate_step': pytest.approx(1.2), 'rate_steps_ok': True, 'psnr_rises': True}
  short = ladder.span_checks(good[:3])
  assert not short['spans'] and short['rate_steps_ok'] and short['psnr_rises']
  close = ladder.span_checks(good + [(1.3, 39.5, 'e')])  # 18 % above d
  assert close['smallest_rate_step'] == pytest.approx(1.3 / 1.1 - 1)
  assert not close['rate_steps_ok'] and close['spans']
  falls = ladder.span_checks(good[:3] + [(1.1, 35.0, 'd')])
  assert not falls['psnr_rises']


def test_the_ladder_gives_the_psnr_each_step_gains_per_doubling_of_rate():
  from experiments import ladder
  points = [(0.1, 30.0, 'a'), (0.2, 33.0, 'b'), (0.8, 35.0, 'c'), (0.8 * 2 ** 0.5, 35.1, 'd')]
  assert ladder.db_per_doubling(points) == pytest.approx([3.0, 1.0, 0.2])


def test_the_ladder_is_measured_against_the_classical_codecs_on_the_same_i_frames():
  from experiments import ladder, report
  hevc = report.classical_curves('bikes')['hevc-intra']  # the anchors measured on bikes
  above = [(b, p + 1.0, f'm{i}') for i, (b, p) in enumerate(hevc)]
  bd_psnr, bd_rate = ladder.against_classical(above, 'bikes')['hevc-intra']
  assert bd_psnr == pytest.approx(1.0, abs=1e-6) and bd_rate < 0
  below = [(b, p - 2.0, n) for b, p, n in above[2:]]  # over the overlap (interpolated apart)
  assert ladder.against_classical(below, 'bikes')['hevc-intra'][0] == pytest.approx(-1.0,
                                                                                     abs=0.01)
