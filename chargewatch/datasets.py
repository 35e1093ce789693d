"""Real public session datasets as OCPP 1.6 message logs, with what they should give.

Two session-level datasets live in the shared data directory (read from there,
never copied into the repository; see each folder's PROVENANCE.md):

* SAP Labs France (``sap-labs-france/conso-ve-sap0.csv``): start, end, total
  seconds, idle seconds, Wh per transaction, per station and connector.
* Caltech ACN-Data, site office001 (``acn-office001/acn_office001_sessions.json``):
  connectionTime, doneChargingTime, disconnectTime, kWhDelivered per EVSE.

Each usable session becomes the OCPP 1.6 traffic a charger would have sent --
StartTransaction (with its conf and a transaction id), StatusNotification
Charging at the start, a MeterValues reading and StatusNotification SuspendedEV
when charging ended, StopTransaction with ``meterStop = meterStart + Wh`` --
as ``ocpp.messages`` envelopes (key = station id) in chronological order, and
the session's expected ``(energy_wh, duration_s, idle_s)`` straight from the
dataset. The registers run on per connector (each session starts where the
previous one stopped), as errata 3.77 asks of real meters.

Decisions on the data:

* SAP, duration: ``Duree totale (s)`` is the truth, not ``Date fin - Date
  demarrage``. The start/end columns are truncated to whole seconds while the
  total carries sub-second values in 458 rows, which explains the +-1 s
  differences in 887 rows; the idle seconds are measured against the total.
  The Stop is stamped ``start + round(total)``. Rows whose end disagrees with
  start + total by more than 2 s are skipped (``end_mismatch``; none today).
* Seconds: durations and idle times are rounded half up to whole seconds
  (``Decimal``), and the generated timestamps are whole seconds, so the
  expected values are exactly the dataset's, rounded once.
* Energy: SAP Wh are integers. ACN kWh are floats (some with float noise, e.g.
  6.966358055555555): Wh = ``Decimal(repr(kWh)) * 1000`` rounded half up.
* Charging ends (SuspendedEV) at ``start + total - idle`` (SAP) or at
  ``doneChargingTime`` (ACN); no Charging status when there was no charging
  time, no SuspendedEV when there was no idle time.
* Skipped, with a count per reason: rows without an end (``incomplete``),
  negative total or idle (``negative_duration``), idle longer than the session
  (``idle_exceeds_total``), ACN sessions without ``doneChargingTime``
  (``done_charging_unknown``: the idle time is unknown, not zero) or with it
  after the disconnect (``done_after_disconnect``) or before the connection
  (``done_before_connection``), and sessions overlapping an earlier one on the
  same connector (``overlapping_session``: one connector cannot run two
  transactions; which row is wrong is unknowable).
* Transaction ids: SAP's ``ID transaction``; ACN has none that fits an OCPP 1.6
  integer, so sessions are numbered 1..n in order of connection time.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import msgspec

from streams.core.ocpp.identity import session_id_for

__all__ = [
    "DatasetLog",
    "ExpectedSession",
    "acn_office001",
    "default_root",
    "sap_labs_france",
]

SAP_TENANT = "sap-labs-france"
ACN_TENANT = "acn-office001"
_REGISTER_BASE_WH = 100_000
_encoder = msgspec.json.Encoder()


def default_root() -> Path:
    """``<repo>/../shared/datasets``."""
    return Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


@dataclass(frozen=True)
class ExpectedSession:
    """What the dataset says about one session."""

    tenant: str
    station_id: str
    transaction_id: int
    energy_wh: int
    duration_s: int
    idle_s: int

    @property
    def session_id(self) -> str:
        return session_id_for(self.tenant, self.station_id, "1.6", str(self.transaction_id))


@dataclass
class DatasetLog:
    """OCPP 1.6 envelopes for a dataset, and the sessions they should produce."""

    name: str
    records: list[tuple[str, bytes]]  # (key = station id, value = envelope JSON), in time order
    expected: list[ExpectedSession]
    rows: int  # sessions in the dataset
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> sessions

    def write_jsonl(self, path: Path) -> int:
        """Write the envelopes as JSON lines; return how many."""
        with path.open("wb") as handle:
            for _, value in self.records:
                handle.write(value + b"\n")
        return len(self.records)


@dataclass(frozen=True)
class _Plan:
    station_id: str
    connector_id: int
    transaction_id: int
    start: datetime  # aware
    duration_s: int
    idle_s: int
    energy_wh: int
    id_tag: str


def _round_s(value: Decimal) -> int:
    return int(value.to_integral_value(ROUND_HALF_UP))


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _envelope(
    tenant: str, plan: _Plan, step: int, action: str, *, at: datetime, request: Any, response: Any
) -> bytes:
    return _encoder.encode(
        {
            "station_id": plan.station_id,
            "ocpp_version": "1.6",
            "message_id": f"{plan.transaction_id}-{step}",
            "action": action,
            "received_at": _stamp(at),
            "request": request,
            "response": response,
            "tenant": tenant,
        }
    )


def _messages(
    tenant: str, plan: _Plan, meter_start: int, *, kwh_readings: bool
) -> list[tuple[datetime, int, bytes]]:
    """(time, step, envelope) of one session."""
    charging_s = plan.duration_s - plan.idle_s
    start, charged, stop = (
        plan.start,
        plan.start + timedelta(seconds=charging_s),
        plan.start + timedelta(seconds=plan.duration_s),
    )
    meter_stop = meter_start + plan.energy_wh
    tx, connector = plan.transaction_id, plan.connector_id
    out = [
        (
            start,
            0,
            _envelope(
                tenant,
                plan,
                0,
                "StartTransaction",
                at=start,
                request={
                    "connectorId": connector,
                    "idTag": plan.id_tag,
                    "meterStart": meter_start,
                    "timestamp": _stamp(start),
                },
                response={"transactionId": tx, "idTagInfo": {"status": "Accepted"}},
            ),
        )
    ]
    if charging_s > 0:
        out.append((start, 1, _status(tenant, plan, 1, start, "Charging")))
    value = f"{Decimal(meter_stop) / 1000:.3f}" if kwh_readings else str(meter_stop)
    reading = {
        "value": value,
        "context": "Sample.Periodic",
        "measurand": "Energy.Active.Import.Register",
        "unit": "kWh" if kwh_readings else "Wh",
    }
    meter_values = {
        "connectorId": connector,
        "transactionId": tx,
        "meterValue": [{"timestamp": _stamp(charged), "sampledValue": [reading]}],
    }
    meter_message = _envelope(
        tenant, plan, 2, "MeterValues", at=charged, request=meter_values, response={}
    )
    out.append((charged, 2, meter_message))
    if plan.idle_s > 0:
        out.append((charged, 3, _status(tenant, plan, 3, charged, "SuspendedEV")))
    stop_request = {
        "transactionId": tx,
        "idTag": plan.id_tag,
        "meterStop": meter_stop,
        "timestamp": _stamp(stop),
        "reason": "EVDisconnected",
    }
    stop_message = _envelope(
        tenant, plan, 4, "StopTransaction", at=stop, request=stop_request, response={}
    )
    out.append((stop, 4, stop_message))
    return out


def _status(tenant: str, plan: _Plan, step: int, at: datetime, status: str) -> bytes:
    request = {
        "connectorId": plan.connector_id,
        "errorCode": "NoError",
        "status": status,
        "timestamp": _stamp(at),
    }
    return _envelope(tenant, plan, step, "StatusNotification", at=at, request=request, response={})


def _build(
    name: str, tenant: str, plans: list[_Plan], rows: int, skipped: Counter[str], *, kwh: bool
) -> DatasetLog:
    """Drop overlapping sessions, run the registers, order all messages by time."""
    plans = sorted(plans, key=lambda p: (p.station_id, p.connector_id, p.start, p.transaction_id))
    registers: dict[tuple[str, int], int] = {}
    busy_until: dict[tuple[str, int], datetime] = {}
    timed: list[tuple[datetime, int, int, str, bytes]] = []
    expected: list[ExpectedSession] = []
    for plan in plans:
        connector = (plan.station_id, plan.connector_id)
        if connector in busy_until and plan.start < busy_until[connector]:
            skipped["overlapping_session"] += 1
            continue
        busy_until[connector] = plan.start + timedelta(seconds=plan.duration_s)
        meter_start = registers.get(connector, _REGISTER_BASE_WH)
        registers[connector] = meter_start + plan.energy_wh
        ordinal = len(expected)
        for at, step, value in _messages(tenant, plan, meter_start, kwh_readings=kwh):
            timed.append((at, ordinal, step, plan.station_id, value))
        expected.append(
            ExpectedSession(
                tenant=tenant,
                station_id=plan.station_id,
                transaction_id=plan.transaction_id,
                energy_wh=plan.energy_wh,
                duration_s=plan.duration_s,
                idle_s=plan.idle_s,
            )
        )
    # Time order; within one instant, earlier sessions first (a stop at t before
    # the next start at t on the same connector).
    timed.sort(key=lambda row: (row[0], row[1], row[2]))
    records = [(station, value) for _, _, _, station, value in timed]
    return DatasetLog(name, records, expected, rows, skipped)


def sap_labs_france(root: Path | None = None) -> DatasetLog:
    """The SAP Labs France transactions as an OCPP 1.6 log (see the module docstring)."""
    path = (root or default_root()) / "sap-labs-france" / "conso-ve-sap0.csv"
    skipped: Counter[str] = Counter()
    plans: list[_Plan] = []
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter=";"))
    for row in rows:
        reason, plan = _sap_plan(row)
        if plan is None:
            skipped[reason] += 1
        else:
            plans.append(plan)
    return _build("sap-labs-france", SAP_TENANT, plans, len(rows), skipped, kwh=False)


def _sap_plan(row: dict[str, str]) -> tuple[str, _Plan | None]:
    needed = ("Date fin", "Duree totale (s)", "Duree inactivite totale (s)")
    if not all(row[column] for column in (*needed, "Consommation totale (Wh)")):
        return "incomplete", None
    try:
        start = datetime.fromisoformat(row["Date demarrage"])
        end = datetime.fromisoformat(row["Date fin"])
        total = Decimal(row["Duree totale (s)"])
        idle = Decimal(row["Duree inactivite totale (s)"])
        energy_wh = int(row["Consommation totale (Wh)"])
        connector = int(row["ID connecteur borne"])
        transaction_id = int(row["ID transaction"])
    except (ValueError, InvalidOperation):
        return "unparseable", None
    problem = _sap_problem(start, end, total, idle, energy_wh)
    if problem:
        return problem, None
    plan = _Plan(
        station_id=row["ID borne"],
        connector_id=connector,
        transaction_id=transaction_id,
        start=start,
        duration_s=_round_s(total),
        idle_s=_round_s(idle),
        energy_wh=energy_wh,
        id_tag="SAP-BADGE",
    )
    return "", plan


def _sap_problem(
    start: datetime, end: datetime, total: Decimal, idle: Decimal, energy_wh: int
) -> str:
    """Why a SAP row cannot be used ("" when it can)."""
    if start.tzinfo is None or end.tzinfo is None or energy_wh < 0 or not total.is_finite():
        return "unparseable"
    if total < 0 or idle < 0:
        return "negative_duration"
    if idle > total:
        return "idle_exceeds_total"
    if abs(Decimal((end - start).total_seconds()) - total) > 2:
        return "end_mismatch"
    return ""


def acn_office001(root: Path | None = None) -> DatasetLog:
    """The ACN-Data office001 sessions as an OCPP 1.6 log (see the module docstring)."""
    path = (root or default_root()) / "acn-office001" / "acn_office001_sessions.json"
    items: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["_items"]
    items = sorted(items, key=lambda i: (parsedate_to_datetime(i["connectionTime"]), i["_id"]))
    skipped: Counter[str] = Counter()
    plans: list[_Plan] = []
    for number, item in enumerate(items, start=1):
        reason, plan = _acn_plan(item, number)
        if plan is None:
            skipped[reason] += 1
        else:
            plans.append(plan)
    return _build("acn-office001", ACN_TENANT, plans, len(items), skipped, kwh=True)


def _acn_problem(connected: datetime, done: datetime, disconnected: datetime, kwh: Any) -> str:
    """Why an ACN session cannot be used ("" when it can)."""
    if not isinstance(kwh, int | float) or isinstance(kwh, bool) or kwh < 0:
        return "invalid_energy"
    if disconnected < connected:
        return "negative_duration"
    if done < connected:
        return "done_before_connection"
    if done > disconnected:
        return "done_after_disconnect"
    return ""


def _acn_plan(item: dict[str, Any], transaction_id: int) -> tuple[str, _Plan | None]:
    if item.get("doneChargingTime") is None:
        return "done_charging_unknown", None
    connected = parsedate_to_datetime(item["connectionTime"])
    done = parsedate_to_datetime(item["doneChargingTime"])
    disconnected = parsedate_to_datetime(item["disconnectTime"])
    kwh = item.get("kWhDelivered")
    problem = _acn_problem(connected, done, disconnected, kwh)
    if problem:
        return problem, None
    energy_wh = int((Decimal(repr(kwh)) * 1000).to_integral_value(ROUND_HALF_UP))
    user = item.get("userID")
    plan = _Plan(
        station_id=item["stationID"],
        connector_id=1,
        transaction_id=transaction_id,
        start=connected,
        duration_s=round((disconnected - connected).total_seconds()),
        idle_s=round((disconnected - done).total_seconds()),
        energy_wh=energy_wh,
        id_tag=f"ACN{user}"[:20] if user else "ACN-GUEST",
    )
    return "", plan
