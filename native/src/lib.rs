//! chargewatch's compiled fast path for OCPP 1.6 `MeterValues.req`.
//!
//! Nine in ten messages of a charging network are MeterValues, and the Python
//! normaliser spends most of its time on them: the compiled-schema decode, one
//! datetime per meterValue and the reduction of the sampled values
//! (`streams/core/ocpp/meter.py`). This module does that work for the common
//! shape of the message, and *defers* everything else to Python.
//!
//! The contract (kept by `tests/unit/test_native_meter_values.py`, which runs
//! both paths on every dataset message and on mutated ones):
//!
//! * `meter_values_v16(request)` returns `None` -- defer -- unless the request
//!   is valid against the official 1.6 schema *and* lies inside the subset
//!   written out below; then it returns what the Python path computes:
//!   `(connector_id, transaction_id or None, [(epoch_ms, energy_wh, power_w, soc), ...])`,
//!   one row per meterValue that reports energy, power or SoC.
//! * `meter_values_envelope_v16(value)` does the same for a whole
//!   `ocpp.messages` value (bytes), its envelope checked as Python's
//!   `decode_envelope` checks it, and returns the station id and tenant too;
//!   `None` for every other action and version. The worker and the replay try
//!   it first, and skip the envelope decode for the values it takes.
//! * Neither accepts what the Python path rejects, nor gives a different
//!   reading. Deferring is always safe: Python then decodes the value again and
//!   gives the precise result or dead-letter reason.
//!
//! Deferred (Python handles them): JSON strings with escapes, an array where
//! the schema has an object (serde's derived structs would take it), timestamps other
//! than `YYYY-MM-DDTHH:MM:SS[.fff](Z|+HH:MM|-HH:MM)`, values that are not plain
//! ASCII fixed-point text (signs, exponents, 24 characters or more), an SoC that
//! is not plain fixed-point text, and energy or power read at a phase or at a location other
//! than the Outlet (those need the phase and location rules of `_combine`).

mod fold;
mod lane;
mod lines;

use std::fmt;
use std::marker::PhantomData;

use pyo3::buffer::PyBuffer;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use serde::de::value::MapAccessDeserializer;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// `streams.core.ocpp.meter._MAX`: larger readings are not usable.
const MAX: u128 = 1_000_000_000_000_000;

/// An optional schema field: absent is `None`, but JSON `null` is an error
/// (no OCPP field is nullable, and msgspec rejects it too).
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// A JSON object decoded as `T`. serde's derived structs also take a JSON array
/// of their fields in order; the schemas say object, and Python rejects an array.
struct Obj<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectOnly<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectOnly<T> {
            type Value = T;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }
        deserializer
            .deserialize_map(ObjectOnly(PhantomData))
            .map(Obj)
    }
}

// The schema's enums. Values we do not distinguish share a variant through
// aliases; a string outside the enum fails to decode, and so defers.

#[derive(Deserialize, Clone, Copy, PartialEq)]
enum Context {
    #[serde(rename = "Other")]
    Other,
    #[serde(
        rename = "Sample.Periodic",
        alias = "Interruption.Begin",
        alias = "Interruption.End",
        alias = "Sample.Clock",
        alias = "Transaction.Begin",
        alias = "Transaction.End",
        alias = "Trigger"
    )]
    Usable,
}

#[derive(Deserialize, Clone, Copy, PartialEq)]
enum Format {
    Raw,
    SignedData,
}

