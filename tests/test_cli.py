"""Every error a user can cause reaches the terminal as one line and exit status 2."""
import pytest

from conftest import run_python
from rdm import codec

MISSING = '/nonexistent/rdm-test'


def assert_one_line(rc: int, stderr: str, names: str) -> None:
  lines = stderr.strip().splitlines()
  assert rc == 2, stderr[-2000:]
  assert len(lines) == 1 and lines[0].startswith('error: '), stderr[-2000:]
  assert names in lines[0]


@pytest.mark.parametrize('argv,names', [
    (['compress', 'bikes', '--frames', '1', '--model', 'nosuch', '-o', 'x.rdm'], "'nosuch'"),
    (['compress', f'{MISSING}.mp4', '-o', 'x.rdm'], 'no such video file'),
    (['compress', 'bikes', '--frames', '1', '--adapt', 'full', '--beta', '-1', '-o', 'x.rdm'],
     'loss.beta'),
    (['decompress', f'{MISSING}.rdm', '-o', 'out'], 'cannot read the stream'),
    (['info', '/'], 'cannot read the stream'),
])
def test_codec_commands_report_user_errors_in_one_line(argv, names, capsys, tmp_path,
                                                       monkeypatch):
  monkeypatch.chdir(tmp_path)
  rc = codec.main(argv)
  assert_one_line(rc, capsys.readouterr().err, names)


@pytest.mark.parametrize('argv,names', [
    (['adapt', '--config.adapt.nosuch=3'], "'nosuch'"),
    (['adapt', '--config.loss.beta=abc'], '--config.loss.beta=abc'),
    (['adapt', '--config.adapt.mode=foo'], 'adapt.mode'),
    (['adapt', '--config.global_model=nosuch'], "'nosuch'"),
    (['adapt', f'--config={MISSING}.py'], f'{MISSING}.py'),
    (['train', f'--config.train.photos={MISSING}'], 'no such image folder'),
])
def test_job_commands_report_user_errors_in_one_line(argv, names, tmp_path):
  result = run_python(['-m', 'rdm.cli', *argv, f'--workdir={tmp_path}'])
  assert_one_line(result.returncode, result.stderr, names)
