"""Layers and imports (docs/architecture.md, "Layers and imports"), read from the source.

The import graph of ``intake``, ``responder`` and ``scheduler`` is built with :mod:`ast`, from
every ``import`` statement, function-local ones included: an import hidden in a function is still
a dependency. Imports under ``if TYPE_CHECKING:`` are left out (they never run), and so are
dynamic ones (``importlib.import_module`` in ``intake.cli``). The tests check that

- no two modules import each other, directly or through others (a cycle);
- the pure rule modules (periods, billing, the calendar, mail parsing and splitting) reach no
  database, network or mail-server library, even through other modules of the project;
- the web app (the staff dashboard, the forms) never loads the command line (``intake.cli``):
  what both need lives below both (``intake.reports``, ``intake.mail.headers``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("intake", "responder", "scheduler")

# Cycles known and not fixed yet, each as the set of its modules (tolerated, not required):
# empty since the processor's (intake.processor <-> intake.processor_handle) was broken. An entry
# is removed as soon as its cycle is gone, so that the cycle cannot come back unnoticed.
ALLOWED_UNTIL_FIXED: frozenset[frozenset[str]] = frozenset()

# Rules as pure functions: data in, data out, time passed in. Parsing and splitting of mail,
# fax lines, staff commands, periods, the calendar, the cutoff and billing.
PURE_MODULES = (
    "scheduler.billing",
    "scheduler.businesstime",
    "scheduler.calendar",
    "scheduler.clock",
    "scheduler.cutoff",
    "scheduler.periods",
    "intake.mail.access",
    "intake.mail.bounce",
    "intake.mail.charsetnames",
    "intake.mail.charsets",
    "intake.mail.classify",
    "intake.mail.context",
    "intake.mail.fields",
    "intake.mail.fieldvalues",
    "intake.mail.headers",
    "intake.mail.htmltext",
    "intake.mail.jiscodecs",
    "intake.mail.layout",
    "intake.mail.loops",
    "intake.mail.mime",
    "intake.mail.parse",
    "intake.mail.split",
    "intake.fax.lines",
    "intake.fieldnames",
    "intake.incidenttag",
    "intake.labels",
    "intake.states",
    "intake.staffcommands",
    "intake.stafftoken",
    "intake.text",
)
# Top-level packages that do I/O (databases, sockets, mail servers, web, processes, schedulers).
IO_LIBRARIES = frozenset(
    {
        "aiosmtpd",
        "alembic",
        "apscheduler",
        "asyncio",
        "flask",
        "flask_wtf",
        "http",
        "imaplib",
        "imapclient",
        "psycopg",
        "smtplib",
        "socket",
        "sqlalchemy",
        "sqlite3",
        "ssl",
        "subprocess",
        "urllib",
        "waitress",
    }
)
IO_MODULES = frozenset({"intake.db", "intake.models"})


def _module_files() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _module_files()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement under ``node``, wherever it is, but those under TYPE_CHECKING."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for other in child.orelse:
                if isinstance(other, ast.Import | ast.ImportFrom):
                    yield other
                else:
                    yield from _imports(other)
        else:
            yield from _imports(child)


def _imported_names(module: str, path: Path) -> Iterator[str]:
    """Absolute dotted names this module imports: ``a.b`` for ``import a.b``; for
    ``from a import c``, ``a.c`` when that is a module of the project, else ``a``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in _imports(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:
            parts = package.split(".")
            parts = parts[: len(parts) - (node.level - 1)]
            base = ".".join([*parts, *([base] if base else [])])
        for alias in node.names:
            yield f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base


def _project_module(name: str) -> str | None:
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _build() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Edges between project modules, and the top-level outside packages each one imports."""
    graph: dict[str, set[str]] = {}
    outside: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        edges: set[str] = set()
        libraries: set[str] = set()
        for name in _imported_names(module, path):
            top = name.partition(".")[0]
            if top not in PACKAGES:
                libraries.add(top)
            elif (target := _project_module(name)) is not None and target != module:
                edges.add(target)
        graph[module] = edges
        outside[module] = libraries
    return graph, outside


GRAPH, OUTSIDE = _build()


def strongly_connected(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Tarjan's algorithm (iterative): the components of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            for succ in successors:
                if succ not in index:
                    index[succ] = low[succ] = len(index)
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(sorted(graph[succ]))))
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(frozenset(component))
    return found


def _path(graph: dict[str, set[str]], start: str, goal: str, within: Iterable[str]) -> list[str]:
    """A shortest import chain from start to goal through the modules ``within``."""
    allowed = set(within)
    came_from: dict[str, str | None] = {start: None}
    queue = [start]
    for node in queue:
        for succ in sorted(graph[node]):
            if succ in allowed and succ not in came_from:
                came_from[succ] = node
                queue.append(succ)
    chain: list[str] = []
    step: str | None = goal
    while step is not None:
        chain.append(step)
        step = came_from[step]
    return chain[::-1]


def describe_cycle(graph: dict[str, set[str]], component: frozenset[str]) -> str:
    """One cycle through the component's first module, as ``a -> b -> a``, and the component's
    other modules when the cycle does not go through them all."""
    first = min(component)
    back = min(m for m in component if first in graph[m] and m != first)
    chain = _path(graph, first, back, component)
    rest = sorted(component - set(chain))
    return " -> ".join([*chain, first]) + (f" (and through {', '.join(rest)})" if rest else "")


def cycles() -> list[frozenset[str]]:
    return strongly_connected(GRAPH)


def _runs(module: str) -> set[str]:
    """What importing ``module`` runs first: its imports and its packages' ``__init__``."""
    parents = set()
    parent = module.rpartition(".")[0]
    while parent:
        if parent in MODULES:
            parents.add(parent)
        parent = parent.rpartition(".")[0]
    return GRAPH[module] | parents


RUNS = {module: _runs(module) for module in MODULES}


def loaded_with(module: str) -> set[str]:
    """The project modules that importing ``module`` loads, itself included."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(RUNS[current])
    return seen


def _why(start: str, goal: str) -> str:
    return " -> ".join(_path(RUNS, start, goal, loaded_with(start)))


def test_the_graph_is_read_from_the_source() -> None:
    """A guard for the reader itself: known edges, function-local ones included."""
    assert "intake.incidents" in GRAPH["intake.accept"]
    assert "intake.pipeline" in GRAPH["intake.web.staff_pages"]  # imported in a function
    assert "sqlalchemy" in OUTSIDE["intake.store"]
    assert "intake.config" not in GRAPH["intake.mail.context"]  # only under TYPE_CHECKING
    assert set(PURE_MODULES) <= set(MODULES)


def test_cycles_are_found_and_named() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}}
    [component] = strongly_connected(graph)
    assert component == {"a", "b", "c"}
    assert describe_cycle(graph, component) == "a -> b -> c -> a"


def test_no_import_cycles() -> None:
    found = cycles()
    new = [c for c in found if c not in ALLOWED_UNTIL_FIXED]
    assert not new, "import cycles:\n" + "\n".join(describe_cycle(GRAPH, c) for c in new)


def test_pure_rule_modules_reach_no_io() -> None:
    problems = []
    for module in PURE_MODULES:
        loaded = loaded_with(module)
        for name in sorted(loaded & IO_MODULES):
            problems.append(f"{module} loads {name}: {_why(module, name)}")
        for name in sorted(loaded):
            for library in sorted(OUTSIDE[name] & IO_LIBRARIES):
                problems.append(f"{module} loads {library}: {_why(module, name)} -> {library}")
    assert not problems, "\n".join(problems)



def test_the_web_app_never_imports_the_command_line() -> None:
    web = [m for m in MODULES if m == "intake.web" or m.startswith("intake.web.")]
    problems = []
    for module in sorted(web):
        for name in sorted(loaded_with(module)):
            if name == "intake.cli" or name.startswith("intake.cli."):
                problems.append(f"{module} loads {name}: {_why(module, name)}")
    assert not problems, "\n".join(problems)
