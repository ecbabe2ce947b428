"""No import cycles between the modules of `app` and `models`.

A cycle means two modules can only be understood (and changed) together, and it is how the
layering starts to rot: the arrow that runs back up. The graph is grimp's (the library
import-linter is built on), module by module, with every import counted: imports inside
functions and imports under `if TYPE_CHECKING:` too. A TYPE_CHECKING import does not run,
but it is still a dependency of the code's meaning (the annotation names the other module's
class), so a circle through one is a design cycle all the same; the cure is a Protocol or
a smaller module, not hiding the import.
"""

from __future__ import annotations

from collections import deque

import grimp

PACKAGES = ("app", "models")


def strongly_connected(graph: grimp.ImportGraph) -> list[set[str]]:
    """Tarjan's algorithm (iterative: the module graph is deep enough to make recursion
    fragile). Returns the components with more than one module, plus any module that imports
    itself."""
    modules = sorted(graph.modules)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[set[str]] = []
    counter = 0

    def successors(module: str) -> list[str]:
        return sorted(graph.find_modules_directly_imported_by(module))

    for root in modules:
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            module, position = work.pop()
            if position == 0:
                index[module] = low[module] = counter
                counter += 1
                stack.append(module)
                on_stack.add(module)
            children = successors(module)
            if position < len(children):
                work.append((module, position + 1))
                child = children[position]
                if child not in index:
                    work.append((child, 0))
                elif child in on_stack:
                    low[module] = min(low[module], index[child])
                continue
            if low[module] == index[module]:
                component: set[str] = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == module:
                        break
                if len(component) > 1 or module in successors(module):
                    found.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[module])
    return found


def shortest_cycle(graph: grimp.ImportGraph, component: set[str]) -> list[str]:
    """One shortest circle through the component's first module, as a list that starts and
    ends with it: what a reader needs to see to break the cycle."""
    start = min(component)
    previous: dict[str, str] = {}
    queue = deque([start])
    while queue:
        module = queue.popleft()
        for child in sorted(graph.find_modules_directly_imported_by(module) & component):
            if child == start:
                path = [module]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return [*reversed(path), start]
            if child not in previous:
                previous[child] = module
                queue.append(child)
    return [start]


def describe(graph: grimp.ImportGraph, component: set[str]) -> str:
    circle = shortest_cycle(graph, component)
    lines = [f"{len(component)} modules in a cycle: {', '.join(sorted(component))}"]
    lines.append("  for example:")
    for importer, imported in zip(circle, circle[1:], strict=False):
        details = graph.get_import_details(importer=importer, imported=imported)
        where = "; ".join(f"line {d['line_number']}: {d['line_contents']}" for d in details)
        lines.append(f"    {importer} -> {imported}  ({where})")
    return "\n".join(lines)


def test_strongly_connected_finds_a_circle_and_nothing_else() -> None:
    graph = grimp.ImportGraph()
    for module in ("pkg", "pkg.a", "pkg.b", "pkg.c", "pkg.d"):
        graph.add_module(module)
    graph.add_import(importer="pkg.a", imported="pkg.b", line_number=1, line_contents="import b")
    graph.add_import(importer="pkg.b", imported="pkg.c", line_number=1, line_contents="import c")
    graph.add_import(importer="pkg.c", imported="pkg.a", line_number=1, line_contents="import a")
    graph.add_import(importer="pkg.c", imported="pkg.d", line_number=1, line_contents="import d")

    assert strongly_connected(graph) == [{"pkg.a", "pkg.b", "pkg.c"}]
    assert shortest_cycle(graph, {"pkg.a", "pkg.b", "pkg.c"}) == [
        "pkg.a",
        "pkg.b",
        "pkg.c",
        "pkg.a",
    ]
    assert "pkg.c -> pkg.a  (line 1: import a)" in describe(graph, {"pkg.a", "pkg.b", "pkg.c"})


def test_no_import_cycles_in_app_or_models() -> None:
    graph = grimp.build_graph(*PACKAGES, include_external_packages=False, cache_dir=None)
    cycles = strongly_connected(graph)
    assert not cycles, "import cycles:\n" + "\n".join(describe(graph, c) for c in cycles)