#[derive(Deserialize, Clone, Copy, PartialEq)]
enum Measurand {
    #[serde(rename = "Energy.Active.Import.Register")]
    Energy,
    #[serde(rename = "Power.Active.Import")]
    Power,
    #[serde(rename = "SoC")]
    Soc,
    #[serde(
        rename = "Energy.Active.Export.Register",
        alias = "Energy.Reactive.Export.Register",
        alias = "Energy.Reactive.Import.Register",
        alias = "Energy.Active.Export.Interval",
        alias = "Energy.Active.Import.Interval",
        alias = "Energy.Reactive.Export.Interval",
        alias = "Energy.Reactive.Import.Interval",
        alias = "Power.Active.Export",
        alias = "Power.Offered",
        alias = "Power.Reactive.Export",
        alias = "Power.Reactive.Import",
        alias = "Power.Factor",
        alias = "Current.Import",
        alias = "Current.Export",
        alias = "Current.Offered",
        alias = "Voltage",
        alias = "Frequency",
        alias = "Temperature",
        alias = "RPM"
    )]
    Ignored,
}

#[derive(Deserialize, Clone, Copy, PartialEq)]
#[allow(non_camel_case_types)]
enum Unit {
    Wh,
    kWh,
    W,
    kW,
    Percent,
    // The MeterValues schema's unit list includes Hertz (the registry keeps it).
    #[serde(
        rename = "varh",
        alias = "kvarh",
        alias = "VA",
        alias = "kVA",
        alias = "var",
        alias = "kvar",
        alias = "A",
        alias = "V",
        alias = "K",
        alias = "Celcius",
        alias = "Celsius",
        alias = "Fahrenheit",
        alias = "Hertz"
    )]
    Ignored,
}

#[derive(Deserialize, Clone, Copy)]
enum Phase {
    #[serde(
        rename = "L1",
        alias = "L2",
        alias = "L3",
        alias = "N",
        alias = "L1-N",
        alias = "L2-N",
        alias = "L3-N",
        alias = "L1-L2",
        alias = "L2-L3",
        alias = "L3-L1"
    )]
    Any,
}

#[derive(Deserialize, Clone, Copy, PartialEq)]
enum Location {
    Outlet,
    #[serde(rename = "Inlet", alias = "Cable", alias = "EV", alias = "Body")]
    Elsewhere,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SampledValue<'a> {
    value: &'a str,
    #[serde(default, deserialize_with = "present")]
    context: Option<Context>,
    #[serde(default, deserialize_with = "present")]
    format: Option<Format>,
    #[serde(default, deserialize_with = "present")]
    measurand: Option<Measurand>,
    #[serde(default, deserialize_with = "present")]
    phase: Option<Phase>,
    #[serde(default, deserialize_with = "present")]
    location: Option<Location>,
    #[serde(default, deserialize_with = "present")]
    unit: Option<Unit>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MeterValue<'a> {
    timestamp: &'a str,
    #[serde(borrow, rename = "sampledValue")]
    sampled_value: Vec<Obj<SampledValue<'a>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request<'a> {
    #[serde(rename = "connectorId")]
    connector_id: i64,
    #[serde(rename = "transactionId", default, deserialize_with = "present")]
    transaction_id: Option<i64>,
    #[serde(borrow, rename = "meterValue")]
    meter_value: Vec<Obj<MeterValue<'a>>>,
}

/// A `MeterValues.conf`: it has no fields.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoFields {}

/// `streams.core.ocpp.envelope.OcppEnvelope` (the `ocpp.messages` contract) of
/// a 1.6 MeterValues: its request decoded, not kept raw, and its response absent,
/// `null` or `{}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope<'a> {
    station_id: &'a str,
    ocpp_version: &'a str,
    message_id: &'a str,
    action: &'a str,
    received_at: &'a str,
    #[serde(borrow)]
    request: Obj<Request<'a>>,
    // Only checked: a MeterValues.conf says nothing the projection needs.
    #[serde(default)]
    #[allow(dead_code)]
    response: Option<Obj<NoFields>>,
    #[serde(borrow, default)]
    tenant: Option<&'a str>,
    #[serde(default, deserialize_with = "present")]
    schema_version: Option<u8>,
}

/// One meterValue's reading: (epoch ms, Wh, W, SoC percent).
pub(crate) type Row = (i64, Option<u64>, Option<u64>, Option<f64>);

