"""The suite's layout: no test module imports another test module. What several test
modules share lives in the test builders (tests/builders/, docs/testing.md); the
tests, their conftest files, the builders themselves and the benchmarks import from
`tests` nothing else."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = "tests.builders"


def _modules() -> list[Path]:
    return sorted({*ROOT.joinpath("tests").rglob("*.py"), *ROOT.joinpath("bench").glob("*.py")})


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """(line, module) of every module the file imports, at any depth of its code;
    relative imports resolved against the file's package."""
    name = _module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            # `from tests.api import test_x` imports the module test_x itself
            modules = [f"{base}.{alias.name}" for alias in node.names
                       if alias.name.startswith("test_")]
            found += [(node.lineno, module) for module in modules or [base]]
    return found


def refused(module: str) -> bool:
    """Whether the suite's layout forbids importing `module`: a test module, or
    anything of `tests` outside the builders."""
    top, *rest = module.split(".")
    if top not in ("tests", "bench") or not rest:
        return False
    return any(part.startswith("test_") for part in rest) or (
        top == "tests" and module != ALLOWED and not module.startswith(ALLOWED + "."))


def test_no_test_module_imports_another():
    wrong = [f"{path.relative_to(ROOT)}:{line} imports {module}"
             for path in _modules() for line, module in imported(path) if refused(module)]
    assert not wrong, "move what they share into tests/builders:\n" + "\n".join(wrong)


def test_the_check_sees_each_way_of_importing_a_test_module(tmp_path):
    package = tmp_path / "tests" / "api"
    package.mkdir(parents=True)
    sample = package / "test_sample.py"
    sample.write_text(
        "import tests.api.test_merchants\n"
        "from tests.api.test_repairs import person\n"
        "from tests.api import test_attachments\n"
        "from . import test_workers\n"
        "from .test_golden import GOLDEN\n"
        "from tests.helpers import valid_id\n"
        "from tests.builders.residents import resident\n"
        "from tests import builders\n"
        "import bench.common\n"
        "def later():\n"
        "    from tests.service.test_faults import RedisServer\n",
        encoding="utf-8")
    modules = [module for _, module in imported(sample, tmp_path) if refused(module)]
    assert modules == ["tests.api.test_merchants", "tests.api.test_repairs",
                       "tests.api.test_attachments", "tests.api.test_workers",
                       "tests.api.test_golden", "tests.helpers",
                       "tests.service.test_faults"]
