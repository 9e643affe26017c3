"""Writing what rdm produces: bytes atomically (a crash never leaves half a file), JSON, PNG."""
import json
import os
import pathlib

import numpy as np
from PIL import Image


def save_png(path: str | pathlib.Path, image: np.ndarray) -> None:
  Image.fromarray(image).save(path, format='PNG')


def write_json(path: str | pathlib.Path, obj) -> None:
  pathlib.Path(path).write_text(json.dumps(obj, indent=2, sort_keys=True) + '\n')


def write_atomic(path: str | pathlib.Path, data: bytes) -> None:
  """Write via a temporary file and rename, so a crash never leaves a half-written file."""
  path = pathlib.Path(path)
  tmp = path.with_name(f'.{path.name}.tmp-{os.getpid()}')
  with open(tmp, 'wb') as f:
    f.write(data)
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, path)
