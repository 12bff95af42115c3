"""The package's layers (README, "Using the library"): generic code never imports a task, and no import cycle."""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / 'jmvae_jax'


def _module_name(path: pathlib.Path) -> str:
  parts = path.relative_to(PACKAGE.parent).with_suffix('').parts
  return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def _imports() -> dict[str, set[str]]:
  """Module -> the jmvae_jax modules it imports anywhere in its source."""
  modules = {_module_name(p): p for p in PACKAGE.rglob('*.py')}
  graph = {}
  for name, path in modules.items():
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
      if isinstance(node, ast.ImportFrom) and (node.module or '').startswith(
          'jmvae_jax'):
        for alias in node.names:
          full = f'{node.module}.{alias.name}'
          found.add(full if full in modules else node.module)
      elif isinstance(node, ast.Import):
        found.update(a.name for a in node.names if a.name in modules)
    graph[name] = {m for m in found if m in modules and m != name}
  return graph


GRAPH = _imports()


def test_generic_modules_import_no_task():
  wrong = {module: sorted(m for m in imported
                          if m.startswith('jmvae_jax.tasks'))
           for module, imported in GRAPH.items()
           if not module.startswith('jmvae_jax.tasks')}
  assert not {m: t for m, t in wrong.items() if t}


def test_one_task_imports_no_other_task():
  for module, imported in GRAPH.items():
    parts = module.split('.')
    if len(parts) > 3 and parts[1] == 'tasks':
      own = '.'.join(parts[:3])
      others = sorted(m for m in imported if m.startswith('jmvae_jax.tasks.')
                      and not m.startswith(own))
      assert not others, f'{module} imports {others}'


def test_the_import_graph_has_no_cycle():
  done, path = set(), []

  def visit(module):
    if module in path:
      cycle = path[path.index(module):] + [module]
      pytest.fail('import cycle: ' + ' -> '.join(cycle))
    if module in done:
      return
    path.append(module)
    for imported in sorted(GRAPH[module]):
      visit(imported)
    path.pop()
    done.add(module)

  for module in sorted(GRAPH):
    visit(module)


def test_the_graph_reader_sees_real_imports():
  # Guards the tests above against a reader that finds nothing.
  assert 'jmvae_jax.distributions' in GRAPH['jmvae_jax.objectives'] | set().union(
      *(GRAPH[m] for m in GRAPH['jmvae_jax.objectives']))
  assert 'jmvae_jax.tasks.mnist.config' in GRAPH['jmvae_jax.tasks.mnist.experiment']
