"""The one exception type that binaries report as a single line, without a traceback."""


class UserError(Exception):
  """Bad input or missing data: the message says what was wrong and what to do."""
