r"""Draw the paper's figures and the training curves of a trained run.

MNIST runs (Figs. 3, 6, 7):
  python -m experiments.figures --workdir=runs/kl \
      --compare=runs/vae,runs/cvae,runs/zero        # PNGs into runs/kl/figures/
  python -m experiments.figures --workdir=runs/kl --embedding=pca

CelebA runs (Figs. 4, 5):
  python -m experiments.figures --workdir=runs/celeba
  python -m experiments.figures --workdir=runs/celeba --faces=me.jpg,you.jpg

PolyMNIST runs (cross-modal generation; coherence, likelihood and separability
against the number of observed modalities):
  python -m experiments.figures --workdir=runs/polymnist

  tensorboard --logdir=runs/kl                      # the same curves and figures

Fig. 3 shows every run's latents side by side, Fig. 7 every run that generates
from labels; Fig. 6 and the curves are of --workdir's run. Fig. 5 uses the
run's first test faces unless --faces gives image files.
"""

from __future__ import annotations

from absl import flags

from experiments import cli
from jmvae_jax import tasks
from jmvae_jax.errors import UserError
from jmvae_jax.tasks.celeba import figures as celeba_figures
from jmvae_jax.tasks.mnist import figures
from jmvae_jax.tasks.polymnist import figures as polymnist_figures

_WORKDIR = flags.DEFINE_string(
    'workdir', None, 'The trained run; figures go to WORKDIR/figures/.',
    required=True)
_COMPARE = flags.DEFINE_list(
    'compare', [], 'MNIST: other runs shown beside it (Figs. 3 and 7), e.g. '
    'VAE, CVAE and JMVAE-zero.')
_DATA_DIR = flags.DEFINE_string(
    'data_dir', None, 'Where the data set is looked for (default: the run\'s).')
_EMBEDDING = flags.DEFINE_enum('embedding', 'tsne', list(figures.EMBEDDINGS),
                               'MNIST: 2-d embedding of Fig. 3.')
_NUM_POINTS = flags.DEFINE_integer(
    'num_points', 2000, 'MNIST: test images embedded in Fig. 3.')
_PER_CLASS = flags.DEFINE_integer('per_class', 5,
                                  'MNIST: examples per digit in Fig. 6.')
_NUM_SAMPLES = flags.DEFINE_integer(
    'num_samples', None, 'Images per digit in Fig. 7 (default 8), random '
    'faces per attribute in Fig. 4 (default 6), or PolyMNIST test examples '
    'in the cross-modal figure (default 8).')
_FACES = flags.DEFINE_list(
    'faces', [], 'CelebA: image files to use as the faces of Fig. 5.')
_NUM_FACES = flags.DEFINE_integer(
    'num_faces', 6, 'CelebA: test faces in Fig. 5 (without --faces).')
_SEED = flags.DEFINE_integer('seed', 0, 'Seed of the embedding and the draws.')

_MNIST_ONLY = ('compare', 'embedding', 'num_points', 'per_class')
_CELEBA_ONLY = ('faces', 'num_faces')


def _refuse_flags(names: tuple[str, ...], kind: str) -> None:
  given = [f'--{name}' for name in names if flags.FLAGS[name].present]
  if given:
    raise UserError(f'{kind} runs take no {", ".join(given)}; see --helpfull')


def main():
  num_samples = _NUM_SAMPLES.value
  kind = tasks.run_kind(_WORKDIR.value)
  if kind == 'PolyMNIST':
    _refuse_flags(_MNIST_ONLY + _CELEBA_ONLY, 'PolyMNIST')
    polymnist_figures.write_polymnist_figures(
        _WORKDIR.value, data_dir=_DATA_DIR.value,
        num_examples=8 if num_samples is None else num_samples,
        seed=_SEED.value)
  elif kind == 'CelebA':
    _refuse_flags(_MNIST_ONLY, 'CelebA')
    celeba_figures.write_celeba_figures(
        _WORKDIR.value, face_paths=_FACES.value, data_dir=_DATA_DIR.value,
        num_samples=6 if num_samples is None else num_samples,
        num_faces=_NUM_FACES.value, seed=_SEED.value)
  else:
    _refuse_flags(_CELEBA_ONLY, 'MNIST')
    figures.write_figures(
        _WORKDIR.value, compare=_COMPARE.value, data_dir=_DATA_DIR.value,
        embedding=_EMBEDDING.value, num_points=_NUM_POINTS.value,
        per_class=_PER_CLASS.value,
        num_samples=8 if num_samples is None else num_samples,
        seed=_SEED.value)


if __name__ == '__main__':
  cli.run(main)
