"""Real public datasets -> OCPP 1.6 logs -> normaliser -> stitcher reproduces every
session's energy, duration and idle time exactly.

The real-data tests read ``<repo>/../shared/datasets`` (never copied into the
repository) and are skipped only when that shared directory is absent. The
quirk tests use small synthetic files in a temporary directory.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from chargewatch.datasets import DatasetLog, acn_office001, default_root, sap_labs_france
from chargewatch.replay import replay_lines
from streams.core.ocpp import decode_envelope
from tests.fixtures.ocpp.scenarios import normaliser

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="shared datasets are absent")


def replay(log: DatasetLog) -> tuple[dict[str, tuple[int, int, int]], Counter[str]]:
    """The log through ``chargewatch replay``'s own path (OCPP recognised from the
    records, station contexts, silence ticks), then each expected session."""
    result = replay_lines([value for _, value in log.records], normaliser=normaliser())
    assert result.rejected == []
    records = {r.session_id: r for r in result.sessions}
    got: dict[str, tuple[int, int, int]] = {}
    flags: Counter[str] = Counter()
    for expected in log.expected:
        record = records[expected.session_id]
        assert record.status == "completed", record
        got[expected.session_id] = (record.energy_wh, record.duration_s, record.idle_s)
        flags.update(record.flags)
    return got, flags


def check_exact(log: DatasetLog) -> Counter[str]:
    got, flags = replay(log)
    mismatches = [
        (e, got[e.session_id])
        for e in log.expected
        if got[e.session_id] != (e.energy_wh, e.duration_s, e.idle_s)
    ]
    assert mismatches == []
    return flags


def test_default_root_is_next_to_the_repository() -> None:
    assert default_root() == SHARED / "datasets"


@needs_shared
def test_sap_labs_france_sessions_are_reproduced_exactly() -> None:
    log = sap_labs_france()
    assert log.rows == 26823
    assert dict(log.skipped) == {
        "incomplete": 2,
        "negative_duration": 9,
        "idle_exceeds_total": 6,
        "overlapping_session": 5,
    }
    assert len(log.expected) == log.rows - sum(log.skipped.values()) == 26801
    flags = check_exact(log)
    assert set(flags) <= {"zero_energy"}  # 163 sessions with 0 Wh in the data
    assert flags["zero_energy"] == sum(1 for e in log.expected if e.energy_wh == 0)


@needs_shared
def test_acn_office001_sessions_are_reproduced_exactly() -> None:
    log = acn_office001()
    assert log.rows == 1481
    assert dict(log.skipped) == {"done_charging_unknown": 38, "done_after_disconnect": 8}
    assert len(log.expected) == 1435
    flags = check_exact(log)
    assert set(flags) <= {"zero_energy"}


@needs_shared
def test_the_log_is_time_ordered_valid_ocpp(tmp_path: Path) -> None:
    log = acn_office001()
    path = tmp_path / "acn.jsonl"
    assert log.write_jsonl(path) == len(log.records)
    envelopes = [decode_envelope(line) for line in path.read_bytes().splitlines()]
    assert {e.ocpp_version for e in envelopes} == {"1.6"}
    times = [e.received_at for e in envelopes]
    assert times == sorted(times)
    assert {e.action for e in envelopes} == {
        "StartTransaction",
        "StatusNotification",
        "MeterValues",
        "StopTransaction",
    }


# -- quirks, on small synthetic files -------------------------------------------------------

SAP_HEADER = (
    "Type Lieu de charge;ID transaction;ID borne;ID connecteur borne;Date demarrage;"
    "Charge batterie demarrage (%);Date fin;Charge batterie fin (%);"
    "Duree inactivite totale (s);Duree totale (s);Prix total;Devise prix total;"
    "Source prix total;Statut inactivit\u00e9;Consommation totale (Wh)"
)


def _sap_row(row: tuple[int, str, str, str, str, str, int]) -> str:
    tx, start, end, idle, total, wh, connector = row
    return f"Travail;{tx};ST-1;{connector};{start};0;{end};0;{idle};{total};0.1;EUR;simple;I;{wh}"


SAP_ROWS = [
    # tx, start, end, idle s, total s, Wh, connector
    (1, "2019-02-11T08:45:10+01:00", "2019-02-11T10:18:53+01:00", "600.0", "5624.0", "46739", 1),
    # the total carries milliseconds and is the truth (end - start = 3036 s here)
    (2, "2019-02-12T08:00:00+01:00", "2019-02-12T08:50:36+01:00", "100.6", "3036.5", "2867", 1),
    (3, "2019-02-13T08:00:00+01:00", "2019-02-13T09:00:00+01:00", "7200.0", "3600.0", "1", 1),
    (4, "2019-02-14T08:00:00+01:00", "2019-02-14T09:00:00+01:00", "-60.0", "3600.0", "1", 1),
    (5, "2019-02-15T08:00:00+01:00", "", "", "", "", 1),
    (6, "2019-02-11T09:00:00+01:00", "2019-02-11T09:30:00+01:00", "0.0", "1800.0", "5", 1),
    (7, "2019-02-16T08:00:00+01:00", "2019-02-16T09:00:00+01:00", "3600.0", "3600.0", "0", 1),
    (8, "2019-03-31T01:30:00+01:00", "2019-03-31T03:30:00+02:00", "0", "3600", "10", 2),
]


def test_sap_quirks(tmp_path: Path) -> None:
    rows = [_sap_row(row) for row in SAP_ROWS]
    folder = tmp_path / "sap-labs-france"
    folder.mkdir()
    (folder / "conso-ve-sap0.csv").write_text(
        "\r\n".join([SAP_HEADER, *rows]) + "\r\n", encoding="utf-8"
    )
    log = sap_labs_france(tmp_path)
    assert dict(log.skipped) == {
        "idle_exceeds_total": 1,
        "negative_duration": 1,
        "incomplete": 1,
        "overlapping_session": 1,  # tx 6 starts inside tx 1 on the same connector
    }
    expected = {e.transaction_id: (e.energy_wh, e.duration_s, e.idle_s) for e in log.expected}
    assert expected == {
        1: (46739, 5624, 600),
        2: (2867, 3037, 101),  # 3036.5 s and 100.6 s, rounded half up
        7: (0, 3600, 3600),  # idle the whole time: no Charging status at all
        8: (10, 3600, 0),  # across the DST change: aware times
    }
    check_exact(log)


def test_acn_quirks(tmp_path: Path) -> None:
    def item(n: int, conn: str, done: str | None, disc: str, kwh: float) -> dict[str, object]:
        return {
            "_id": f"id{n}",
            "connectionTime": conn,
            "doneChargingTime": done,
            "disconnectTime": disc,
            "kWhDelivered": kwh,
            "stationID": "19-102-260-1633",
            "userID": "000000022" if n == 1 else None,
        }

    items = [
        item(
            1,
            "Mon, 25 Mar 2019 16:24:42 GMT",
            "Mon, 25 Mar 2019 17:32:48 GMT",
            "Tue, 26 Mar 2019 01:32:12 GMT",
            6.966358055555555,
        ),
        item(2, "Tue, 26 Mar 2019 16:00:00 GMT", None, "Tue, 26 Mar 2019 18:00:00 GMT", 3.0),
        item(
            3,
            "Wed, 27 Mar 2019 16:00:00 GMT",
            "Wed, 27 Mar 2019 18:01:00 GMT",
            "Wed, 27 Mar 2019 18:00:00 GMT",
            3.0,
        ),
        item(
            4,
            "Thu, 28 Mar 2019 16:00:00 GMT",
            "Thu, 28 Mar 2019 16:00:00 GMT",
            "Thu, 28 Mar 2019 16:30:00 GMT",
            0.0005,
        ),
    ]
    folder = tmp_path / "acn-office001"
    folder.mkdir()
    (folder / "acn_office001_sessions.json").write_text(
        json.dumps({"_meta": {"site": "office001"}, "_items": items}), encoding="utf-8"
    )
    log = acn_office001(tmp_path)
    assert dict(log.skipped) == {"done_charging_unknown": 1, "done_after_disconnect": 1}
    expected = [(e.energy_wh, e.duration_s, e.idle_s) for e in log.expected]
    assert expected == [(6966, 32850, 28764), (1, 1800, 1800)]  # 0.0005 kWh -> 0.5 Wh -> 1
    check_exact(log)
