"""reports/README.md, the reports' index (grpo.report.index): current with the report folders,
one row each; `grpo report --index` writes it; bad arguments are one line."""

from pathlib import Path

from grpo.cli import main
from grpo.report.index import INDEX, index_text, report_folders, summarize

REPORTS = Path(__file__).resolve().parents[2] / "reports"


def test_the_committed_index_is_current_and_lists_every_report():
    text = (REPORTS / INDEX).read_text()
    assert text == index_text(REPORTS), "reports/README.md is stale: run `grpo report --index`"
    folders = [path.name for path in REPORTS.iterdir() if (path / "report.md").is_file()]
    assert len(folders) >= 9 and [path.name for path in report_folders(REPORTS)] == sorted(folders)
    rows = [line for line in text.splitlines() if line.startswith("| [")]
    assert [row.split("](")[0].removeprefix("| [") for row in rows] == sorted(folders)


def test_a_grid_reports_row_reads_its_header_and_findings():
    entry = summarize(REPORTS / "full")
    header = (REPORTS / "full" / "report.md").read_text()
    assert f"- **Commit**: {entry.commit}" in header and entry.preset == "full"
    assert entry.seeds == "100 (0–99)" and entry.question.startswith("The full ablation of the seed's choices")
    assert entry.verdicts.startswith("Tied with the best:") and "Against the seed's default:" in entry.verdicts


def test_grpo_report_index_writes_the_index(tmp_path, capsys):
    for name in ("full", "claims"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "report.md").write_text((REPORTS / name / "report.md").read_text())
    (tmp_path / "not-a-report").mkdir()
    assert main(["report", "--index", "--out", str(tmp_path)]) == 0
    assert f"wrote {tmp_path / INDEX}: 2 report(s)" in capsys.readouterr().out
    rows = [line for line in (tmp_path / INDEX).read_text().splitlines() if line.startswith("| [")]
    assert [row.split("](")[0] for row in rows] == ["| [claims", "| [full"]


def test_bad_index_arguments_are_one_line(tmp_path, capsys):
    for argv in (["report", "--index", "--out", str(tmp_path / "nowhere")], ["report", str(tmp_path), "--index"],
                 ["report"]):
        assert main(argv) == 2
        assert capsys.readouterr().err.count("\n") == 1
    assert not (tmp_path / "nowhere").exists()
