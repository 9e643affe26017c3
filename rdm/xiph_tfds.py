"""tensorflow-datasets builder `xiph`: the user's Xiph .y4m sequences as 2 fps I-frames.

Put the .y4m files (e.g. from media.xiph.org/video/derf/) in a folder and build:

    import tensorflow_datasets as tfds
    from rdm import xiph_tfds  # registers the builder
    ds = tfds.load('xiph', download_and_prepare_kwargs={
        'download_config': tfds.download.DownloadConfig(manual_dir='/path/to/y4m')})

One example per I-frame: {'image': uint8 HxWx3, 'video': name, 'frame': index at 2 fps}.
Frames are decoded by the ffmpeg of imageio-ffmpeg, like every video rdm reads.
"""
import pathlib

import numpy as np

import tensorflow_datasets as tfds

from rdm import data


class Xiph(tfds.core.GeneratorBasedBuilder):
  """Xiph test sequences (.y4m, manual download) sampled at 2 fps."""
  VERSION = tfds.core.Version('1.0.0')
  MANUAL_DOWNLOAD_INSTRUCTIONS = 'Place Xiph .y4m files in manual_dir (any sub-folder depth).'

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({
            'image': tfds.features.Image(shape=(None, None, 3)),
            'video': tfds.features.Text(),
            'frame': tfds.features.Scalar(dtype=np.int32),
        }),
        supervised_keys=None,
        description=__doc__)

  def _split_generators(self, dl_manager):
    files = sorted(pathlib.Path(dl_manager.manual_dir).rglob('*.y4m'))
    if not files:
      raise data.InputError(f'{dl_manager.manual_dir}: no .y4m files')
    return {'test': self._generate_examples(files)}

  def _generate_examples(self, files):
    for path in files:
      for i, frame in enumerate(data.read_iframes(str(path))):
        yield f'{path.stem}/{i}', {'image': frame, 'video': path.stem, 'frame': i}
