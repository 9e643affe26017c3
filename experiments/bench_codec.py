"""Codec speed and coding efficiency of a shipped global model on real frames.

    python experiments/bench_codec.py [--model msh-n64-beta128] [--repeats 3]

For 176×144 (carphone), 640×272 (bikes) and 1280×720 (bikes I-frame, Lanczos-upscaled), after
compilation: median encode and decode time split into network time (JAX) and range-coding time
(tensorflow-compression ops), megapixels per second, and real / estimated latent bits.
Prints a table and writes experiments/results/bench_codec.json.
"""
import argparse
import json
import pathlib
import platform
import statistics
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from rdm import coding, data, range_coding, zoo  # noqa: E402


def frames_to_bench():
  bikes = data.read_iframes('bikes', max_frames=1)[0]
  return {
      '176x144': data.read_iframes('carphone', max_frames=1)[0],
      '640x272': bikes,
      '1280x720': np.asarray(Image.fromarray(bikes).resize((1280, 720), Image.Resampling.LANCZOS)),
  }


def timed(fn):
  start = time.perf_counter()
  out = fn()
  jax.block_until_ready(out)
  return out, time.perf_counter() - start


def bench_frame(coder, x, repeats):
  """Median seconds of each stage: the same stages compress_frame/decompress_frame run."""
  arch, params = coder.arch, coder.params
  h, w = x.shape[:2]
  stages = {k: [] for k in ('enc_net', 'enc_rc', 'dec_net', 'dec_rc')}
  for _ in range(repeats + 1):  # the first pass compiles and is dropped
    (y, z_hat), t_analyze = timed(lambda: coding.analyze_params(arch, params, jnp.asarray(x, jnp.float32)[None]))
    z_hat = np.asarray(z_hat)
    (mu, sigma), t_hyper = timed(lambda: coding.hyper_params(arch, params, z_hat))
    mu, sigma = np.asarray(mu), np.asarray(sigma)
    start = time.perf_counter()
    v = np.rint(np.asarray(y) - mu).astype(np.int32)
    idx = coding.scale_indexes(sigma)
    zi = z_hat.astype(np.int32)
    z_bytes = range_coding.encode(zi, coding.z_indexes(arch, zi), coder.z_table)
    y_bytes = range_coding.encode(v, idx, coder.y_table)
    t_enc_rc = time.perf_counter() - start
    _, t_synth = timed(lambda: coding.reconstruct(arch, params, v.astype(np.float32) + mu, h, w))
    start = time.perf_counter()
    y_shape, z_shape = coding.latent_shapes(arch, h, w)
    zd = range_coding.decode(z_bytes, coding.z_indexes(arch, np.zeros(z_shape)), coder.z_table)
    t_dec_rc_z = time.perf_counter() - start
    (mu2, sigma2), t_hyper2 = timed(lambda: coding.hyper_params(arch, params, zd.astype(np.float32)))
    start = time.perf_counter()
    vd = range_coding.decode(y_bytes, coding.scale_indexes(np.asarray(sigma2)), coder.y_table)
    t_dec_rc_y = time.perf_counter() - start
    _, t_synth2 = timed(lambda: coding.reconstruct(arch, params, vd.astype(np.float32) + np.asarray(mu2), h, w))
    for key, value in (('enc_net', t_analyze + t_hyper + t_synth), ('enc_rc', t_enc_rc),
                       ('dec_net', t_hyper2 + t_synth2), ('dec_rc', t_dec_rc_z + t_dec_rc_y)):
      stages[key].append(value)
  out = {k: statistics.median(v[1:]) for k, v in stages.items()}
  coded = coding.compress_frame(coder, x)
  real = 8 * (len(coded.y_bytes) + len(coded.z_bytes))
  out.update(
      encode_s=out['enc_net'] + out['enc_rc'], decode_s=out['dec_net'] + out['dec_rc'],
      real_over_estimated=real / (coded.estimated_bits_y + coded.estimated_bits_z),
      bpp=real / (h * w))
  out['encode_mpix_s'] = h * w / 1e6 / out['encode_s']
  out['decode_mpix_s'] = h * w / 1e6 / out['decode_s']
  return out


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--model', default='msh-n64-beta128')
  parser.add_argument('--repeats', type=int, default=3)
  args = parser.parse_args()
  arch, params, _ = zoo.load_global_model(args.model)
  coder = coding.make_coder(arch, params)
  results = {'model': args.model, 'machine': f'{platform.processor() or platform.machine()}, '
             f'{jax.local_device_count()} JAX CPU device(s)', 'date': time.strftime('%Y-%m-%d'),
             'frames': {}}
  print(f'{"size":<10}{"enc s":>8}{"(net":>8}{"rc)":>8}{"dec s":>8}{"(net":>8}{"rc)":>8}'
        f'{"enc MP/s":>10}{"dec MP/s":>10}{"real/est":>10}{"bpp":>8}')
  for name, x in frames_to_bench().items():
    r = bench_frame(coder, x, args.repeats)
    results['frames'][name] = r
    print(f'{name:<10}{r["encode_s"]:>8.3f}{r["enc_net"]:>8.3f}{r["enc_rc"]:>8.3f}'
          f'{r["decode_s"]:>8.3f}{r["dec_net"]:>8.3f}{r["dec_rc"]:>8.3f}'
          f'{r["encode_mpix_s"]:>10.2f}{r["decode_mpix_s"]:>10.2f}'
          f'{r["real_over_estimated"]:>10.4f}{r["bpp"]:>8.3f}')
  out = pathlib.Path(__file__).resolve().parent / 'results' / 'bench_codec.json'
  out.parent.mkdir(exist_ok=True)
  out.write_text(json.dumps(results, indent=2) + '\n')
  print(f'→ {out}')


if __name__ == '__main__':
  main()
