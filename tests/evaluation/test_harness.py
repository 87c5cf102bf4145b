"""The benchmark harness and table: properties a broken harness would violate (never timings)."""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

import pytest
from plexus.evaluation.bench import BENCHMARKS, RESULTS
from plexus.evaluation.bench._harness import (
    describe,
    machine_info,
    ratios,
    run_fresh,
    worker_command,
    write_result,
)


def test_ratios_are_taken_from_the_medians_and_per_round() -> None:
    ref, other = [1.0, 10.0, 2.0], [3.0, 20.0, 2.0]
    r = ratios(ref, other)
    assert r["reference_median"] == 2.0 and r["other_median"] == 3.0
    assert r["ratio"] == pytest.approx(statistics.median(other) / statistics.median(ref))
    assert r["ratio"] != pytest.approx(statistics.mean(other) / statistics.mean(ref))
    assert r["per_round"] == pytest.approx([3.0, 2.0, 1.0])
    with pytest.raises(ValueError):
        ratios([], [1.0])


def test_machine_info_says_where_and_when() -> None:
    info = machine_info(threads=3)
    assert {"cpu", "cores", "torch_threads", "gpu", "python", "torch", "date", "commit", "load_avg"} <= set(info)
    assert info["torch_threads"] == 3 and info["cores"] >= 1 and len(info["date"]) == 10
    assert info["cpu"] and info["commit"]
    line = describe(info)
    assert info["cpu"] in line and info["date"] in line and info["commit"] in line


def test_results_are_written_as_json_and_markdown(tmp_path: Path) -> None:
    md = write_result({"x": 1, "where": Path("a")}, "# t", tmp_path / "new", "case")
    assert md == tmp_path / "new" / "case.md" and md.read_text() == "# t\n"
    assert json.loads((tmp_path / "new" / "case.json").read_text()) == {"x": 1, "where": "a"}


def test_a_fresh_process_reports_its_json_line_or_an_error() -> None:
    cmd = worker_command(machine_info, threads=1)
    assert cmd[-2].endswith("_harness:machine_info") and json.loads(cmd[-1]) == {"threads": 1}
    res = run_fresh(cmd, threads=1, timeout=120)
    assert res["torch_threads"] == 1 and "cpu" in res
    failed = run_fresh([sys.executable, "-c", "import sys; print('no json'); sys.exit(3)"], timeout=60)
    assert failed["error"].startswith("exit 3")
    with pytest.raises(ValueError):
        worker_command(json.dumps)


def test_every_case_is_typed_described_and_writes_into_the_results_folder() -> None:
    import inspect

    assert {"fidelity", "speed", "encode", "nas", "team-server", "trial-checkpoint", "explain-cost",
            "gpu-check"} <= set(BENCHMARKS)
    for name, case in BENCHMARKS.items():
        assert case.name == name and case.description.strip()
        sig = inspect.signature(case.run)
        assert "out" in sig.parameters, name
        for p in sig.parameters.values():
            assert p.annotation is not inspect.Parameter.empty, (name, p.name)
            assert p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL), (name, p.name)
    assert RESULTS.name == "results" and (RESULTS / "README.md").is_file()


def _help(main, argv: list[str]) -> None:
    try:
        main(argv)
    except SystemExit as exc:
        assert exc.code in (0, None)


@pytest.mark.parametrize("name", sorted(BENCHMARKS))
def test_every_case_is_reachable_through_the_cli(name: str, capsys: pytest.CaptureFixture) -> None:
    import inspect

    from plexus.cli import main

    _help(main, ["bench", name, "--help"])
    out = capsys.readouterr().out
    assert "--out" in out
    if name not in ("fidelity", "speed"):
        for p in inspect.signature(BENCHMARKS[name].run).parameters:
            assert "--" + p.replace("_", "-") in out, (name, p)


def test_the_bench_help_lists_every_case(capsys: pytest.CaptureFixture) -> None:
    from plexus.cli import main

    _help(main, ["bench", "--help"])
    out = capsys.readouterr().out
    assert all(name in out for name in BENCHMARKS)


def test_the_results_index_lists_every_results_file() -> None:
    index = (RESULTS / "README.md").read_text()
    missing = [p.name for p in RESULTS.iterdir() if p.is_file() and not p.name.startswith(".")
               and f"`{p.name}`" not in index]
    assert missing == []
