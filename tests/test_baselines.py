"""Claims about the classical anchors: every codec really codes the frames (sizes from the
files, decoded frames compared), and quality moves rate and PSNR the right way."""
import numpy as np
import pytest

from rdm import baselines


@pytest.mark.parametrize('codec', sorted(baselines.FFMPEG_CODECS))
def test_ffmpeg_codec_round_trips_real_frames_and_trades_rate_for_quality(codec, bikes_frames):
  frames = bikes_frames[:, :96, :160]
  ladder = baselines.FFMPEG_CODECS[codec][2]
  best, worst = (baselines.ffmpeg_point(frames, codec, q) for q in (ladder[0], ladder[-1]))
  assert best['bpp'] > worst['bpp'] > 0
  assert best['psnr'] > worst['psnr'] > 15
  size, decoded = baselines.ffmpeg_roundtrip(frames, codec, ladder[0])
  assert decoded.shape == frames.shape and decoded.dtype == np.uint8
  assert size * 8 / frames[..., 0].size == pytest.approx(best['bpp'])
