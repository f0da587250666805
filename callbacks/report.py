"""The monthly report: a ranked table (text), CSV files and PNG charts (matplotlib, Agg backend)."""
from __future__ import annotations

import csv
from datetime import date
from pathlib import Path
from typing import Union

from sqlalchemy.engine import Engine

from ground.store.rates import Trend, UnitRates, month_on_month, parse_month, shift_month, unit_rates

RATE_FIELDS = (("response_rate", "响应率"), ("resolution_rate", "解决率"), ("satisfaction_rate", "满意率"))


def _pct(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value * 100:+.1f}" if signed else f"{value * 100:.1f}%"


def format_table(trends: list[Trend]) -> str:
    """A plain text table: rank, unit, answered surveys, the three rates with month-on-month change, score."""
    header = f"{'rank':>4}  {'unit':<28}{'answered':>9}{'response':>10}{'Δ':>7}{'resolution':>11}{'Δ':>7}" \
             f"{'satisfaction':>13}{'Δ':>7}{'score':>8}"
    lines = [header, "-" * len(header)]
    for t in trends:
        u = t.current
        name = u.unit_name if len(u.unit_name) <= 14 else u.unit_name[:13] + "…"
        pad = 28 - sum(2 if ord(c) > 0x2E80 else 1 for c in name)  # CJK characters are two columns wide
        lines.append(
            f"{u.rank:>4}  {name}{' ' * max(pad, 1)}{u.answered:>9}"
            f"{_pct(u.response_rate):>10}{_pct(t.delta('response_rate'), True):>7}"
            f"{_pct(u.resolution_rate):>11}{_pct(t.delta('resolution_rate'), True):>7}"
            f"{_pct(u.satisfaction_rate):>13}{_pct(t.delta('satisfaction_rate'), True):>7}{u.score * 100:>8.1f}")
    if not trends:
        lines.append("(no completed surveys in this month)")
    return "\n".join(lines)


def write_csv(trends: list[Trend], path: Path) -> Path:
    fields = ["month", "rank", "unit", "unit_name", "answered", "contacted", "solved", "satisfied",
              "basically_satisfied", "unsatisfied", "response_rate", "resolution_rate", "satisfaction_rate", "score",
              "response_rate_change", "resolution_rate_change", "satisfaction_rate_change"]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(fields)
        for t in trends:
            u = t.current
            deltas = [t.delta(f) for f, _ in RATE_FIELDS]
            writer.writerow([u.month, u.rank, u.unit, u.unit_name, u.answered, u.contacted, u.solved, u.satisfied,
                             u.basically_satisfied, u.unsatisfied, f"{u.response_rate:.4f}", f"{u.resolution_rate:.4f}",
                             f"{u.satisfaction_rate:.4f}", f"{u.score:.4f}",
                             *("" if d is None else f"{d:.4f}" for d in deltas)])
    return path


def _font():
    """A font with CJK glyphs when one is installed (unit names are Chinese), else matplotlib's default."""
    from matplotlib import font_manager  # lazy: matplotlib only when charts are written

    for name in ("Noto Sans CJK SC", "Noto Sans CJK JP", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "AR PL UMing CN",
                 "Droid Sans Fallback"):
        try:
            font_manager.findfont(name, fallback_to_default=False)
            return name
        except ValueError:
            continue
    return None


def write_charts(trends: list[Trend], history: dict[str, list[UnitRates]], out: Path, month: str) -> list[Path]:
    """rates_<month>.png (the three rates per unit, ranked) and trend_<month>.png (each unit's score by month)."""
    import matplotlib  # lazy: matplotlib only when charts are written

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    font = _font()
    if font:
        plt.rcParams["font.family"] = font
    # without a CJK font the unit codes are used as labels (they are ASCII-safe enough to read)
    label = (lambda u: u.unit_name) if font else (lambda u: u.unit)
    paths = []
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(trends) + 2), 4.5))
    width = 0.27
    xs = range(len(trends))
    for i, (field_name, title) in enumerate(RATE_FIELDS):
        ax.bar([x + (i - 1) * width for x in xs], [getattr(t.current, field_name) * 100 for t in trends], width,
               label=title if font else field_name)
    ax.set_xticks(list(xs))
    ax.set_xticklabels([label(t.current) for t in trends], rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 105)
    ax.set_ylabel("%")
    ax.set_title(f"{month}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(out / f"rates_{month}.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4.5))
    months = sorted(history)
    for t in trends:
        series = [next((u.score * 100 for u in history[m] if u.unit == t.current.unit), None) for m in months]
        ax.plot(months, [v if v is not None else float("nan") for v in series], marker="o", label=label(t.current))
    ax.set_ylabel("score")
    ax.set_ylim(0, 105)
    ax.legend(fontsize=7)
    fig.tight_layout()
    paths.append(out / f"trend_{month}.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)
    return paths


def build_report(engine: Engine, month: Union[str, date], out_dir: Path, *, weight: float = 0.8,
                 history_months: int = 6) -> tuple[str, list[Path]]:
    """The table as text, and the files written (CSV of the month, CSV of the trend, two PNG charts)."""
    first = parse_month(month)
    label = first.strftime("%Y-%m")
    out_dir.mkdir(parents=True, exist_ok=True)
    trends = month_on_month(engine, first, weight=weight)
    history = {shift_month(first, -k).strftime("%Y-%m"): unit_rates(engine, shift_month(first, -k), weight=weight)
               for k in range(history_months - 1, -1, -1)}
    files = [write_csv(trends, out_dir / f"rates_{label}.csv")]
    trend_csv = out_dir / f"trend_{label}.csv"
    with trend_csv.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["month", "unit", "answered", "response_rate", "resolution_rate", "satisfaction_rate", "score"])
        for m, rows in history.items():
            for u in rows:
                writer.writerow([m, u.unit, u.answered, f"{u.response_rate:.4f}", f"{u.resolution_rate:.4f}",
                                 f"{u.satisfaction_rate:.4f}", f"{u.score:.4f}"])
    files.append(trend_csv)
    files += write_charts(trends, history, out_dir, label)
    return format_table(trends), files
