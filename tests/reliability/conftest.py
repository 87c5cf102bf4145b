"""Fixtures of the reliability suite; helpers live in ``reliability_helpers.py`` (importable from the tests)."""

from __future__ import annotations

import inspect
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import reliability_helpers
from plexus.platform.catalog import get_catalog
from plexus.platform.tracking import mask_text

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


@pytest.fixture()
def data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private ``$PLEXUS_DATA`` and working directory for one test."""
    home = tmp_path / "home"
    monkeypatch.setenv("PLEXUS_DATA", str(home))
    monkeypatch.chdir(tmp_path)
    yield home
    get_catalog(refresh=True)



# --------------------------------------------------------------------------------------------------------------
# Results table: ``evaluation/results/reliability.md``, written at session end when the whole suite ran.

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parents[1] / "evaluation" / "results" / "reliability.md"


@dataclass
class _Case:
    nodeid: str
    item: pytest.Item
    outcome: str = "not run"
    message: str = ""
    duration: float = 0.0
    cli: list = field(default_factory=list)
    details: list = field(default_factory=list)


_CASES: dict[str, _Case] = {}
_DESELECTED: list[pytest.Item] = []
_SELECTED: list[str] = []


def _ours(item: pytest.Item) -> bool:
    return Path(str(item.path)).resolve().parent == HERE


@pytest.fixture()
def record(request: pytest.FixtureRequest):
    """``record("what was observed")`` adds a line to this case's row of the results table."""
    case = _CASES.get(request.node.nodeid)

    def _record(case_detail: str) -> None:
        if case is not None:
            case.details.append(_short_line(str(case_detail)))  # no machine paths in the results file
    return _record


@pytest.fixture(autouse=True)
def _reliability_cli_log() -> Iterator[None]:
    """Collects this test's ``run_cli`` invocations (exit code, last stderr line) for the results table."""
    reliability_helpers.CLI_LOG.clear()
    yield


def pytest_deselected(items: list[pytest.Item]) -> None:
    _DESELECTED.extend(i for i in items if _ours(i))


def pytest_collection_finish(session: pytest.Session) -> None:
    for item in session.items:
        if _ours(item):
            _CASES[item.nodeid] = _Case(item.nodeid, item)
            _SELECTED.append(item.nodeid)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    case = _CASES.get(report.nodeid)
    if case is None:
        return
    case.duration += report.duration
    if report.when == "call" or (report.when == "setup" and not report.passed):
        case.cli = list(reliability_helpers.CLI_LOG) if report.when == "call" else []
    if report.failed:
        case.outcome = "error" if report.when != "call" else "FAILED"
        crash = getattr(report.longrepr, "reprcrash", None)
        case.message = (crash.message if crash else str(report.longrepr)).strip().splitlines()[0][:200]
    elif report.skipped and case.outcome == "not run":
        case.outcome = "skipped"
        lr = report.longrepr
        case.message = str(lr[2] if isinstance(lr, tuple) else lr)[:200]
    elif report.when == "call" and report.passed and case.outcome == "not run":
        case.outcome = "passed"


def _scrub(text: str, item: pytest.Item) -> str:
    text = mask_text(text)
    secret = getattr(item.module, "SECRET", None)
    if isinstance(secret, str) and secret:
        text = text.replace(secret, "***")
    return text


def _short_args(args: list[str]) -> str:
    out = []
    for a in args:
        a = re.sub(r"sqlite:///\S*?([^/\s]+\.db)\b", r"sqlite:///…/\1", a)
        if "/" in a and "://" not in a and not a.startswith("{"):
            a = "…/" + Path(a).name if Path(a).is_absolute() else a
        a = re.sub(r"/\S*/(pytest-\d+|tmp\w*)/\S*?/([^/\s']+)", r"…/\2", a)
        out.append(a)
    return " ".join(out)


def _short_line(line: str, limit: int = 300) -> str:
    """A stderr line with temp/repo path prefixes dropped, cut at ``limit`` characters (its full length noted)."""
    line = re.sub(r"/\S*?/pytest-\d+/[^/\s]+/", "…/", line).replace(str(HERE.parents[1]) + "/", "")
    return line if len(line) <= limit else f"{line[:limit]}… ({len(line):,} chars in all)"


def _case_table(item: pytest.Item) -> tuple[str, object] | None:
    """The module-level dict the test reads with its ``case`` parameter: (its name, this case's entry)."""
    params = getattr(getattr(item, "callspec", None), "params", {})
    key = params.get("case")
    if key is None:
        return None
    for name in getattr(item.function, "__code__", None).co_names:
        table = getattr(item.module, name, None)
        if isinstance(table, dict) and key in table:
            return name, table[key]
    return None


