"""The library's import graph points one way (STYLE.md): no cycles, low layers never reach high ones,
plotting stays a leaf, and nothing in the library imports the app.

The graph is read from the source with ``ast`` (imports inside functions count too), so a test fails on
the bad import itself, whether or not it runs at import time.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ul4m4"
MODULES = sorted(p.stem for p in PACKAGE.glob("*.py"))

LOW = ["validation", "scaling", "distance", "_lloyd", "cluster", "impute"]
HIGH = ["experiment", "sweep", "cli", "plotting", "projection", "export", "downstream"]
ORCHESTRATION = ["experiment", "sweep", "cli"]
APP = ["streamlit", "appui", "views", "app"]


def read_imports(source, module):
    """(intra-package edges {module: {(target, names)}}, external top-level names) of one module's source."""
    package, external = set(), set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "ul4m4":
                    package.add((parts[1] if len(parts) > 1 else "__init__", ()))
                else:
                    external.add(parts[0])
        elif isinstance(node, ast.ImportFrom):
            names = tuple(a.name for a in node.names)
            if node.level == 0:
                parts = (node.module or "").split(".")
                if parts[0] != "ul4m4":
                    external.add(parts[0])
                    continue
                target = parts[1] if len(parts) > 1 else None
            else:
                target = node.module.split(".")[0] if node.module else None
            if target is None:  # from . import x: x is a module, or a name of the package's __init__
                for name in names:
                    package.add((name, ()) if name in MODULES else ("__init__", (name,)))
            else:
                package.add((target, names))
    return package, external


def graph(sources=None):
    """{module: set of modules it imports}, {module: external names}, {module: {(target, names)}}."""
    sources = sources or {m: (PACKAGE / f"{m}.py").read_text() for m in MODULES}
    edges, external, detail = {}, {}, {}
    for m, src in sources.items():
        detail[m], external[m] = read_imports(src, m)
        edges[m] = {t for t, _ in detail[m] if t != m}
    return edges, external, detail


def reachable(edges, start):
    seen, todo = set(), list(edges.get(start, ()))
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo.extend(edges.get(m, ()))
    return seen


def find_cycle(edges):
    """One import cycle as a list of modules, or None."""
    state, stack = {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for t in sorted(edges.get(m, ())):
            if state.get(t) == "open":
                return stack[stack.index(t):] + [t]
            if t not in state:
                found = visit(t)
                if found:
                    return found
        stack.pop()
        state[m] = "done"
        return None

    for m in sorted(edges):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def problems(sources=None):
    """Every rule broken, by name: {rule: description}."""
    edges, external, detail = graph(sources)
    out = {}
    cycle = find_cycle(edges)
    if cycle:
        out["cycle"] = " -> ".join(cycle)
    bad = sorted(edges["plotting"] & set(ORCHESTRATION)) if "plotting" in edges else []
    if bad:
        out["plotting"] = f"plotting imports {bad}"
    app = {m: sorted(external[m] & set(APP) | edges[m] & set(APP)) for m in edges}
    app = {m: v for m, v in app.items() if v}
    if app:
        out["app"] = f"the library imports the app: {app}"
    if edges.get("validation"):
        out["validation"] = f"validation imports {sorted(edges['validation'])} from the package"
    upward = {m: sorted(reachable(edges, m) & set(HIGH)) for m in LOW if m in edges}
    upward = {m: v for m, v in upward.items() if v}
    if upward:
        out["layers"] = f"low layers reach high ones: {upward}"
    private = sorted(f"{m} <- {t}.{n}" for m, ds in detail.items() for t, names in ds for n in names
                     if n.startswith("_") and not n.startswith("__") and t != m)
    if private:
        out["private"] = f"private names imported across modules: {private}"
    return out


def test_the_graph_is_read():
    # A sanity check that the parser sees the imports it must see.
    edges, external, _ = graph()
    assert {"cluster", "distance", "validation"} <= edges["impute"]
    assert "_lloyd" in edges["cluster"] and "torch" in external["_lloyd"]
    assert edges["validation"] == set()


def test_no_import_cycles():
    assert "cycle" not in problems()


def test_nothing_in_the_library_imports_the_app():
    assert "app" not in problems()


def test_validation_imports_nothing_from_the_package():
    assert "validation" not in problems()


def test_low_layers_never_import_high_ones():
    assert "layers" not in problems()


def test_no_private_name_crosses_a_module_boundary():
    assert "private" not in problems()


def test_plotting_imports_no_orchestration_module():
    assert "plotting" not in problems()


def test_distance_all_is_its_public_surface():
    import ul4m4.distance as distance

    tree = ast.parse((PACKAGE / "distance.py").read_text())
    public = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and not n.name.startswith("_")}
    assert set(distance.__all__) == public
    _, _, detail = graph()
    imported = {n for m, ds in detail.items() for t, names in ds for n in names if t == "distance" and m != "distance"}
    assert imported <= set(distance.__all__)


@pytest.mark.parametrize(
    "module, line, rule",
    [
        ("distance", "from .experiment import METHODS", "cycle"),  # experiment -> impute -> cluster -> distance
        ("distance", "from .export import write_manifest", "layers"),
        ("impute", "from .sweep import run_sweep", "layers"),
        ("scaling", "from .cluster import PartialModalityKMeans", "cycle"),
        ("validation", "from .missing import pattern_label", "validation"),
        ("missing", "import streamlit as st", "app"),
        ("datasets", "from appui import state", "app"),
        ("plotting", "from .cli import main", "plotting"),
        ("impute", "from .cluster import _kmeans_plusplus", "private"),
    ],
)
def test_a_bad_import_is_caught(module, line, rule):
    # The same checks on the sources with one bad import added inside a function (a lazy import counts).
    sources = {m: (PACKAGE / f"{m}.py").read_text() for m in MODULES}
    assert rule not in problems(sources)
    sources[module] += f"\n\ndef _added():\n    {line}\n"
    assert rule in problems(sources)
