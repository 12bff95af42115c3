"""absl flags generated from a config dataclass, and the config read back from them.

Every field of the config becomes a flag of the same name, type and default,
whose help text is the field's entry in the class docstring's ``Attributes:``
section, so a new setting is one field and one docstring line, and the binaries
stay thin.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Mapping, Sequence

from absl import flags

_DEFINE = {bool: flags.DEFINE_bool, int: flags.DEFINE_integer,
           float: flags.DEFINE_float, str: flags.DEFINE_string}
_BY_NAME = {kind.__name__: define for kind, define in _DEFINE.items()}


def _define_function(field: dataclasses.Field) -> Any:
  """The absl DEFINE_* of a field: by its default's type, or for a default of
  None by its annotation ('int | None', ...)."""
  if field.default is not None:
    return _DEFINE[type(field.default)]
  annotation = field.type if isinstance(field.type, str) else str(field.type)
  kinds = [part.strip() for part in annotation.split('|')]
  (kind,) = [part for part in kinds if part != 'None']
  return _BY_NAME[kind]


def field_help(config_class: type) -> dict[str, str]:
  """{field: its description} from the ``Attributes:`` sections of the
  docstrings of the class and its bases (the class's own entry wins)."""
  helps = {}
  for klass in reversed(config_class.__mro__):
    section = (klass.__doc__ or '').partition('Attributes:')[2]
    entries = re.findall(r'^    (\w+): (.*(?:\n {6,}.*)*)', section,
                         re.MULTILINE)
    helps.update({name: ' '.join(text.split()) for name, text in entries})
  return helps


def define_config_flags(config_class: type, *, skip: Sequence[str] = (),
                        defaults: Mapping[str, Any] | None = None,
                        flag_values: flags.FlagValues = flags.FLAGS
                        ) -> dict[str, flags.FlagHolder]:
  """Defines one flag per field of ``config_class`` except ``skip``.

  Args:
    config_class: a dataclass whose fields all have bool, int, float or str
      defaults, or a default of None with an annotation like 'int | None'.
    skip: fields the binary sets itself.
    defaults: flag defaults that differ from the fields' defaults.
    flag_values: where to define them (absl's global FLAGS by default).

  Returns:
    {field name: its flag holder}, for ``config_from_flags``.
  """
  helps = field_help(config_class)
  defaults = dict(defaults or {})
  holders = {}
  for field in dataclasses.fields(config_class):
    if field.name in skip:
      continue
    default = defaults.get(field.name, field.default)
    holders[field.name] = _define_function(field)(
        field.name, default, helps.get(field.name, field.name),
        flag_values=flag_values)
  return holders


def config_from_flags(base: Any, holders: Mapping[str, flags.FlagHolder], *,
                      presets: Mapping[str, Any] | None = None) -> Any:
  """``base`` with every flag's value, and ``presets`` for flags not given.

  Args:
    base: the config to start from (its fields without a flag stay as they are).
    holders: from ``define_config_flags``.
    presets: values (e.g. the paper's settings) that replace a flag's default
      but not a value the user typed on the command line.
  """
  values = {name: holder.value for name, holder in holders.items()}
  for name, value in (presets or {}).items():
    if name not in holders or not holders[name].present:
      values[name] = value
  return dataclasses.replace(base, **values)


def define_preset_flag(name: str, presets: Mapping[str, Any], what: str,
                       flag_values: flags.FlagValues = flags.FLAGS
                       ) -> flags.FlagHolder:
  """A boolean flag that stands for ``presets``; its help lists them."""
  settings = ', '.join(f'--{key}={value}' for key, value in presets.items())
  return flags.DEFINE_bool(
      name, False, f'Use {what}: {settings}, for the flags not given.',
      flag_values=flag_values)
