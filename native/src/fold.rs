//! The meter-sample fold of `streams.core.state.fold_sample`, compiled, for a
//! run of samples of one session at once.
//!
//! `fold_samples(state, samples, lateness_ms)` changes `state` (a
//! `SessionState`) exactly as `for s in samples: fold_sample(state, s,
//! lateness_ms)` does, meter fold included (`streams.core.meter`:
//! `add_reading`, `seal_until`, `_step`, `_note_knots`), and returns `True`.
//! It reads the fields it needs once, folds in Rust, and writes them back once:
//! the cost is in the reading and writing, so it pays for a run of samples,
//! which is how the stitcher hands them over (deferred until the session's
//! next record, see `Stitcher`).
//!
//! When a value does not fit the machine integers the Python rules are written
//! for (an i64 time or reading, an i128 knot product), it returns `False`
//! without having changed anything, and the caller folds in Python.
//! `tests/unit/test_native_fold.py` holds the two to the same states.

use pyo3::buffer::PyBuffer;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyList, PyTuple};

/// `streams.core.meter.KNOT_MS`, `MAX_KNOTS`, `RESET_FRACTION` and the flags;
/// the module exports them and the Python side checks they agree.
pub const KNOT_MS: i64 = 15 * 60 * 1000;
pub const MAX_KNOTS: i64 = 62 * 24 * 4;
const RESET_FRACTION: i128 = 10;
const RESET: i64 = 1;
const REGRESSION: i64 = 2;
const LATE: i64 = 4;

/// Not representable here: fold in Python instead.
struct Overflow;

type Fits<T> = Result<T, Overflow>;

fn fit(value: i128) -> Fits<i64> {
    i64::try_from(value).map_err(|_| Overflow)
}

/// The meter fold's fields (`streams.core.meter.MeterFold`), as plain values.
#[derive(Clone)]
struct Fold {
    first: Option<i64>,
    last: Option<i64>,
    energy: i64,
    last_rise_ms: Option<i64>,
    sealed_ms: Option<i64>,
    flags: i64,
    last_ms: Option<i64>,
    first_ms: Option<i64>,
    knot_base: i64,
    knots_existed: bool,
    new_knots: Vec<i64>,
    recent_ms: i64,
    recent_wh: i64,
    buffer: Option<Vec<i64>>, // flat (ms offset, Wh offset) pairs, sorted
    wide: bool,               // in `recent_wide` (a list), not packed int32
}

impl Fold {
    /// `_note_knots`: the energy at every knot in (last_ms, ms].
    fn note_knots(&mut self, ms: i64, energy_before: i64) -> Fits<()> {
        let Some(prev_ms) = self.last_ms else {
            return Ok(());
        };
        let first = prev_ms.div_euclid(KNOT_MS) + 1;
        let mut last = ms.div_euclid(KNOT_MS);
        if last < first {
            return Ok(());
        }
        if !self.knots_existed {
            self.knots_existed = true;
            self.knot_base = first;
        }
        last = last.min(self.knot_base + MAX_KNOTS - 1);
        let span = i128::from(ms) - i128::from(prev_ms);
        let rise = i128::from(self.energy) - i128::from(energy_before);
        for k in first..=last {
            let offset = i128::from(k) * i128::from(KNOT_MS) - i128::from(prev_ms);
            let product = rise.checked_mul(offset).ok_or(Overflow)?;
            self.new_knots
                .push(fit(i128::from(energy_before) + product.div_euclid(span))?);
        }
        Ok(())
    }

    /// `_step`: one reading, in order, into the sealed part.
    fn step(&mut self, ms: i64, wh: i64) -> Fits<()> {
        let energy_before = self.energy;
        match self.last {
            None => {
                self.first = Some(wh);
                self.last = Some(wh);
                self.first_ms = Some(ms);
            }
            Some(last) if wh >= last => {
                if wh > last {
                    self.energy = fit(i128::from(self.energy) + i128::from(wh) - i128::from(last))?;
                    self.last_rise_ms = Some(ms);
                }
                self.last = Some(wh);
            }
            Some(last) if i128::from(wh) * RESET_FRACTION <= i128::from(last) => {
                self.flags |= RESET;
                self.last = Some(wh);
            }
            Some(_) => self.flags |= REGRESSION,
        }
        if let Some(prev_ms) = self.last_ms {
            if ms.div_euclid(KNOT_MS) > prev_ms.div_euclid(KNOT_MS) {
                self.note_knots(ms, energy_before)?;
            }
        }
        self.last_ms = Some(ms);
        Ok(())
    }

