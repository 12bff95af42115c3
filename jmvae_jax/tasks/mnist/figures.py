"""The paper's MNIST figures from trained runs, behind ``python -m experiments.figures``.

``write_figures(WORKDIR, compare=(RUN2, ...))`` writes into WORKDIR/figures/:

  fig3_latents.png          Fig. 3: a 2-d embedding (t-SNE or PCA) of test-set
                            latents coloured by digit, one panel per run (e.g.
                            VAE, CVAE, JMVAE); the latent is the mean of q(z|x,w)
                            where the model has one, else of q(z|x).
  fig6_reconstructions.png  Fig. 6: test digits beside their reconstructions
                            through the multiple encoder q(z|x,w) and the single
                            encoder q(z|x) (WORKDIR's run, when a JMVAE).
  fig7_generation.png       Fig. 7: digits generated from labels, z ~ q(z|w),
                            x ~ p(x|z) (Bernoulli means), one panel per run that
                            can (JMVAE-zero beside JMVAE-kl; CVAE and CMMA draw
                            z from p(z|w)).
  training_curves.png       every loss term of metrics.jsonl per epoch.

and writes the same curves, the test results and the figures as TensorBoard
event data into WORKDIR (see ``jmvae_jax.report.summaries``), and WORKDIR/report.md
again, now with links to the figures (``jmvae_jax.report.run_report``). Models see
the grey-level test images, the expectation of the binarized images they were
trained on.

References:
  Suzuki, Nakayama & Matsuo, "Joint Multimodal Learning with Deep Generative
  Models", 2016 (arXiv 1611.01891): Figs. 3, 6, 7.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

from jmvae_jax import generation, models
from jmvae_jax.data import mnist
from jmvae_jax.errors import UserError
from jmvae_jax.report import plotting, run_figures
from jmvae_jax.tasks.mnist import label_coherence
from jmvae_jax.tasks.mnist.restore import TrainedRun, load_run
from jmvae_jax.tasks.mnist.tables import MNIST as MNIST_TABLES

FIG3 = 'fig3_latents.png'
FIG6 = 'fig6_reconstructions.png'
FIG7 = 'fig7_generation.png'
EMBEDDINGS = ('tsne', 'pca')
_DIGITS = tuple(str(c) for c in range(mnist.NUM_CLASSES))
_SIDE = 28  # MNIST images are 28 x 28.
# Fields of metrics.jsonl that are not terms of the loss.


def embed_2d(latents: np.ndarray, *, method: str, seed: int) -> np.ndarray:
  """Projects latents [N, D] to points [N, 2] with t-SNE or PCA (scikit-learn).

  t-SNE starts from the PCA projection, with perplexity 30 (less for fewer
  than 91 points, which t-SNE requires).
  """
  if method == 'pca':
    return PCA(n_components=2, random_state=seed).fit_transform(latents)
  if method == 'tsne':
    perplexity = min(30.0, (len(latents) - 1) / 3)
    return TSNE(n_components=2, init='pca', perplexity=perplexity,
                random_state=seed).fit_transform(latents)
  raise UserError(f'unknown embedding {method!r}; choose one of '
                  f'{", ".join(EMBEDDINGS)}')


def _pictures(flat: np.ndarray) -> np.ndarray:
  """[..., 784] -> [..., 28, 28]."""
  return np.asarray(flat).reshape(flat.shape[:-1] + (_SIDE, _SIDE))


def latent_figure(runs: Sequence[TrainedRun], images: np.ndarray,
                  labels: np.ndarray, path: str, *, method: str,
                  seed: int) -> str:
  """Fig. 3: each run's test latents embedded in 2-d, coloured by digit.

  Args:
    runs: the runs to compare, one panel each.
    images: grey-level test images [N, 784].
    labels: their digits [N].
    path: the PNG to write.
    method: 'tsne' or 'pca'.
    seed: seed of the embedding.
  """
  panels = []
  for run in runs:
    latents = np.asarray(generation.latent_means(
        run.model, run.params, models.mnist_observed(
            run.model, images, jax.nn.one_hot(labels, mnist.NUM_CLASSES))))
    panels.append((run.name, embed_2d(latents, method=method, seed=seed),
                   labels))
  return plotting.embeddings(
      panels, path, title=f'Fig. 3: test-set latents ({method}, '
      f'{len(labels)} images)')


def reconstruction_figure(run: TrainedRun, images: np.ndarray,
                          labels: np.ndarray, path: str, *,
                          per_class: int) -> str:
  """Fig. 6: originals beside reconstructions through q(z|x,w) and q(z|x).

  Args:
    run: a JMVAE run.
    images: grey-level test images [N, 784].
    labels: their digits [N].
    path: the PNG to write.
    per_class: examples of each digit, one row per digit.

  Raises:
    UserError: the test set has fewer than ``per_class`` images of a digit.
  """
  chosen = []
  for digit in range(mnist.NUM_CLASSES):
    indices = np.flatnonzero(labels == digit)[:per_class]
    if len(indices) < per_class:
      raise UserError(f'the test set has only {len(indices)} images of digit '
                      f'{digit}; Fig. 6 needs {per_class}')
    chosen.append(indices)
  order = np.concatenate(chosen)
  both = {'image': images[order],
          'label': jax.nn.one_hot(labels[order], mnist.NUM_CLASSES)}
  shape = (mnist.NUM_CLASSES, per_class)
  panels = [('original', images[order]),
            ('via q(z|x,w)', generation.reconstruct(run.model, run.params, both,
                                                    'image')),
            ('via q(z|x)', generation.reconstruct(
                run.model, run.params, {'image': images[order]}, 'image'))]
  return plotting.image_grids(
      [(name, _pictures(np.asarray(flat)).reshape(shape + (_SIDE, _SIDE)))
       for name, flat in panels],
      path, title=f'Fig. 6: reconstructions, {run.name}', row_labels=_DIGITS)


def generation_figure(runs: Sequence[TrainedRun], path: str, *, key: jax.Array,
                      num_samples: int) -> str:
  """Fig. 7: ``num_samples`` images per digit from each run, x ~ p(x|z), z ~ q(z|w).

  Args:
    runs: runs that generate from labels, one panel each.
    path: the PNG to write.
    key: typed PRNG key, the same for every run, so panels differ only by model.
    num_samples: images per digit, one column each.
  """
  digits = {'label': jnp.eye(mnist.NUM_CLASSES)}
  panels = []
  for run in runs:
    means = generation.generate(run.model, run.params, digits, 'image', key=key,
                                num_samples=num_samples).samples
    panels.append((run.name, _pictures(np.swapaxes(np.asarray(means), 0, 1))))
  return plotting.image_grids(
      panels, path, title='Fig. 7: images generated from labels, '
      'x ~ p(x|z), z ~ q(z|w)', row_labels=_DIGITS)


def _can_reconstruct(run: TrainedRun) -> bool:
  return all(generation.can_decode(run.model, given, 'image')
             for given in (('image', 'label'), ('image',)))

def write_figures(workdir: str, *, compare: Sequence[str] = (),
                  data: mnist.LabelledImages | None = None,
                  data_dir: str | None = None, embedding: str = 'tsne',
                  num_points: int = 2000, per_class: int = 5,
                  num_samples: int = 8, seed: int = 0,
                  log: Callable[[str], None] = print) -> dict[str, str]:
  """Writes the figures of the module docstring for WORKDIR's run.

  Args:
    workdir: the run whose figures/ directory and event file are written.
    compare: other runs' directories, shown beside it in Figs. 3 and 7.
    data: the test images to use; by default MNIST, from ``data_dir``.
    data_dir: where MNIST is looked for (default: the run's config.data_dir).
    embedding: 'tsne' or 'pca', for Fig. 3.
    num_points: test images embedded in Fig. 3 (the first ones).
    per_class: examples per digit in Fig. 6.
    num_samples: images per digit in Fig. 7.
    seed: seed of the embedding and of Fig. 7's draws.
    log: receives one line per figure written or skipped.

  Returns:
    The name -> path of each PNG written, 'events' -> the event file and
    'report' -> report.md (rewritten with links to the figures).

  Raises:
    UserError: a run cannot be loaded, the data are missing, or a setting is bad.
  """
  if embedding not in EMBEDDINGS:
    raise UserError(f'unknown --embedding={embedding!r}; choose one of '
                    f'{", ".join(EMBEDDINGS)}')
  if min(num_points, per_class, num_samples) < 1:
    raise UserError('--num_points, --per_class and --num_samples must be >= 1')
  run = load_run(workdir)
  runs = [run] + [load_run(other, flag='--compare') for other in compare]
  if data is None:
    data = mnist.load_mnist(os.path.expanduser(data_dir or run.config.data_dir),
                            verify=run.config.verify_data,
                            pixel_scale=run.config.pixel_scale)
  images, labels = data.test_images, data.test_labels
  figures = run_figures.FigureLog(run.workdir, log)
  figures.done(FIG3, latent_figure(
      runs, images[:num_points], labels[:num_points], figures.path(FIG3),
      method=embedding, seed=seed))
  if _can_reconstruct(run):
    figures.done(FIG6, reconstruction_figure(
        run, images, labels, figures.path(FIG6), per_class=per_class))
  else:
    figures.skipped(FIG6, f'{run.name} has no q(z|x,w) and q(z|x) pair')
  generators = [r for r in runs if label_coherence.can_generate(r.model)]
  if generators:
    figures.done(FIG7, generation_figure(
        generators, figures.path(FIG7), key=jax.random.key(seed),
        num_samples=num_samples))
  else:
    figures.skipped(FIG7, 'no run generates images from labels')
  return figures.finish(run.name, MNIST_TABLES)
