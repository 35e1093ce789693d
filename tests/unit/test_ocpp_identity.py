"""Session ids are RFC 4122 version-5 UUIDs of the documented name, whatever the text."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.core.ocpp import SESSION_NAMESPACE, session_id_for


@given(st.text(max_size=64), st.text(max_size=64), st.sampled_from(["1.6", "2.0.1"]), st.text())
def test_session_id_is_the_uuid5_of_the_name(
    tenant: str, station: str, version: str, native: str
) -> None:
    name = f"{tenant}|{station}|ocpp{version}|{native}"
    try:
        expected = str(uuid.uuid5(SESSION_NAMESPACE, name))
    except UnicodeEncodeError:  # lone surrogates: refused the same way
        with pytest.raises(UnicodeEncodeError):
            session_id_for(tenant, station, version, native)
        return
    assert session_id_for(tenant, station, version, native) == expected


def test_a_known_session_id() -> None:
    assert session_id_for("acme", "CP-T", "1.6", "17") == str(
        uuid.uuid5(SESSION_NAMESPACE, "acme|CP-T|ocpp1.6|17")
    )
