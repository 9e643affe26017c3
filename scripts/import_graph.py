"""The import graph of the rdm package: modules, arrows, floors (the longest chain of imports
below a module, itself included), cycles and the largest modules by lines.

    python scripts/import_graph.py [ROOT]     # ROOT: a checkout (default: this one)
"""
import ast
import pathlib
import sys


def arrows(modules: dict) -> set:
  """(importer, imported) among the package's modules, lazy imports inside functions included."""
  out = set()
  for name, path in modules.items():
    for node in ast.walk(ast.parse(path.read_text())):
      if isinstance(node, ast.ImportFrom) and node.module == 'rdm':
        out |= {(name, a.name) for a in node.names if a.name in modules}
      elif isinstance(node, ast.ImportFrom) and (node.module or '').startswith('rdm.'):
        target = node.module.split('.')[1]
        if target in modules:
          out.add((name, target))
  return out


def floors(modules: dict, edges: set) -> dict:
  """Each module's floor; SystemExit naming the cycle if there is one."""
  below = {m: {b for a, b in edges if a == m} for m in modules}
  floor = {}

  def visit(m, chain=()):
    if m in chain:
      raise SystemExit(f'import cycle: {" → ".join(chain + (m,))}')
    if m not in floor:
      floor[m] = 1 + max((visit(d, chain + (m,)) for d in below[m]), default=0)
    return floor[m]
  for m in modules:
    visit(m)
  return floor


def main():
  root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).parents[1])
  modules = {p.stem: p for p in (root / 'rdm').glob('*.py') if p.stem != '__init__'}
  edges = arrows(modules)
  floor = floors(modules, edges)
  largest = sorted(((len(p.read_text().splitlines()), m) for m, p in modules.items()),
                   reverse=True)[:5]
  print(f'{len(modules)} modules, {len(edges)} arrows, {max(floor.values())} floors, no cycle; '
        'largest: ' + ', '.join(f'{m} {n}' for n, m in largest))


if __name__ == '__main__':
  main()
