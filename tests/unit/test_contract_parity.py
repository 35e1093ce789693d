"""The pydantic contract (schemas/) and the msgspec hot path agree."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from chargewatch.errors import DecodeError
from chargewatch.replay import replay_lines
from chargewatch.simulator import SimConfig, simulate
from schemas import events as contract
from schemas.export import export_json_schemas
from schemas.session import SessionRecord
from streams.core import events as hot
from streams.core.events import decode_event, encode_event
from streams.core.record import SessionOut, encode_record

EVENT_ADAPTER: TypeAdapter[Any] = TypeAdapter(contract.ChargingEvent)
PAIRS = [
    (contract.SessionStarted, hot.SessionStarted),
    (contract.MeterSample, hot.MeterSample),
    (contract.StateChanged, hot.StateChanged),
    (contract.SessionStopped, hot.SessionStopped),
    (contract.AuthorizationResult, hot.AuthorizationResult),
]


@pytest.mark.parametrize(("model", "struct"), PAIRS)
def test_event_fields_and_tags_match(model: Any, struct: Any) -> None:
    assert set(model.model_fields) - {"type"} == set(struct.__struct_fields__)
    assert model.model_fields["type"].default == struct.__struct_config__.tag


def test_session_record_fields_match() -> None:
    assert set(SessionRecord.model_fields) == set(SessionOut.__struct_fields__)


@pytest.fixture(scope="module")
def simulated() -> Any:
    return simulate(replace(SimConfig(), stations=3, days=1.0, seed=5))


def test_every_simulated_event_is_valid_under_both(simulated: Any) -> None:
    for event in simulated.events[:2000]:
        raw = encode_event(event)
        model = EVENT_ADAPTER.validate_json(raw)
        # pydantic's own serialisation decodes back to the same hot-path event
        assert decode_event(model.model_dump_json()) == event


def test_every_replayed_record_is_a_valid_session_record(simulated: Any) -> None:
    result = replay_lines([encode_event(e) for e in simulated.events])
    assert result.sessions
    for record in result.sessions:
        parsed = SessionRecord.model_validate_json(encode_record(record))
        assert parsed.session_id == record.session_id
        assert parsed.energy_wh == record.energy_wh


_VALID = {
    "type": "meter_sample",
    "event_id": "e1",
    "station_id": "CP-1",
    "connector_id": 1,
    "session_id": "s1",
    "ts": "2026-05-04T08:00:00+02:00",
    "energy_wh": 10,
}

_MUTATIONS = st.sampled_from(
    [
        ("connector_id", -1),
        ("connector_id", 256),
        ("connector_id", "1"),
        ("energy_wh", -1),
        ("energy_wh", 1.5),
        ("ts", "2026-05-04T08:00:00"),
        ("ts", "yesterday"),
        ("station_id", ""),
        ("station_id", "x" * 65),
        ("session_id", None),
        ("type", "meter"),
        ("schema_version", 2),
        ("unknown_field", 1),
        ("soc", 101),
        ("power_w", -3),
        ("energy_wh", None),
        ("soc", 55.5),
        ("tenant", "op-7"),
        ("seq", 0),
    ]
)


@settings(max_examples=60, deadline=None)
@given(mutations=st.lists(_MUTATIONS, min_size=1, max_size=3))
def test_both_accept_and_reject_the_same_payloads(mutations: list[tuple[str, Any]]) -> None:
    payload = dict(_VALID)
    for key, value in mutations:
        payload[key] = value
    raw = json.dumps(payload).encode()
    try:
        EVENT_ADAPTER.validate_json(raw, strict=True)
        pydantic_ok = True
    except ValidationError:
        pydantic_ok = False
    try:
        decode_event(raw)
        msgspec_ok = True
    except DecodeError:
        msgspec_ok = False
    assert pydantic_ok == msgspec_ok, payload


def test_schemas_export_writes_loadable_json_schemas(tmp_path: Path) -> None:
    paths = export_json_schemas(tmp_path)
    names = sorted(p.name for p in paths)
    assert names == [
        "charging_event.schema.json",
        "dead_letter.schema.json",
        "ocpp_envelope.schema.json",
        "session_record.schema.json",
    ]
    event_schema = json.loads((tmp_path / "charging_event.schema.json").read_text())
    kinds = {ref.split("/")[-1] for ref in event_schema["discriminator"]["mapping"].values()}
    assert kinds == {"SessionStarted", "MeterSample", "StateChanged", "SessionStopped",
                     "AuthorizationResult"}  # fmt: skip
    session_schema = json.loads((tmp_path / "session_record.schema.json").read_text())
    assert {"session_id", "energy_wh", "charging_s", "idle_s"} <= set(session_schema["required"])


def test_msgspec_struct_schema_covers_the_same_properties() -> None:
    (_, components) = msgspec.json.schema_components([hot.MeterSample])
    hot_props = set(components["MeterSample"]["properties"])
    contract_props = set(contract.MeterSample.model_json_schema()["properties"])
    assert hot_props == contract_props
