"""The joint encoder's shape: towers per modality, then optional shared layers.

The paper's q(z|x,w) concatenates two-layer towers; MultiVae's reproduction of
Table 1 uses one-layer towers and one shared layer after the concatenation.
``--joint_tower_layers`` and ``--joint_shared_layers`` choose between them.
"""

import dataclasses
import json

import jax
import numpy as np
import pytest

from jmvae_jax import models
from jmvae_jax.errors import UserError
from jmvae_jax.nn.dense import GaussianEncoder
from jmvae_jax.tasks.mnist.config import RESUME_FIELDS, Config
from jmvae_jax.training import workdir as workdir_lib

SMALL = dict(latent_dim=3, hidden_width=16)


def _leaky_relu(a):
  return np.where(a > 0, a, 0.01 * a)


def _numpy_dense(layer, a):
  return a @ np.asarray(layer['kernel'], np.float64) + np.asarray(layer['bias'])


def _numpy_mlp(layers, a):
  for name in sorted(layers, key=lambda n: int(n.split('_')[1])):
    a = _leaky_relu(_numpy_dense(layers[name], a))
  return a


def _shapes(tree):
  return {name: tuple(np.shape(leaf)) for name, leaf in
          ((jax.tree_util.keystr(path), leaf) for path, leaf in
           jax.tree_util.tree_leaves_with_path(tree))}


def test_shared_layers_act_on_the_concatenated_towers():
  rng = np.random.default_rng()
  x, w = rng.normal(size=(5, 7)), rng.normal(size=(5, 4))
  encoder = GaussianEncoder((6,), latent_dim=3, shared=(8, 5))
  params = encoder.init(jax.random.key(int(rng.integers(2**31))), x, w)
  layers = params['params']
  assert sorted(layers) == ['head', 'shared', 'tower_0', 'tower_1']
  assert layers['shared']['Dense_0']['kernel'].shape == (12, 8)
  assert layers['shared']['Dense_1']['kernel'].shape == (8, 5)
  got = encoder.apply(params, x.astype(np.float32), w.astype(np.float32))
  top = np.concatenate([_numpy_mlp(layers['tower_0'], x),
                        _numpy_mlp(layers['tower_1'], w)], axis=-1)
  out = _numpy_dense(layers['head'], _numpy_mlp(layers['shared'], top))
  np.testing.assert_allclose(got.mean, out[:, :3], rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(got.log_var, out[:, 3:], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('name', models.JOINT_ENCODER_NAMES)
def test_the_flags_shape_the_joint_encoder_alone(name):
  config = Config(model=name, joint_tower_layers=1, joint_shared_layers=1,
                  **SMALL)
  params = config.build_model().init(jax.random.key(0))
  joint = _shapes(params['joint_encoder'])
  assert joint == {
      "['params']['tower_0']['Dense_0']['kernel']": (784, 16),
      "['params']['tower_0']['Dense_0']['bias']": (16,),
      "['params']['tower_1']['Dense_0']['kernel']": (10, 16),
      "['params']['tower_1']['Dense_0']['bias']": (16,),
      "['params']['shared']['Dense_0']['kernel']": (32, 16),
      "['params']['shared']['Dense_0']['bias']": (16,),
      "['params']['head']['Dense_0']['kernel']"
      if False else "['params']['head']['kernel']": (16, 6),
      "['params']['head']['bias']": (6,)}
  # Every other encoder keeps two layers per tower and no shared layers.
  default = Config(model=name, **SMALL).build_model().init(jax.random.key(0))
  for network in set(params) - {'joint_encoder'}:
    assert _shapes(params[network]) == _shapes(default[network]), network


@pytest.mark.parametrize('name', models.JOINT_ENCODER_NAMES)
def test_the_default_joint_encoder_is_the_papers(name):
  params = Config(model=name, **SMALL).build_model().init(jax.random.key(0))
  assert _shapes(params['joint_encoder']) == {
      f"['params']['tower_{i}']['Dense_{j}']['{leaf}']": shape
      for i, width in enumerate((784, 10))
      for j, inputs in enumerate((width, 16))
      for leaf, shape in (('kernel', (inputs, 16)), ('bias', (16,)))} | {
          "['params']['head']['kernel']": (32, 6),
          "['params']['head']['bias']": (6,)}


@pytest.mark.parametrize('changes, message', [
    ({'model': 'vae', 'joint_shared_layers': 1},
     '--model=vae has no joint encoder'),
    ({'model': 'mvae', 'joint_tower_layers': 1},
     '--model=mvae has no joint encoder'),
    ({'joint_shared_layers': -1}, 'joint_shared_layers must be >= 0'),
])
def test_bad_joint_encoder_settings_are_refused(changes, message):
  with pytest.raises(UserError, match=message):
    Config(**changes)


def test_a_run_resumes_only_with_its_joint_encoder(tmp_path):
  config = Config(joint_tower_layers=1, joint_shared_layers=1)
  workdir_lib.prepare_workdir(config, str(tmp_path),
                              resume_fields=RESUME_FIELDS)
  with pytest.raises(UserError, match='--joint_shared_layers differs'):
    workdir_lib.prepare_workdir(
        dataclasses.replace(config, joint_shared_layers=0), str(tmp_path),
        resume_fields=RESUME_FIELDS)


def test_a_run_from_before_these_settings_resumes_only_with_the_papers(
    tmp_path):
  # Its config.json has no joint encoder fields: it trained the default shape.
  old = json.loads(Config(model='cvae').to_json())
  del old['joint_tower_layers'], old['joint_shared_layers']
  (tmp_path / 'config.json').write_text(json.dumps(old))
  with pytest.raises(UserError, match=r'it was 0, now 1'):
    workdir_lib.prepare_workdir(Config(model='cvae', joint_shared_layers=1),
                                str(tmp_path), resume_fields=RESUME_FIELDS)
  workdir_lib.prepare_workdir(Config(model='cvae'), str(tmp_path),
                              resume_fields=RESUME_FIELDS)
