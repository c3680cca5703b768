"""The house rules, read from the import graph (grimp, which import-linter builds on).

- the import-linter contracts of pyproject.toml ([tool.importlinter]) hold, and the lists they
  are made of leave no module out;
- no new import cycle between effigies' top-level subpackages: today's are listed below, each
  with why it exists, and the list must shrink as they are removed, never grow;
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

# Package-level imports that lie on an import cycle between top-level subpackages, today:
# (importer, imported) -> why. One strongly connected component of 9 packages (accounts, api,
# avatars, billing, certificates, generation, monitoring, themes, training); without api's
# edges, 6 of them still form one (accounts, avatars, billing, generation, themes, training).
# A new edge on a cycle fails the test (a new cycle needs one); an edge that no longer lies on
# one fails it too, so that its line is deleted here. Found by _cycle_edges() below.
KNOWN_CYCLE_EDGES: dict[tuple[str, str], str] = {
    # The HTTP layer, 16 edges. api.app mounts every domain's routers (and the ASGI handler
    # avatars.public, the middleware monitoring.http); api.deps resolves the user through
    # accounts.service; api.system's health check asks billing.stripe_gateway and
    # monitoring.metrics. Every router imports api.deps (session, current user), most
    # api.openapi (error responses), some api.ratelimit, api.errors, api.security. To break:
    # routers registered from outside api (a composition root above the domains).
    ("api", "accounts"): "api.app mounts accounts' routers; api.deps: accounts.service, accounts.models",
    ("api", "avatars"): "api.app mounts avatars.router and the avatars.public ASGI handler",
    ("api", "billing"): "api.app mounts billing.router; api.system's health check: billing.stripe_gateway",
    ("api", "certificates"): "api.app mounts certificates.router",
    ("api", "generation"): "api.app mounts generation.router",
    ("api", "monitoring"): "api.app: monitoring.router, the monitoring.http middleware; api.system: metrics",
    ("api", "themes"): "api.app mounts themes.router and themes.admin_router",
    ("api", "training"): "api.app mounts training.router",
    ("accounts", "api"): "accounts' routers: api.deps, api.openapi, api.ratelimit",
    ("avatars", "api"): "avatars.router: api.deps, api.openapi",
    ("billing", "api"): "billing.router: api.deps, api.openapi",
    ("certificates", "api"): "certificates.router: api.deps",
    ("generation", "api"): "generation.router: api.deps, api.openapi, api.ratelimit",
    ("monitoring", "api"): "monitoring.router: api.deps",
    ("themes", "api"): "themes' routers: api.deps, api.openapi, api.errors, api.security",
    ("training", "api"): "training.router: api.deps, api.openapi",
    # Between domains, 20 edges: mostly one domain's models read by another (the models
    # contracts' ignore_imports in pyproject.toml say by whom, and where each read should move).
    ("accounts", "avatars"): "delete_account disowns avatars; the support search counts them (Avatar)",
    ("accounts", "billing"): "the support search shows balances (billing.models.LedgerAccount)",
    ("avatars", "billing"): "a purchase posts to the ledger, idempotently (billing.ledger, billing.idempotency)",
    ("avatars", "generation"): "a purchase locks and sells a generation.models.Candidate",
    ("avatars", "themes"): "a purchase checks the theme; delivery reads theme and version (themes.models, service)",
    ("billing", "accounts"): "support's wallet view: accounts.support, admin_schemas, models.User",
    ("billing", "avatars"): "wallet_lines name the avatar bought (avatars.models, avatars.service)",
    ("billing", "themes"): "wallet_lines name the theme of the avatar bought (themes.models)",
    ("certificates", "accounts"): "a certificate names the owner (accounts.models.User)",
    ("certificates", "avatars"): "a certificate's avatar (avatars.service, avatars.models)",
    ("certificates", "themes"): "a certificate names theme and version (themes.models)",
    ("generation", "avatars"): "generation.preview draws candidates as avatars.master draws masters",
    ("generation", "themes"): "a job samples its theme's current version (themes.models, themes.service)",
    ("monitoring", "avatars"): "sales on the stats page (avatars.models); monitoring.http labels avatars.public",
    ("monitoring", "generation"): "jobs on the stats page, images offered by a job (generation.models)",
    ("monitoring", "training"): "active training runs on the stats page (training.models)",
    ("themes", "avatars"): "sales per theme: catalogue and admin overview (avatars.models)",
    ("themes", "generation"): "admin overview and retire() read offers (generation.models); admin_router: service",
    ("themes", "training"): "themes.learning draws the learning timeline of training.timeline",
    ("training", "themes"): "a run trains, versions and settles its theme (themes.models, service, large_images)",
}

# The only modules that may import fastapi / starlette, so left out of the web-framework
# contract's sources; so are the CLI (every process's entry point, the API's included) and
# effigies.gan (its own contract). Package __init__ modules aside, every other module is in them.
HTTP_LAYER = ("effigies.api", "effigies.*.router", "effigies.*.admin_router", "effigies.avatars.public",
              "effigies.monitoring.http")
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
    """Package-level imports between top-level subpackages that lie on a cycle, with the module
    imports that make each (short names, without "effigies.")."""
    graph = _graph()
    packages = {c for c in _children() if graph.find_children(c)}

    def package(module: str) -> str | None:
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


def test_no_new_import_cycle_between_subpackages():
    found = _cycle_edges()
    new = {edge: sorted(found[edge]) for edge in sorted(set(found) - set(KNOWN_CYCLE_EDGES))}
    gone = sorted(set(KNOWN_CYCLE_EDGES) - set(found))
    assert not new, f"new import cycle(s) between subpackages, through: {new}"
    assert not gone, f"no longer on a cycle, delete from KNOWN_CYCLE_EDGES: {gone}"


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
