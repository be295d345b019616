"""The top-level packages depend one way: api → incentives → points; inside points, the
plumbing (points.infra) and the shared modules depend on no domain folder. Every import
statement counts, at module level or inside a function."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# What each package may import of the others.
ALLOWED = {"points": set(), "incentives": {"points"}, "api": {"points", "incentives"}}


def imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & set(ALLOWED)


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_package_imports_only_the_layers_below_it(package):
    wrong = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        others = imported_packages(path) - ALLOWED[package] - {package}
        if others:
            wrong[str(path.relative_to(ROOT))] = sorted(others)
    assert not wrong, f"{package} may import only {sorted(ALLOWED[package])}: {wrong}"


def test_the_check_sees_an_upward_import(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from incentives.models import Perk\n", encoding="utf-8")
    assert imported_packages(module) == {"incentives"}


# Inside points: what the domain's folders stand on. The plumbing (points.infra), the
# tables and the shared modules at the top import none of the domain's folders.
POINTS = ROOT / "points"
BASE = {"infra", "models", "errors", "i18n", "dates"}
KEPT_AT_TOP = {"__init__", "errors", "i18n", "dates"}


def domain_folders() -> set[str]:
    return {p.name for p in POINTS.iterdir() if (p / "__init__.py").exists()} - BASE


def package_of(path: Path) -> list[str]:
    return list(path.relative_to(ROOT).parts[:-1])


def imported_modules(path: Path, package: list[str]) -> set[str]:
    """The dotted names a module in `package` imports, relative imports resolved, and
    for `from package import name` also `package.name`."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def domain_imports(path: Path, domain: set[str], package: list[str]) -> list[str]:
    return sorted(name for name in imported_modules(path, package)
                  if name.split(".")[0] == "points" and len(name.split(".")) > 1
                  and name.split(".")[1] in domain)


@pytest.mark.parametrize("base", sorted(BASE))
def test_the_plumbing_and_shared_modules_import_no_domain_folder(base):
    domain = domain_folders()
    assert {"rules", "scores", "people"} <= domain
    paths = sorted((POINTS / base).rglob("*.py")) if (POINTS / base).is_dir() \
        else [POINTS / f"{base}.py"]
    wrong = {str(path.relative_to(ROOT)): found for path in paths
             if (found := domain_imports(path, domain, package_of(path)))}
    assert not wrong, f"points.{base} may not import {sorted(domain)}: {wrong}"


def test_every_domain_module_lives_in_a_folder():
    loose = sorted(p.name for p in POINTS.glob("*.py") if p.stem not in KEPT_AT_TOP)
    assert not loose, f"place these in a folder of points/ (README, Architecture): {loose}"


def test_the_check_sees_a_domain_import_relative_or_absolute(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from ..scores import scoring\n"
                      "from points import people\nfrom . import db\n", encoding="utf-8")
    assert domain_imports(module, {"scores", "people"}, ["points", "infra"]) == [
        "points.people", "points.scores", "points.scores.scoring"]


# Inside api: the routes are the top of the HTTP layer. Nothing else in api/ imports
# a route module (to reuse its checks, schemas or helpers); the app factory only
# registers them (api/routes/__init__.py).
API = ROOT / "api"


def test_nothing_outside_the_routes_imports_a_route_module():
    wrong = {}
    for path in sorted(API.rglob("*.py")):
        relative = path.relative_to(API)
        if relative.parts[0] == "routes":
            continue
        # The composition root (api/__init__.py) registers the routes' blueprints
        # through the package (`api.routes.register_blueprints`), nothing of a module.
        names = sorted(name for name in imported_modules(path, package_of(path))
                       if name.startswith("api.routes") and not (
                           relative == Path("__init__.py")
                           and name in {"api.routes", "api.routes.register_blueprints"}))
        if names:
            wrong[str(path.relative_to(ROOT))] = names
    assert not wrong, f"import from the routes' helpers' own modules instead: {wrong}"


def test_no_route_module_imports_another():
    """A schema or helper two route modules share lives outside api/routes (for
    example api/schemas.py), so each route module reads on its own."""
    routes = API / "routes"
    wrong = {str(path.relative_to(ROOT)): names for path in sorted(routes.glob("*.py"))
             if path.name != "__init__.py"
             and (names := sorted(name for name in imported_modules(path, package_of(path))
                                  if name.startswith("api.routes")))}
    assert not wrong, f"move what they share out of api/routes: {wrong}"


def incentives_tables() -> set[str]:
    from incentives import models

    return {value.__tablename__ for value in vars(models).values()
            if isinstance(value, type) and value.__module__ == models.__name__
            and isinstance(getattr(value, "__tablename__", None), str)}


def test_points_reads_no_table_of_incentives_by_name():
    """Not even by name (`table("merchants", …)`, SQL text): what points needs of
    incentives comes through the app's hooks (points.infra.hooks). A foreign key
    to `merchants.id` in points.models keeps the data whole and reads nothing."""
    import re

    theirs = incentives_tables()
    assert "merchants" in theirs
    sql = re.compile(r"\b(?:from|join|into|update)\s+(" + "|".join(theirs) + r")\b", re.IGNORECASE)
    wrong = {}
    for path in sorted(POINTS.rglob("*.py")):
        named = sorted({node.value for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                        if isinstance(node, ast.Constant) and isinstance(node.value, str)
                        and (node.value in theirs or sql.search(node.value))})
        if named:
            wrong[str(path.relative_to(ROOT))] = named
    assert not wrong, f"ask incentives through points.infra.hooks instead: {wrong}"


def test_points_keeps_no_answer_of_a_request():
    """The Idempotency-Key rows (a request's status and answer) are the HTTP side's
    (api/idempotency_rows.py): no module of points outside the tables' declarations
    (points/models) reads, writes or purges them."""
    wrong = []
    for path in sorted(POINTS.rglob("*.py")):
        if "models" in package_of(path):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if any(isinstance(node, ast.Name | ast.alias | ast.Attribute | ast.Constant)
               and {"IdempotencyKey", "idempotency_keys"} & {
                   getattr(node, "id", None), getattr(node, "name", None),
                   getattr(node, "attr", None), getattr(node, "value", None)}
               for node in ast.walk(tree)):
            wrong.append(str(path.relative_to(ROOT)))
    assert not wrong, f"the Idempotency-Key rows belong to api/idempotency_rows.py: {wrong}"
