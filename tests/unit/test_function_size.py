"""The domain's functions (points/ and incentives/) stay short enough to read as the
rules they carry: at most 60 lines each, docstring included. ruff holds their
cyclomatic complexity (at most 15) and statements (at most 50): pyproject.toml."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = ("points", "incentives")
MAX_LINES = 60


def long_functions(path: Path) -> dict[str, int]:
    """{function name: its lines} of the functions in a module longer than MAX_LINES."""
    found = {}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            lines = node.end_lineno - node.lineno + 1
            if lines > MAX_LINES:
                found[node.name] = lines
    return found


def test_no_domain_function_is_longer_than_60_lines():
    long = {}
    for package in DOMAIN:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = path.relative_to(ROOT).as_posix()
            long.update({f"{name}:{function}": lines
                         for function, lines in long_functions(path).items()})
    assert not long, f"split these into named steps: {long}"


def test_the_check_sees_a_long_function(tmp_path):
    module = tmp_path / "m.py"
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_LINES))
    module.write_text(f"def short():\n    pass\n\n\ndef long():\n{body}", encoding="utf-8")
    assert long_functions(module) == {"long": MAX_LINES + 1}
