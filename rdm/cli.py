"""The `rdm` command (pyproject's console script).

  rdm compress INPUT... -o OUT.rdm [--model NAME] [--adapt full --beta 128]
  rdm decompress OUT.rdm -o DIR|FRAMES.npy
  rdm info OUT.rdm [--original INPUT...]
  rdm adapt [--config=configs/xiph_beta.py] --workdir=DIR [--config.loss.beta=64 ...]
  rdm train [--config=configs/global.py] --workdir=DIR [--config.train.steps=...]
  rdm import-compressai CHECKPOINT --arch mbt2018-mean|bmshj2018-hyperprior --out models/NAME

compress/decompress/info: rdm.codec. adapt: the main job (adapt a shipped θ_D to a video, write
and check its .rdm, report). train: global training of θ_D. Both re-run to resume.
import-compressai: one of CompressAI's hyperprior models as a θ_D (rdm/compressai_import.py).
"""
import sys

COMMANDS = {'compress': 'codec', 'decompress': 'codec', 'info': 'codec',
            'adapt': 'xiph_beta.py', 'train': 'global.py', 'import-compressai': 'import'}


def main(argv=None) -> int:
  argv = sys.argv[1:] if argv is None else argv
  if not argv or argv[0] not in COMMANDS or argv[0] in ('-h', '--help'):
    print(__doc__.strip(), file=sys.stderr if argv and argv[0] not in ('-h', '--help') else None)
    return 0 if argv and argv[0] in ('-h', '--help') else 64
  command, rest = argv[0], argv[1:]
  if COMMANDS[command] == 'codec':
    from rdm import codec
    return codec.main([command, *rest])
  if COMMANDS[command] == 'import':
    from rdm import compressai_import
    return compressai_import.main(rest)
  from absl import app
  from rdm import configuration
  from rdm import main as rdm_main
  if not any(a.startswith('--config=') or a == '--config' for a in rest):
    rest = [f'--config={configuration.config_file(COMMANDS[command])}', *rest]
  app.run(rdm_main.main, argv=[f'rdm {command}', *rest], flags_parser=configuration.parse_flags)
  return 0


if __name__ == '__main__':
  sys.exit(main())