def _what(case: _Case) -> str:
    item = case.item
    found = _case_table(item)
    if found is not None:
        name, entry = found
        if isinstance(entry, tuple) and len(entry) == 2:
            args, needles = entry
            args = args if isinstance(args, str) else " ".join(map(str, args))
            expect = ", ".join(f"“{n}”" for n in needles)
            cmd = _short_args(case.cli[-1][0]) if case.cli else args
            return f"`plexus {cmd}` ({name}); expects exit 2 and one stderr line with {expect}"
        return f"{name}[{item.callspec.id}]: {entry!r}"
    doc = inspect.getdoc(item.function) or ""
    what = doc.split("\n\n")[0].replace("\n", " ").rstrip(".") if doc else item.name.split("[")[0].replace("_", " ")
    callspec = getattr(item, "callspec", None)
    if callspec is not None:
        what += " — " + ", ".join(f"{k}={v}" for k, v in callspec.params.items())
    if case.cli and found is None:
        what += f"; last CLI run: `plexus {_short_args(case.cli[-1][0])}`"
    return what


def _happened(case: _Case) -> str:
    parts = []
    if case.cli:
        _, code, line = case.cli[-1]
        prefix = f"{len(case.cli)} CLI runs; last: " if len(case.cli) > 1 else ""
        parts.append(f"{prefix}exit {code}" + (f", stderr `{_short_line(line)}`" if line else ", stderr empty"))
    parts.extend(case.details)
    if case.outcome == "passed":
        parts.append("all state checks passed")
    elif case.message:
        parts.append(f"{case.outcome}: {case.message}")
    return "; ".join(parts) if parts else case.outcome


def _checks(func) -> list[str]:
    """The assertions a test function makes (shown once per function)."""
    try:
        src = inspect.getsource(func)
    except (OSError, TypeError):
        return []
    found = re.findall(r"^\s*(assert(?:_one_line_error)?\b.*?)(?:\s+#.*)?$", src, flags=re.MULTILINE)
    return [f.rstrip(",") for f in found]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _complete(session: pytest.Session) -> bool:
    """True when every reliability test file was collected, nothing but ``slow`` tests deselected, all ran."""
    files = {p.name for p in HERE.glob("test_*.py")}
    collected = {Path(str(c.item.path)).name for c in _CASES.values()} | {Path(str(i.path)).name for i in _DESELECTED}
    if files != collected or not _CASES:
        return False
    if any(i.get_closest_marker("slow") is None for i in _DESELECTED):
        return False  # a -k or other selection: partial run
    return all(c.outcome != "not run" for c in _CASES.values()) and not session.shouldstop and not session.shouldfail


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not _complete(session):
        return
    cases = [_CASES[n] for n in _SELECTED]
    counts: dict[str, int] = {}
    for c in cases:
        counts[c.outcome] = counts.get(c.outcome, 0) + 1
    summary = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    lines = [
        "# Reliability suite results",
        "",
        "Generated by `tests/reliability/conftest.py` from `pytest tests/reliability`"
        + (f" (deselected: {len(_DESELECTED)} slow test(s))" if _DESELECTED else "") + ".",
        "",
        f"**{len(cases)} cases: {summary}.**",
        "",
        "| # | Case | What was done | What happened | Result | s |",
        "|---|------|---------------|---------------|--------|---|",
    ]
    for k, c in enumerate(cases, 1):
        name = c.nodeid.split("::", 1)[-1]
        row = [str(k), f"`{name}`", _what(c), _happened(c), c.outcome, f"{c.duration:.1f}"]
        lines.append("| " + " | ".join(_cell(_scrub(x, c.item)) for x in row) + " |")
    for item in _DESELECTED:
        lines.append("| – | " + " | ".join(_cell(_scrub(x, item)) for x in
                                            [f"`{item.nodeid.split('::', 1)[-1]}`", "marked slow", "not run", "deselected",
                                             ""]) + " |")
    lines += ["", "## State checks per test function", "",
              "Every passed case passed all of its function's assertions, listed here once per function.", ""]
    seen = set()
    for item in [c.item for c in cases] + _DESELECTED:
        func = getattr(item, "function", None)
        key = (item.module.__name__, getattr(func, "__name__", ""))
        if func is None or key in seen:
            continue
        seen.add(key)
        lines.append(f"- `{Path(str(item.path)).name}::{func.__name__}`")
        for chk in _checks(func):
            lines.append(f"  - `{_scrub(chk, item)}`")
    text = "\n".join(lines) + "\n"
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=RESULTS.parent, prefix=".reliability.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, RESULTS)
