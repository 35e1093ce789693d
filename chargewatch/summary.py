"""The summary ``make run`` prints, read back from ClickHouse."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Summary", "format_summary", "read_summary"]


@dataclass(frozen=True)
class Summary:
    sessions: int
    open_sessions: int
    energy_wh: int
    mean_duration_s: float
    idle_share: float
    top_stations: list[tuple[str, int, int]]  # (station, sessions, energy Wh)
    revenue: list[tuple[str, str, int]]  # (currency, total excl. VAT, CDRs net of credits)


def read_summary(client: Any, database: str, top: int = 5) -> Summary:
    """Completed sessions only; every session counted once (FINAL)."""
    done = "status = 'completed'"
    row = client.query(
        f"SELECT countIf({done}), countIf(NOT {done}), sumIf(energy_wh, {done}), "
        f"avgIf(duration_s, {done}), "
        f"sumIf(idle_s, {done}) / greatest(sumIf(duration_s, {done}), 1) "
        f"FROM {database}.sessions FINAL"
    ).result_rows[0]
    stations = client.query(
        f"SELECT station_id, count(), sum(energy_wh) FROM {database}.sessions FINAL "
        f"WHERE status = 'completed' GROUP BY station_id ORDER BY sum(energy_wh) DESC, "
        f"station_id LIMIT {int(top)}"
    ).result_rows
    revenue = client.query(
        f"SELECT currency, toString(sum(total_cost_excl_vat)), "
        f"countIf(NOT credit) - countIf(credit) FROM {database}.cdrs FINAL "
        f"GROUP BY currency ORDER BY currency"
    ).result_rows
    return Summary(
        sessions=int(row[0]),
        open_sessions=int(row[1]),
        energy_wh=int(row[2]),
        mean_duration_s=float(row[3] or 0.0),
        idle_share=float(row[4] or 0.0),
        top_stations=[(str(s), int(n), int(e)) for s, n, e in stations],
        revenue=[(str(c), str(total), int(n)) for c, total, n in revenue],
    )


def _hms(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m{s % 60:02d}s"


def format_summary(summary: Summary) -> str:
    lines = [
        f"  sessions completed : {summary.sessions}"
        + (f"  (+{summary.open_sessions} still open)" if summary.open_sessions else ""),
        f"  energy delivered   : {summary.energy_wh / 1000:,.3f} kWh ({summary.energy_wh} Wh)",
        f"  mean duration      : {_hms(summary.mean_duration_s)}",
        f"  idle share         : {summary.idle_share:.1%} of plugged-in time",
    ]
    for currency, total, n in summary.revenue:
        lines.append(f"  billed (CDRs)      : {total} {currency} excl. VAT, {n} CDRs")
    lines.append("  top stations by energy:")
    for station, n, energy in summary.top_stations:
        lines.append(f"    {station:<12} {n:>4} sessions  {energy / 1000:>10,.3f} kWh")
    return "\n".join(lines)