    /// `add_reading`: buffer a reading; a late one is only flagged.
    fn add_reading(&mut self, ms: i64, wh: i64) -> Fits<()> {
        if self.sealed_ms.is_some_and(|sealed| ms <= sealed) {
            let inside =
                matches!((self.first, self.last), (Some(lo), Some(hi)) if lo <= wh && wh <= hi);
            if !inside {
                self.flags |= LATE;
            }
            return Ok(());
        }
        let Some(buffer) = self.buffer.as_mut() else {
            self.recent_ms = ms;
            self.recent_wh = wh;
            self.buffer = Some(vec![0, 0]);
            self.wide = false;
            return Ok(());
        };
        let dms = fit(i128::from(ms) - i128::from(self.recent_ms))?;
        let dwh = fit(i128::from(wh) - i128::from(self.recent_wh))?;
        if !self.wide && (i32::try_from(dms).is_err() || i32::try_from(dwh).is_err()) {
            self.wide = true;
        }
        let (last_ms, last_wh) = (buffer[buffer.len() - 2], buffer[buffer.len() - 1]);
        if dms > last_ms || (dms == last_ms && dwh > last_wh) {
            buffer.push(dms);
            buffer.push(dwh);
            return Ok(());
        }
        // bisect_left over the (ms, Wh) pairs; a duplicate is absorbed.
        let pairs = buffer.len() / 2;
        let (mut lo, mut hi) = (0, pairs);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if (buffer[2 * mid], buffer[2 * mid + 1]) < (dms, dwh) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        if lo == pairs || (buffer[2 * lo], buffer[2 * lo + 1]) != (dms, dwh) {
            buffer.splice(2 * lo..2 * lo, [dms, dwh]);
        }
        Ok(())
    }

    /// `seal_until`: fold buffered readings at or before `watermark_ms`; how
    /// many were outside [lo_ms, hi_ms] (and so left out).
    fn seal_until(
        &mut self,
        watermark_ms: i64,
        lo_ms: Option<i64>,
        hi_ms: Option<i64>,
    ) -> Fits<i64> {
        let Some(buffer) = self.buffer.take() else {
            return Ok(0);
        };
        let (base_ms, base_wh) = (self.recent_ms, self.recent_wh);
        let limit = i128::from(watermark_ms) - i128::from(base_ms);
        let mut n = 0;
        let mut outside = 0;
        while n < buffer.len() && i128::from(buffer[n]) <= limit {
            let ms = fit(i128::from(base_ms) + i128::from(buffer[n]))?;
            let wh = fit(i128::from(base_wh) + i128::from(buffer[n + 1]))?;
            n += 2;
            if lo_ms.is_some_and(|lo| ms < lo) || hi_ms.is_some_and(|hi| ms > hi) {
                outside += 1;
                continue;
            }
            self.step(ms, wh)?;
        }
        if n == 0 {
            self.buffer = Some(buffer);
            return Ok(outside);
        }
        if n == buffer.len() {
            self.recent_ms = 0;
            self.recent_wh = 0;
            self.wide = false;
        } else {
            self.buffer = Some(buffer[n..].to_vec());
        }
        // Python's `not sealed or watermark_ms > sealed`: a seal at 0 counts as none.
        if self
            .sealed_ms
            .is_none_or(|sealed| sealed == 0 || watermark_ms > sealed)
        {
            self.sealed_ms = Some(watermark_ms);
        }
        Ok(outside)
    }
}

/// An optional int field (`None` stays `None`); an int beyond i64 overflows.
fn opt_i64(value: &Bound<'_, PyAny>) -> PyResult<Fits<Option<i64>>> {
    if value.is_none() {
        return Ok(Ok(None));
    }
    Ok(value.extract::<i64>().map(Some).map_err(|_| Overflow))
}

fn req_i64(value: &Bound<'_, PyAny>) -> PyResult<Fits<i64>> {
    Ok(value.extract::<i64>().map_err(|_| Overflow))
}

static ARRAY: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// The packed offsets as the `array('i')` the Python fold keeps.
fn packed(py: Python<'_>, values: &[i64]) -> PyResult<Py<PyAny>> {
    let array = ARRAY.get_or_try_init(py, || {
        PyResult::Ok(py.import("array")?.getattr("array")?.unbind())
    })?;
    let mut raw = Vec::with_capacity(values.len() * 4);
    for &value in values {
        // Packed only while every offset fits (else the buffer is wide).
        raw.extend_from_slice(&(value as i32).to_ne_bytes());
    }
    Ok(array
        .bind(py)
        .call1(("i", PyBytes::new(py, &raw)))?
        .unbind())
}