fn two(b: &[u8], at: usize) -> Option<u32> {
    let (hi, lo) = (b[at], b[at + 1]);
    if hi.is_ascii_digit() && lo.is_ascii_digit() {
        Some(u32::from((hi - b'0') * 10 + (lo - b'0')))
    } else {
        None
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// Epoch ms of an RFC 3339 time with an explicit offset and at most ms
/// precision -- exact, as `epoch_ms(utc(datetime))` is for such times. `None`
/// (defer) for any other shape, and for years outside 1971..=9998, so that the
/// offset never carries a time outside what Python's datetime holds.
fn epoch_ms(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let year = i64::from(two(b, 0)? * 100 + two(b, 2)?);
    let (month, day) = (two(b, 5)?, two(b, 8)?);
    let (hour, minute, second) = (two(b, 11)?, two(b, 14)?, two(b, 17)?);
    if !(1971..=9998).contains(&year)
        || !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let mut at = 19;
    let mut millis = 0u32;
    if b[at] == b'.' {
        let digits = b[at + 1..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if !(1..=3).contains(&digits) {
            return None; // sub-ms precision: Python rounds a float, leave it to Python
        }
        for &c in &b[at + 1..at + 1 + digits] {
            millis = millis * 10 + u32::from(c - b'0');
        }
        millis *= 10u32.pow(3 - digits as u32);
        at += 1 + digits;
    }
    let offset_minutes = match &b[at..] {
        [b'Z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (oh, om) = (two(b, at + 1)?, two(b, at + 4)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let minutes = i64::from(oh * 60 + om);
            if *sign == b'-' {
                -minutes
            } else {
                minutes
            }
        }
        _ => return None,
    };
    let seconds = days_from_civil(year, month, day) * 86_400
        + i64::from(hour * 3600 + minute * 60 + second)
        - offset_minutes * 60;
    Some(seconds * 1000 + i64::from(millis))
}

/// `(digits, decimals)` of plain ASCII fixed-point text of at most `max_digits`
/// digits (`"12.5"` -> `(125, 1)`, also `".5"` and `"5."`), the split Python's
/// `meter` module makes at the first dot; `None` for any other text.
fn fixed_digits(text: &str, max_digits: usize) -> Option<(u128, u32)> {
    let b = text.as_bytes();
    let (whole, fraction) = match b.iter().position(|&c| c == b'.') {
        Some(dot) => (&b[..dot], &b[dot + 1..]),
        None => (b, &b[b.len()..]),
    };
    let count = whole.len() + fraction.len();
    if count == 0 || count > max_digits {
        return None;
    }
    let mut digits: u128 = 0; // up to 30 digits: below u128's 38
    for &c in whole.iter().chain(fraction) {
        if !c.is_ascii_digit() {
            return None;
        }
        digits = digits * 10 + u128::from(c - b'0');
    }
    Some((digits, fraction.len() as u32))
}

/// `meter._text_number(text, exponent)` for plain ASCII fixed-point text:
/// `Some(Some(n))` a usable number, `Some(None)` unusable (above `MAX`),
/// `None` defer (any other text, which Python parses with `Decimal`).
fn fixed_point(text: &str, exponent: u32) -> Option<Option<u64>> {
    if text.len() >= 24 {
        return None;
    }
    let (digits, decimals) = fixed_digits(text, 23)?;
    let result = if decimals > exponent {
        let divisor = 10u128.pow(decimals - exponent);
        let (quotient, remainder) = (digits / divisor, digits % divisor);
        quotient + u128::from(2 * remainder >= divisor) // half up
    } else {
        digits * 10u128.pow(exponent - decimals)
    };
    Some(if result <= MAX {
        Some(result as u64)
    } else {
        None
    })
}

/// `meter._soc(text, 0)`: `Some(Some(percent))`, `Some(None)` unusable (above
/// 100), `None` defer. Python reads 1-3 digits with `float()` and other plain
/// fixed-point text as `digits / 10**decimals` (correctly rounded); the division
/// here is the same correctly rounded IEEE division, because both operands are
/// exact doubles (digits below 2^53, at most 22 decimals); beyond that, defer.
fn soc(text: &str) -> Option<Option<f64>> {
    let (digits, decimals) = fixed_digits(text, 30)?;
    if digits >= 1 << 53 || decimals > 22 {
        return None;
    }
    #[allow(clippy::cast_precision_loss)] // exact: below 2^53
    let mut value = digits as f64;
    if decimals > 0 {
        value /= 10f64.powi(decimals as i32); // 10^22 and below are exact doubles
    }
    Some(if value <= 100.0 { Some(value) } else { None })
}

enum Kind {
    Energy(u32),
    Power(u32),
    Soc,
}

/// `meter.reading_v16` of one meterValue; `None` defers.
fn reading(sampled: &[Obj<SampledValue<'_>>]) -> Option<(Option<u64>, Option<u64>, Option<f64>)> {
    let (mut energy, mut power, mut state_of_charge) = (None::<u64>, None::<u64>, None::<f64>);
    for Obj(sv) in sampled {
        let kind = match (sv.measurand, sv.unit) {
            (None | Some(Measurand::Energy), None | Some(Unit::Wh)) => Kind::Energy(0),
            (None | Some(Measurand::Energy), Some(Unit::kWh)) => Kind::Energy(3),
            (Some(Measurand::Power), None | Some(Unit::W)) => Kind::Power(0),
            (Some(Measurand::Power), Some(Unit::kW)) => Kind::Power(3),
            (Some(Measurand::Soc), None | Some(Unit::Percent)) => Kind::Soc,
            _ => continue, // not a measurand we keep, or not in a unit of it
        };
        if sv.context == Some(Context::Other) || sv.format == Some(Format::SignedData) {
            continue;
        }
        let (exponent, is_energy) = match kind {
            Kind::Soc => {
                if let Some(value) = soc(sv.value)? {
                    state_of_charge = Some(value); // the last one wins, as in Python
                }
                continue;
            }
            Kind::Energy(exponent) => (exponent, true),
            Kind::Power(exponent) => (exponent, false),
        };
        let Some(number) = fixed_point(sv.value, exponent)? else {
            continue;
        };
        if sv.phase.is_some() || sv.location == Some(Location::Elsewhere) {
            return None; // phases and Inlet readings: Python's _combine
        }
        let slot = if is_energy { &mut energy } else { &mut power };
        *slot = Some(slot.map_or(number, |seen| seen.max(number)));
    }
    Some((energy, power, state_of_charge))
}

type Projected = (i64, Option<i64>, Vec<Row>);

fn project(request: &Request<'_>) -> Option<Projected> {
    if request.meter_value.is_empty() {
        return None; // minItems 1
    }
    let mut rows = Vec::with_capacity(request.meter_value.len());
    for Obj(mv) in &request.meter_value {
        if mv.sampled_value.is_empty() {
            return None; // minItems 1
        }
        let ms = epoch_ms(mv.timestamp)?;
        let (energy, power, state_of_charge) = reading(&mv.sampled_value)?;
        if energy.is_some() || power.is_some() || state_of_charge.is_some() {
            rows.push((ms, energy, power, state_of_charge));
        }
    }
    Some((request.connector_id, request.transaction_id, rows))
}

/// The projection of one OCPP 1.6 MeterValues request (JSON bytes or any
/// buffer, such as `msgspec.Raw`), or `None` to let Python decide.
#[pyfunction]
fn meter_values_v16(request: &Bound<'_, PyAny>) -> PyResult<Option<Projected>> {
    let buffer = PyBuffer::<u8>::get(request)?;
    if !buffer.is_c_contiguous() {
        return Ok(None);
    }
    // SAFETY: the buffer is C-contiguous, of u8, and held (so neither freed nor
    // resized) until `buffer` drops at the end of this function; the GIL is
    // held throughout, so no Python code can write to it meanwhile.
    let raw =
        unsafe { std::slice::from_raw_parts(buffer.buf_ptr() as *const u8, buffer.len_bytes()) };
    let projected = serde_json::from_slice::<Obj<Request<'_>>>(raw)
        .ok()
        .and_then(|Obj(request)| project(&request));
    drop(buffer);
    Ok(projected)
}

/// `msgspec.Meta(min_length=1, max_length=64)` of the envelope's ids: code points.
fn id64(text: &str) -> bool {
    !text.is_empty() && (text.len() <= 64 || text.chars().count() <= 64)
}

/// `(station_id, tenant or None, connector_id, transaction_id or None, rows)`.
type ProjectedEnvelope = (String, Option<String>, i64, Option<i64>, Vec<Row>);

/// The projection of a whole `ocpp.messages` value, when it is a valid 1.6
/// MeterValues envelope in the compiled subset; `None` to let Python decode it
/// (every other action and version, and every case `meter_values_v16` defers).
/// The envelope is checked as `decode_envelope` checks it; its `received_at`
/// only in the shape of the meterValue times (a subset of what it accepts).
/// `(station_id, tenant or None, connector_id, transaction_id or None, rows)`,
/// the ids borrowed from the value.
pub(crate) type EnvelopeView<'a> = (&'a str, Option<&'a str>, i64, Option<i64>, Vec<Row>);

/// The projection of a whole `ocpp.messages` value (see
/// `meter_values_envelope_v16`), borrowing its ids: also the replay lane's
/// first step (`lane.rs`).
pub(crate) fn envelope_view(value: &[u8]) -> Option<EnvelopeView<'_>> {
    let envelope: Envelope<'_> = serde_json::from_slice(value).ok()?;
    if envelope.action != "MeterValues"
        || envelope.ocpp_version != "1.6"
        || !id64(envelope.station_id)
        || !id64(envelope.message_id)
        || !envelope.tenant.is_none_or(id64)
        || envelope.schema_version.is_some_and(|version| version != 1)
        || epoch_ms(envelope.received_at).is_none()
    {
        return None;
    }
    let (connector, transaction, rows) = project(&envelope.request.0)?;
    Some((
        envelope.station_id,
        envelope.tenant,
        connector,
        transaction,
        rows,
    ))
}

/// The projection of a whole `ocpp.messages` value, when it is a valid 1.6
/// MeterValues envelope in the compiled subset; `None` to let Python decode it
/// (every other action and version, and every case `meter_values_v16` defers).
/// The envelope is checked as `decode_envelope` checks it; its `received_at`
/// only in the shape of the meterValue times (a subset of what it accepts).
#[pyfunction]
fn meter_values_envelope_v16(value: &Bound<'_, PyAny>) -> Option<ProjectedEnvelope> {
    // Anything but bytes (a tombstone's None, too) is Python's to decide.
    let value = value.cast::<PyBytes>().ok()?.as_bytes();
    let (station, tenant, connector, transaction, rows) = envelope_view(value)?;
    Some((
        station.to_owned(),
        tenant.map(str::to_owned),
        connector,
        transaction,
        rows,
    ))
}

#[pymodule]
fn chargewatch_native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_function(wrap_pyfunction!(meter_values_v16, module)?)?;
    module.add_function(wrap_pyfunction!(meter_values_envelope_v16, module)?)?;
    module.add_function(wrap_pyfunction!(fold::fold_samples, module)?)?;
    module.add_function(wrap_pyfunction!(fold::meter_total, module)?)?;
    module.add_function(wrap_pyfunction!(lines::own_lines, module)?)?;
    module.add_function(wrap_pyfunction!(lines::murmur2, module)?)?;
    module.add_function(wrap_pyfunction!(lines::partition_weights, module)?)?;
    module.add_class::<lane::Lane>()?;
    module.add("KNOT_MS", fold::KNOT_MS)?;
    module.add("MAX_KNOTS", fold::MAX_KNOTS)?;
    Ok(())
}
