"""Flags generated from a config dataclass, and presets that yield to typed flags."""

import dataclasses

import pytest
from absl import flags

from jmvae_jax.tasks.celeba.config import CelebAConfig
from jmvae_jax.tasks.mnist.config import PAPER_SETTINGS, Config
from jmvae_jax.tasks.polymnist.config import PolyMNISTConfig
from jmvae_jax.training import config_flags
from jmvae_jax.training.elbo import ElboConfig


@dataclasses.dataclass(frozen=True)
class _Settings:
  """Example settings.

  Attributes:
    rate: how fast, a description that
      continues on a second line.
    count: how many.
    name: what it is called.
    loud: whether it shouts.
  """

  rate: float = 0.5
  count: int = 3
  name: str = 'a'
  loud: bool = False


def _parse(argv, **define):
  values = flags.FlagValues()
  holders = config_flags.define_config_flags(_Settings, flag_values=values,
                                             **define)
  values(['binary', *argv])
  return holders


def test_help_comes_from_the_docstring_attributes():
  assert config_flags.field_help(_Settings) == {
      'rate': 'how fast, a description that continues on a second line.',
      'count': 'how many.', 'name': 'what it is called.',
      'loud': 'whether it shouts.'}


def test_help_of_a_subclass_adds_to_and_overrides_its_bases():
  helps = config_flags.field_help(Config)
  base = config_flags.field_help(ElboConfig)
  assert set(base) < set(helps)
  assert helps['eval_k'] == base['eval_k']  # Inherited.
  assert 'MNIST' in helps['train_examples']  # Overridden.
  assert 'MNIST' not in base['train_examples']


@pytest.mark.parametrize('config_class', [Config, CelebAConfig,
                                          PolyMNISTConfig])
def test_every_config_field_has_a_flag_with_help(config_class):
  values = flags.FlagValues()
  holders = config_flags.define_config_flags(config_class, flag_values=values)
  assert set(holders) == {f.name for f in dataclasses.fields(config_class)}
  helps = config_flags.field_help(config_class)
  assert set(helps) == set(holders)
  assert all(values[name].help == helps[name] for name in holders)


@pytest.mark.parametrize('argv, want', [([], None), (['--max_images=2000'], 2000)])
def test_a_setting_that_defaults_to_none_is_an_optional_typed_flag(argv, want):
  values = flags.FlagValues()
  holders = config_flags.define_config_flags(CelebAConfig, flag_values=values)
  values(['binary', *argv])
  config = config_flags.config_from_flags(CelebAConfig(), holders)
  assert config.max_images == want and config == CelebAConfig(max_images=want)
  with pytest.raises(flags.IllegalFlagValueError):
    values(['binary', '--max_images=many'])


def test_typed_values_reach_the_config():
  holders = _parse(['--rate=0.25', '--count=7', '--name=b', '--loud'])
  assert config_flags.config_from_flags(_Settings(), holders) == _Settings(
      0.25, 7, 'b', True)


def test_bad_value_is_an_absl_error():
  with pytest.raises(flags.IllegalFlagValueError):
    _parse(['--count=many'])


@pytest.mark.parametrize('argv, want_count', [([], 9), (['--count=3'], 3),
                                              (['--count=4'], 4)])
def test_presets_yield_to_flags_typed_on_the_command_line(argv, want_count):
  holders = _parse(argv)
  config = config_flags.config_from_flags(
      _Settings(), holders, presets={'count': 9, 'rate': 2.0})
  assert (config.count, config.rate) == (want_count, 2.0)


def test_skip_and_binary_defaults():
  holders = _parse([], skip=('name',), defaults={'count': 11})
  assert 'name' not in holders
  config = config_flags.config_from_flags(_Settings(name='kept'), holders)
  assert (config.name, config.count) == ('kept', 11)


def test_paper_settings_are_config_fields():
  config = dataclasses.replace(Config(), **PAPER_SETTINGS)
  assert (config.epochs, config.warmup_epochs, config.train_examples,
          config.pixel_scale) == (500, 200, 50_000, 255)
