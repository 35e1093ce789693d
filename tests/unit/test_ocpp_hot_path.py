"""What keeps OCPP normalisation cheap, checked without a clock (timings: ``make bench``).

Each schema is compiled once per process, whatever the number of messages, and
repeating the same steady-state messages does not grow a station's context.
"""

from __future__ import annotations

from typing import Any

import pytest

import streams.core.ocpp.registry as registry_module
from bench.ocpp_stages import _messages
from streams.core.ocpp import StationContext
from tests.fixtures.ocpp.scenarios import normaliser


def test_each_schema_is_compiled_once(monkeypatch: pytest.MonkeyPatch) -> None:
    compiled: list[str] = []
    original = registry_module.compile_schema

    def counting(document: Any, name: str) -> Any:
        compiled.append(name)
        return original(document, name)

    monkeypatch.setattr(registry_module, "compile_schema", counting)
    norm = normaliser()
    context = StationContext()
    messages = list(_messages().values())
    for _ in range(20):
        for raw in messages:
            norm.normalise(raw, context)
    assert compiled, "the validators must be compiled from the official schemas"
    assert len(compiled) == len(set(compiled)), sorted(compiled)


def test_steady_state_messages_do_not_grow_the_station_context() -> None:
    norm = normaliser()
    context = StationContext()
    messages = list(_messages().values())
    for raw in messages:
        norm.normalise(raw, context)
    sizes = []
    for _ in range(3):
        for _ in range(30):
            for raw in messages:
                if b"StartTransaction" not in raw:  # a start opens a new session
                    norm.normalise(raw, context)
        sizes.append(len(context.snapshot()))
    assert sizes[0] == sizes[1] == sizes[2], sizes
