"""The notebook runs end to end (tiny: 2 I-frames, 3 steps per finetuning phase, the shipped
model)."""
import pytest

from conftest import ROOT
from rdm import zoo


@pytest.mark.skipif('msh-n64-beta128' not in zoo.available(), reason='no shipped model')
def test_notebook_runs_the_tiny_main_job_and_plots(monkeypatch):
  import nbclient
  import nbformat
  monkeypatch.setenv('RDM_NOTEBOOK_STEPS', '3')
  monkeypatch.setenv('RDM_NOTEBOOK_FRAMES', '2')
  nb = nbformat.read(ROOT / 'experiments' / 'adapt_video.ipynb', as_version=4)
  nbclient.NotebookClient(nb, timeout=600, kernel_name='python3',
                          resources={'metadata': {'path': str(ROOT / 'experiments')}}).execute()
  printed = ''.join(o.get('text', '') for c in nb.cells if c.cell_type == 'code'
                    for o in c.get('outputs', []))
  assert 'full (joint@' in printed and 'encoder-only' in printed and 'bpp' in printed
