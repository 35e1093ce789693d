"""Tariff management (versions, validity, assignments) and CDRs in the stitcher."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from chargewatch.replay import file_pricer
from chargewatch.settings import PricingSettings
from chargewatch.tariffs import TariffFileError, parse_tariff_file
from schemas.tariff import read_tariff
from streams.core import Stitcher
from streams.core.session_pricing import SessionPricer
from streams.core.tariff_book import TariffBook, TariffRef
from tests.factories import T0, sample, started, state, stopped


def tariff(tid: str, price: str, updated: str, **extra: Any) -> dict[str, Any]:
    return {
        "country_code": "NL", "party_id": "CWT", "id": tid, "currency": "EUR",
        "last_updated": updated,
        "elements": [{"price_components": [
            {"type": "ENERGY", "price": price, "step_size": 1},
            {"type": "PARKING_TIME", "price": "1.20", "step_size": 1},
        ]}],
        **extra,
    }  # fmt: skip


def ms(text: str) -> int:
    return round(datetime.fromisoformat(text).timestamp() * 1000)


def book_with(*tariffs: dict[str, Any], assignments: list[dict[str, Any]]) -> TariffBook:
    book = TariffBook()
    raw = json.dumps({"tariffs": list(tariffs), "assignments": assignments}).encode()
    for key, value in parse_tariff_file(raw):
        book.apply(key, value)
    return book


def test_most_specific_assignment_wins() -> None:
    book = book_with(
        tariff("D", "0.10", "2026-01-01T00:00:00Z"),
        tariff("S", "0.20", "2026-01-01T00:00:00Z"),
        tariff("C", "0.30", "2026-01-01T00:00:00Z"),
        assignments=[
            {"tariff_id": "D"},
            {"tariff_id": "S", "station_id": "CP-1"},
            {"tariff_id": "C", "station_id": "CP-1", "connector_id": 2},
        ],
    )
    at = ms("2026-05-01T00:00:00+00:00")
    assert book.resolve("CP-1", 2, at) == TariffRef("C", ms("2026-01-01T00:00:00+00:00"))
    assert book.resolve("CP-1", 1, at).tariff_id == "S"  # type: ignore[union-attr]
    assert book.resolve("CP-9", 1, at).tariff_id == "D"  # type: ignore[union-attr]
    book.apply("assign|default", None)  # tombstone
    assert book.resolve("CP-9", 1, at) is None


def test_newest_version_published_before_the_start_and_valid_then() -> None:
    book = book_with(
        tariff("T", "0.10", "2026-01-01T00:00:00Z"),
        tariff("T", "0.20", "2026-03-01T00:00:00Z"),
        tariff("T", "0.30", "2026-06-01T00:00:00Z", end_date_time="2026-07-01T00:00:00Z"),
        assignments=[{"tariff_id": "T"}],
    )
    version = lambda when: book.resolve("X", 1, ms(when)).version_ms  # type: ignore[union-attr]  # noqa: E731
    assert version("2026-02-01T00:00:00+00:00") == ms("2026-01-01T00:00:00+00:00")
    assert version("2026-05-01T00:00:00+00:00") == ms("2026-03-01T00:00:00+00:00")
    assert version("2026-06-15T00:00:00+00:00") == ms("2026-06-01T00:00:00+00:00")
    # after the newest version's validity ends, the previous version applies again
    assert version("2026-07-15T00:00:00+00:00") == ms("2026-03-01T00:00:00+00:00")
    assert book.resolve("X", 1, ms("2025-12-01T00:00:00+00:00")) is None  # nothing yet


def test_bad_tariff_files_are_refused_before_anything_is_published() -> None:
    with pytest.raises(TariffFileError):
        parse_tariff_file(b'{"tariffs": [{"id": "x"}]}')
    with pytest.raises(TariffFileError):
        parse_tariff_file(b"not json")
    bad_zone = {"tariffs": [], "stations": [{"station_id": "A", "time_zone": "Mars/Base"}]}
    with pytest.raises(TariffFileError):
        parse_tariff_file(json.dumps(bad_zone).encode())


def priced_stitcher(price: str = "0.25") -> Stitcher:
    book = TariffBook()
    book.add(read_tariff(tariff("T", price, "2026-01-01T00:00:00Z")))
    book.apply("assign|default", orjson.dumps({"tariff_id": "T"}))
    return Stitcher(update_interval_s=300, pricer=SessionPricer(book))


def session() -> list[Any]:
    return [
        started("p", 0, meter=0),
        state("p", 0, "charging"),
        sample("p", 1800, 10_000),
        state("p", 1800, "suspended_ev"),
        stopped("p", 3600, meter=10_000),
    ]


def test_final_record_carries_the_cost_and_one_cdr_is_issued() -> None:
    stitcher = priced_stitcher()
    records = [r for e in session() if (r := stitcher.apply(e)) is not None]
    final = records[-1]
    # 10 kWh x 0.25 + 0.5 h parking x 1.20
    assert final.total_cost == {"excl_vat": "3.1000", "incl_vat": None}
    assert final.currency == "EUR" and final.tariff_id == "T"
    [cdr] = stitcher.cdrs_out
    assert cdr.total_cost.excl_vat == Decimal("3.1000") and not cdr.credit
    assert cdr.total_energy == Decimal("10") and cdr.session_id == "p"
    # provisional cost while open
    assert records[1].total_cost is not None and records[0].status == "active"


def test_a_session_longer_than_a_year_is_flagged_not_priced() -> None:
    """Its length is a clock glitch; pricing it would cut a period per local day
    over the span (centuries, for a timestamp in year 9999)."""
    day = 24 * 3600
    for days, priced in ((300, True), (400, False)):
        stitcher = priced_stitcher()
        events = [started("p", 0, meter=0), sample("p", 1800, 10_000)]
        events.append(stopped("p", days * day, meter=10_000))
        final = [r for e in events if (r := stitcher.apply(e)) is not None][-1]
        assert final.status == "completed"
        assert (final.total_cost is not None) is priced, days
        assert ("too_long_to_price" in final.flags) is not priced, days
        assert len(stitcher.cdrs_out) == int(priced), days


def test_a_late_event_that_changes_the_price_issues_one_credit_and_one_new_cdr() -> None:
    stitcher = priced_stitcher()
    for e in session():
        stitcher.apply(e)
    first = stitcher.cdrs_out.pop()
    # the charger's queued "EV full" status: parking from 20 minutes earlier
    late = state("p", 1200, "suspended_ev")
    correction = stitcher.apply(late)
    assert correction is not None and correction.correction
    credit, new = stitcher.cdrs_out
    assert credit.credit and credit.credit_reference_id == first.id
    assert credit.total_cost.excl_vat == -first.total_cost.excl_vat
    assert not new.credit and new.id != first.id
    # 10 kWh x 0.25 + 40 min parking x 1.20/h
    assert new.total_cost.excl_vat == Decimal("3.3000")
    assert correction.total_cost == {"excl_vat": "3.3000", "incl_vat": None}
    stitcher.cdrs_out.clear()
    assert stitcher.apply(late) is None and stitcher.cdrs_out == []  # redelivery: nothing


def test_a_correction_that_changes_nothing_billable_issues_no_cdr() -> None:
    stitcher = priced_stitcher()
    for e in session():
        stitcher.apply(e)
    stitcher.cdrs_out.clear()
    # a late reading on the straight line changes nothing: no record, no CDR
    late = sample("p", 900, 5_000)
    assert stitcher.apply(late) is None
    # a late power reading changes the record (peak power), not the price
    correction = stitcher.apply(sample("p", 950, 5_300, power=22_000))
    assert correction is not None and correction.correction
    assert stitcher.cdrs_out == []


def test_a_price_change_never_reaches_a_running_session() -> None:
    book = TariffBook()
    book.add(read_tariff(tariff("T", "0.25", "2026-01-01T00:00:00Z")))
    book.apply("assign|default", orjson.dumps({"tariff_id": "T"}))
    stitcher = Stitcher(update_interval_s=300, pricer=SessionPricer(book))
    events = session()
    for e in events[:3]:
        stitcher.apply(e)
    raise_at = T0.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    book.add(read_tariff(tariff("T", "0.99", raise_at)))  # published mid-session
    for e in events[3:]:
        stitcher.apply(e)
    assert stitcher.cdrs_out[-1].total_cost.excl_vat == Decimal("3.1000")


def test_file_pricer_takes_a_plain_ocpi_tariff(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps(tariff("T", "0.25", "2030-01-01T00:00:00Z")))
    pricer = file_pricer(path, "Europe/Paris", PricingSettings())
    stitcher = Stitcher(update_interval_s=300, pricer=pricer)
    for e in session():  # sessions in 2026, a tariff published in 2030: backdated
        stitcher.apply(e)
    assert stitcher.cdrs_out[-1].total_cost.excl_vat == Decimal("3.1000")