fn read_fold(meter: &Bound<'_, PyAny>) -> PyResult<Fits<Fold>> {
    macro_rules! get {
        ($name:literal) => {
            meter.getattr(pyo3::intern!(meter.py(), $name))?
        };
    }
    macro_rules! try_fit {
        ($value:expr) => {
            match $value? {
                Ok(value) => value,
                Err(overflow) => return Ok(Err(overflow)),
            }
        };
    }
    let knot_wh = get!("knot_wh");
    let recent = get!("recent");
    let recent_wide = get!("recent_wide");
    let (buffer, wide) = if !recent.is_none() {
        // The array('i') read through the buffer protocol; anything else is
        // not one the fold wrote: Python's to handle.
        let Ok(view) = PyBuffer::<i32>::get(&recent) else {
            return Ok(Err(Overflow));
        };
        let values = view.to_vec(meter.py())?;
        (
            Some(values.into_iter().map(i64::from).collect::<Vec<_>>()),
            false,
        )
    } else if !recent_wide.is_none() {
        match recent_wide.extract::<Vec<i64>>() {
            Ok(values) => (Some(values), true),
            Err(_) => return Ok(Err(Overflow)),
        }
    } else {
        (None, false)
    };
    // A buffer holds whole pairs, and is never empty (it is dropped instead).
    if buffer
        .as_ref()
        .is_some_and(|values| values.is_empty() || values.len() % 2 != 0)
    {
        return Ok(Err(Overflow));
    }
    Ok(Ok(Fold {
        first: try_fit!(opt_i64(&get!("first"))),
        last: try_fit!(opt_i64(&get!("last"))),
        energy: try_fit!(req_i64(&get!("energy"))),
        last_rise_ms: try_fit!(opt_i64(&get!("last_rise_ms"))),
        sealed_ms: try_fit!(opt_i64(&get!("sealed_ms"))),
        flags: try_fit!(req_i64(&get!("flags"))),
        last_ms: try_fit!(opt_i64(&get!("last_ms"))),
        first_ms: try_fit!(opt_i64(&get!("first_ms"))),
        knot_base: try_fit!(req_i64(&get!("knot_base"))),
        knots_existed: !knot_wh.is_none(),
        new_knots: Vec::new(),
        recent_ms: try_fit!(req_i64(&get!("recent_ms"))),
        recent_wh: try_fit!(req_i64(&get!("recent_wh"))),
        buffer,
        wide,
    }))
}

/// Write back what changed since `before` (each write is a Python call).
fn write_fold(
    py: Python<'_>,
    meter: &Bound<'_, PyAny>,
    fold: &Fold,
    before: &Fold,
    had_knots: bool,
) -> PyResult<()> {
    macro_rules! set {
        ($name:expr, $value:expr) => {
            meter.setattr(pyo3::intern!(py, $name), $value)?
        };
    }
    macro_rules! set_changed {
        ($($field:ident),*) => {
            $(if fold.$field != before.$field {
                set!(stringify!($field), fold.$field);
            })*
        };
    }
    set_changed!(
        first,
        last,
        energy,
        last_rise_ms,
        sealed_ms,
        flags,
        last_ms,
        first_ms
    );
    if !fold.new_knots.is_empty() {
        if had_knots {
            let knots = meter.getattr(pyo3::intern!(py, "knot_wh"))?;
            let knots = knots.cast::<PyList>()?;
            for &wh in &fold.new_knots {
                knots.append(wh)?;
            }
        } else {
            set!("knot_base", fold.knot_base);
            set!("knot_wh", PyList::new(py, &fold.new_knots)?);
        }
    }
    set_changed!(recent_ms, recent_wh);
    match (&fold.buffer, fold.wide) {
        (None, _) => {
            if before.buffer.is_some() {
                set!("recent", py.None());
                set!("recent_wide", py.None());
            }
        }
        (Some(values), true) => {
            if !before.wide || before.buffer.is_none() {
                set!("recent", py.None());
            }
            set!("recent_wide", PyList::new(py, values)?);
        }
        (Some(values), false) => {
            // Most runs leave the buffer as long as they found it (a reading
            // in, one sealed per sample): then it is written in place.
            let same_length = !before.wide
                && before
                    .buffer
                    .as_ref()
                    .is_some_and(|old| old.len() == values.len());
            if same_length {
                let recent = meter.getattr(pyo3::intern!(py, "recent"))?;
                let view = PyBuffer::<i32>::get(&recent)?;
                let narrow: Vec<i32> = values.iter().map(|&value| value as i32).collect();
                view.copy_from_slice(py, &narrow)?;
            } else {
                set!("recent", packed(py, values)?);
                if before.wide {
                    set!("recent_wide", py.None());
                }
            }
        }
    }
    Ok(())
}

