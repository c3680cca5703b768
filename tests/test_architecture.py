"""The house rules, read from the import graph (grimp, which import-linter builds on).

- the import-linter contracts of pyproject.toml ([tool.importlinter]) hold, and the lists they
  are made of leave no module out;
- no import cycle between effigies' top-level subpackages, the HTTP layer (effigies.api, every
  router, the public avatar handler, the metrics middleware) counted as one layer above them all:
  the domains form layers (uniqueness, themes < generation < avatars < billing < accounts <
  support, curation, certificates, training, monitoring), and only the HTTP layer sees every one;
- no module but the settings reads its configuration from the environment (effigies.config).
"""
from __future__ import annotations

import ast
import collections
import re
import subprocess
import sys
import tomllib
from functools import lru_cache
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "effigies"

# The only modules that may import fastapi / starlette, so left out of the web-framework
# contract's sources; so are the CLI (every process's entry point, the API's included) and
# effigies.gan (its own contract). Package __init__ modules aside, every other module is in them.
HTTP_LAYER = ("effigies.api", "effigies.*.router", "effigies.*.admin_router", "effigies.accounts.addresses_router",
              "effigies.avatars.public", "effigies.monitoring.http")
LEFT_OUT = ("effigies.cli", "effigies.gan")

# The modules that may touch os.environ, and why: building a child process's environment, or
# (embedded.services) choosing, from the mapping it is handed, which servers a child needs.
ENVIRON_ALLOWED = {
    "effigies/config.py": "the settings (pydantic-settings reads the environment for it)",
    "effigies/embedded/up.py": "the environment of `effigies up`'s children",
    "effigies/embedded/services.py": "which embedded servers the environment lacks",
    "effigies/embedded/postgres.py": "initdb's environment (LC_ALL=C)",
    "effigies/ops/pgtools.py": "pg_dump / psql's environment (PGPASSWORD)",
}


@lru_cache
def _graph() -> grimp.ImportGraph:
    return grimp.build_graph("effigies", include_external_packages=True, cache_dir=None)


def _contracts() -> dict[str, dict]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return {c["id"]: c for c in config["contracts"]}


def _matches(module: str, expression: str) -> bool:
    """import-linter's module expression (`*` one name, `**` any), taken as a package."""
    names = [r"[^.]+" if n == "*" else r".+" if n == "**" else re.escape(n) for n in expression.split(".")]
    return re.fullmatch(r"\.".join(names) + r"(\..+)?", module) is not None


def _children() -> set[str]:
    return set(_graph().find_children("effigies"))


def test_import_linter_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_gan_contract_names_every_other_part_of_effigies():
    forbidden = set(_contracts()["gan-standalone"]["forbidden_modules"])
    assert forbidden == _children() - {"effigies.gan"}


def test_every_module_outside_the_http_layer_is_kept_from_the_web_framework():
    sources = _contracts()["no-web-outside-http"]["source_modules"]
    graph = _graph()
    modules = {m for m in graph.modules if m.startswith("effigies.") and not graph.find_children(m)}
    http = {m for m in modules if any(_matches(m, e) for e in HTTP_LAYER)}
    left_out = {m for m in modules if any(_matches(m, e) for e in LEFT_OUT)}
    covered = {m for m in modules if any(_matches(m, e) for e in sources)}
    missing = sorted(modules - http - left_out - covered)
    assert not missing, f"add to no-web-outside-http's source_modules (pyproject.toml) or to HTTP_LAYER: {missing}"
    assert not (http | left_out) & covered, sorted((http | left_out) & covered)
    # And the HTTP layer is where the web framework is.
    web = {m for m in modules for w in ("fastapi", "starlette") if graph.direct_import_exists(importer=m, imported=w)}
    assert web <= http


def _cycle_edges() -> dict[tuple[str, str], set[tuple[str, str]]]:
    """Package-level imports between top-level subpackages (the HTTP layer as one, "<http>") that
    lie on a cycle, with the module imports that make each (short names, without "effigies.")."""
    graph = _graph()
    packages = {c for c in _children() if graph.find_children(c)}

    def package(module: str) -> str | None:
        if any(_matches(module, e) for e in HTTP_LAYER):
            return "effigies.<http>"
        top = ".".join(module.split(".")[:2])
        return top if top in packages else None

    edges: dict[tuple[str, str], set[tuple[str, str]]] = collections.defaultdict(set)
    for module in graph.modules:
        if (a := package(module)) is None:
            continue
        for imported in graph.find_modules_directly_imported_by(module):
            if (b := package(imported)) is not None and b != a:
                edges[(a[9:], b[9:])].add((module[9:], imported[9:]))
    successors = collections.defaultdict(set)
    for a, b in edges:
        successors[a].add(b)

    def reaches(start: str, goal: str) -> bool:
        seen, todo = {start}, [start]
        while todo:
            for nxt in successors[todo.pop()]:
                if nxt == goal:
                    return True
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return False

    # a -> b lies on a cycle exactly when b reaches a back.
    return {(a, b): imports for (a, b), imports in edges.items() if reaches(b, a)}


def test_no_import_cycle_between_subpackages():
    found = {edge: sorted(imports) for edge, imports in sorted(_cycle_edges().items())}
    assert not found, f"import cycle(s) between subpackages, through: {found}"


def test_the_cycle_check_sees_a_cycle():
    """The check above would fail on a cycle: billing.checkout imports avatars.service, so an
    import back from avatars to billing closes one."""
    graph = _graph()
    graph.add_import(importer="effigies.avatars.service", imported="effigies.billing.ledger")
    try:
        assert ("avatars", "billing") in _cycle_edges()
    finally:
        graph.remove_import(importer="effigies.avatars.service", imported="effigies.billing.ledger")


def _environ_uses(tree: ast.AST) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "os"
                and node.attr in ("environ", "environb", "getenv", "getenvb")):
            lines.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module == "os" and any(
                a.name in ("environ", "environb", "getenv", "getenvb") for a in node.names):
            lines.append(node.lineno)
    return lines


def test_configuration_is_read_by_the_settings_only():
    readers = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(ROOT).as_posix()
        if name not in ENVIRON_ALLOWED and (lines := _environ_uses(ast.parse(path.read_text(), name))):
            readers[name] = lines
    assert not readers, f"read the value through effigies.config's Settings instead: {readers}"
