"""The layering of the package, read from the source (lazy imports inside functions included): no module
imports one in a higher layer, and no two modules or packages import each other."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "qlora_check"
# Top to bottom; each entry may import only its own layer or those below it.
LAYERS = [
    {"__main__", "cli", "testing"},
    {"doctor"},
    {"scaleout"},
    {"execution", "reports", "integrations", "estimate"},  # integrations: imported by users' trainers only
    {"capabilities", "host", "libraries", "runners", "known_issues"},
    {"distributed"},
    {"events", "engines"},
    {"matrix"},
    {"quantizers"},
    {"registry", "results", "status_style", "torch_models"},
    {"errors", "names", "fileio", "forking"},
]


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imported(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join([*base, node.module] if node.module else base) if node.level else node.module or ""
            targets.add(module)
            targets.update(f"{module}.{alias.name}" for alias in node.names if f"{module}.{alias.name}" in known)
    resolved = set()
    for target in targets:
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target.startswith("qlora_check.") and target != name:
            resolved.add(target)
    return resolved


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imported(name, path, known) for name, path in known.items() if name != "qlora_check"}


def layer_of(module: str) -> int:
    top = module.split(".")[1]
    return next(index for index, layer in enumerate(LAYERS) if top in layer)


def reaches(edges: dict[str, set[str]], start: str, goal: str) -> bool:
    seen, stack = set(), [start]
    while stack:
        node = stack.pop()
        if node == goal:
            return True
        if node not in seen:
            seen.add(node)
            stack.extend(edges.get(node, ()))
    return False


def test_every_top_level_module_has_a_layer() -> None:
    tops = {name.split(".")[1] for name in graph()}
    assert tops <= set().union(*LAYERS), tops - set().union(*LAYERS)


def test_nothing_imports_upward() -> None:
    upward = [
        f"{module} -> {target}"
        for module, targets in graph().items()
        for target in targets
        if target != "qlora_check" and layer_of(target) < layer_of(module)
    ]
    assert upward == []


def test_no_two_modules_or_packages_import_each_other() -> None:
    edges = graph()
    module_cycles = sorted(
        {tuple(sorted((a, b))) for a, targets in edges.items() for b in targets if reaches(edges, b, a)}
    )
    assert module_cycles == []
    packages: dict[str, set[str]] = {}
    for module, targets in edges.items():
        for target in targets:
            a, b = module.split(".")[1], target.split(".")[1] if target != "qlora_check" else ""
            if b and a != b:
                packages.setdefault(a, set()).add(b)
    package_cycles = sorted(
        {tuple(sorted((a, b))) for a, targets in packages.items() for b in targets if reaches(packages, b, a)}
    )
    assert package_cycles == []
