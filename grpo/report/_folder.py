"""The one writer of a report folder, for every report kind: figures (PNG), tables (CSV) and
report.md, each file whole or not at all (written to a temporary file, then renamed)."""

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from grpo.files import write_atomic
from grpo.report._plot import save


def write_figure(out: Path, name: str, figure: Figure) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / name, lambda tmp: save(figure, tmp))


def write_table(out: Path, name: str, frame: pd.DataFrame) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / name, lambda tmp: frame.to_csv(tmp, index=False))


def write_text(out: Path, name: str, text: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / name, lambda tmp: tmp.write_text(text))


def write_folder(out: Path, pictures: dict[str, Figure], tables: dict[str, pd.DataFrame], report: str) -> None:
    """Write `pictures` (name -> figure), then `tables` (name -> frame), then report.md into `out`."""
    for name, figure in pictures.items():
        write_figure(out, name, figure)
    for name, frame in tables.items():
        write_table(out, name, frame)
    write_text(out, "report.md", report)