/// The state's fields as read, to write back only those that changed.
struct Initial<'py> {
    first_ms: Option<i64>,
    last_ms: Option<i64>,
    first_sample_ms: Option<i64>,
    last_sample_ms: Option<i64>,
    soc_first_ms: Option<i64>,
    soc_last_ms: Option<i64>,
    auto_closed_ms: Option<i64>,
    outside_window: bool,
    transaction_id: Bound<'py, PyAny>,
    max_power: Bound<'py, PyAny>,
    soc_first: Bound<'py, PyAny>,
    soc_last: Bound<'py, PyAny>,
    stalled: bool,
}

/// Fold `samples` (``streams.core.events.Sample`` tuples) into `state` as
/// `fold_sample` does one by one; `False` (nothing changed) when a value does
/// not fit the integers used here.
#[pyfunction]
pub fn fold_samples(
    state: &Bound<'_, PyAny>,
    samples: &Bound<'_, PyList>,
    lateness_ms: i64,
) -> PyResult<bool> {
    let py = state.py();
    macro_rules! get {
        ($name:literal) => {
            state.getattr(pyo3::intern!(py, $name))?
        };
    }
    macro_rules! try_fit {
        ($value:expr) => {
            match $value? {
                Ok(value) => value,
                Err(Overflow) => return Ok(false),
            }
        };
    }
    let meter = get!("meter");
    let mut fold = try_fit!(read_fold(&meter));
    let before = fold.clone();
    let had_knots = fold.knots_existed;
    let mut first_ms = try_fit!(opt_i64(&get!("first_ms")));
    let mut last_ms = try_fit!(opt_i64(&get!("last_ms")));
    let mut first_sample_ms = try_fit!(opt_i64(&get!("first_sample_ms")));
    let mut last_sample_ms = try_fit!(opt_i64(&get!("last_sample_ms")));
    let mut soc_first_ms = try_fit!(opt_i64(&get!("soc_first_ms")));
    let mut soc_last_ms = try_fit!(opt_i64(&get!("soc_last_ms")));
    let mut auto_closed_ms = try_fit!(opt_i64(&get!("auto_closed_ms")));
    let started_ms = try_fit!(opt_i64(&get!("started_ms")));
    let stopped_ms = try_fit!(opt_i64(&get!("stopped_ms")));
    let mut transaction_id = get!("transaction_id");
    let mut max_power = get!("max_power_w");
    let mut soc_first = get!("soc_first");
    let mut soc_last = get!("soc_last");
    let mut samples_seen: i64 = try_fit!(req_i64(&get!("samples")));
    let mut outside_window: bool = get!("outside_window").extract()?;
    let mut max_power_value = try_fit!(req_i64(&max_power));
    let initial = Initial {
        first_ms,
        last_ms,
        first_sample_ms,
        last_sample_ms,
        soc_first_ms,
        soc_last_ms,
        auto_closed_ms,
        outside_window,
        transaction_id: transaction_id.clone(),
        max_power: max_power.clone(),
        soc_first: soc_first.clone(),
        soc_last: soc_last.clone(),
        stalled: get!("stalled").extract()?,
    };

    for sample in samples.iter() {
        let sample = sample.cast::<PyTuple>()?;
        let ms = try_fit!(req_i64(&sample.get_item(1)?));
        let tx = sample.get_item(5)?;
        let energy = try_fit!(opt_i64(&sample.get_item(6)?));
        let power_item = sample.get_item(7)?;
        let power = try_fit!(opt_i64(&power_item));
        let soc = sample.get_item(8)?;

        if first_ms.is_none_or(|first| ms < first) {
            first_ms = Some(ms);
        }
        if last_ms.is_none_or(|last| ms > last) {
            last_ms = Some(ms);
        }
        if !tx.is_none() && transaction_id.is_none() {
            transaction_id = tx;
        }
        let Some(seen) = samples_seen.checked_add(1) else {
            return Ok(false);
        };
        samples_seen = seen;
        if first_sample_ms.is_none_or(|first| ms < first) {
            first_sample_ms = Some(ms);
        }
        if last_sample_ms.is_none_or(|last| ms > last) {
            last_sample_ms = Some(ms);
        }
        if let Some(wh) = energy {
            if fold.add_reading(ms, wh).is_err() {
                return Ok(false);
            }
        }
        if let Some(power) = power {
            if power > max_power_value {
                max_power_value = power;
                max_power = power_item;
            }
        }
        if !soc.is_none() {
            if soc_first_ms.is_none_or(|first| ms < first) {
                soc_first_ms = Some(ms);
                soc_first = soc.clone();
            }
            if soc_last_ms.is_none_or(|last| ms > last) {
                soc_last_ms = Some(ms);
                soc_last = soc;
            }
        }
        if auto_closed_ms.is_some_and(|closed| ms > closed) {
            auto_closed_ms = None;
        }
        if fold.buffer.is_some() {
            // last_ms is set: this sample set it if nothing had.
            let newest = last_ms.unwrap_or(ms);
            let watermark = match fit(i128::from(newest) - i128::from(lateness_ms)) {
                Ok(watermark) => watermark,
                Err(Overflow) => return Ok(false),
            };
            match fold.seal_until(watermark, started_ms, stopped_ms) {
                Ok(outside) => outside_window |= outside > 0,
                Err(Overflow) => return Ok(false),
            }
        }
    }
    if samples.is_empty() {
        return Ok(true);
    }

    macro_rules! set {
        ($name:expr, $value:expr) => {
            state.setattr(pyo3::intern!(py, $name), $value)?
        };
    }
    write_fold(py, &meter, &fold, &before, had_knots)?;
    // Only what changed: most of these stay as they were over a run.
    macro_rules! set_changed {
        ($($name:ident),*) => {
            $(if $name != initial.$name {
                set!(stringify!($name), $name);
            })*
        };
    }
    set_changed!(first_ms, last_ms, first_sample_ms, last_sample_ms);
    set_changed!(soc_first_ms, soc_last_ms, auto_closed_ms, outside_window);
    set!("samples", samples_seen);
    if !transaction_id.is(&initial.transaction_id) {
        set!("transaction_id", transaction_id);
    }
    if !max_power.is(&initial.max_power) {
        set!("max_power_w", max_power);
    }
    if !soc_first.is(&initial.soc_first) {
        set!("soc_first", soc_first);
    }
    if !soc_last.is(&initial.soc_last) {
        set!("soc_last", soc_last);
    }
    if initial.stalled {
        set!("stalled", false);
    }
    Ok(true)
}

