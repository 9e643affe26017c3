"""The errors a user can cause, and how every command reports them: one line, exit status 2.

A bad stream, input, model name, setting or workdir raises a subclass of UserError whose message
names the problem; the commands (rdm.codec, rdm.main) print it without a traceback.
"""
import sys

EXIT_STATUS = 2


class UserError(ValueError):
  """Something the user gave that rdm cannot use, with the reason."""


class ConfigError(UserError):
  """A config field out of its range or of an unknown value."""


def report(error: UserError) -> int:
  """Print the error as one line on stderr; the exit status a command returns for it."""
  message = ' '.join(str(error).split())
  print(f'error: {message}', file=sys.stderr)
  return EXIT_STATUS