/// `(energy, last_rise_ms, flags, outside)`.
type Total = (i64, Option<i64>, i64, i64);

/// `streams.core.meter.meter_total`: `(energy, last_rise_ms, flags, outside)`
/// of the fold with its buffered readings folded in (by the rules of
/// `_step`, without noting knots), the fold unchanged; `None` when a value
/// does not fit (Python computes it then).
#[pyfunction]
pub fn meter_total(
    meter: &Bound<'_, PyAny>,
    lo_ms: Option<i64>,
    hi_ms: Option<i64>,
) -> PyResult<Option<Total>> {
    let Ok(fold) = read_fold(meter)? else {
        return Ok(None);
    };
    let (mut energy, mut last_rise_ms, mut flags, mut last) =
        (fold.energy, fold.last_rise_ms, fold.flags, fold.last);
    let mut outside = 0;
    let Some(buffer) = fold.buffer.as_ref() else {
        return Ok(Some((energy, last_rise_ms, flags, 0)));
    };
    for pair in buffer.chunks_exact(2) {
        let (Ok(ms), Ok(wh)) = (
            fit(i128::from(fold.recent_ms) + i128::from(pair[0])),
            fit(i128::from(fold.recent_wh) + i128::from(pair[1])),
        ) else {
            return Ok(None);
        };
        if lo_ms.is_some_and(|lo| ms < lo) || hi_ms.is_some_and(|hi| ms > hi) {
            outside += 1;
            continue;
        }
        match last {
            Some(previous) if wh > previous => {
                let Ok(total) = fit(i128::from(energy) + i128::from(wh) - i128::from(previous))
                else {
                    return Ok(None);
                };
                energy = total;
                last_rise_ms = Some(ms);
                last = Some(wh);
            }
            Some(previous) if wh < previous => {
                if i128::from(wh) * RESET_FRACTION <= i128::from(previous) {
                    flags |= RESET;
                    last = Some(wh);
                } else {
                    flags |= REGRESSION;
                }
            }
            _ => last = Some(wh),
        }
    }
    Ok(Some((energy, last_rise_ms, flags, outside)))
}
