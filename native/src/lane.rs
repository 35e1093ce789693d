//! The replay's lane: 1.6 MeterValues lines taken to their session's held
//! samples without a Python call per line.
//!
//! In a replay nine lines in ten are a MeterValues of a session whose samples
//! the stitcher would only hold (`Stitcher.apply_sample`: no record due yet).
//! Python still paid ~9 us a line to find that out (the station's context, the
//! transaction's session, the tuples, the deferral test) on top of the compiled
//! projection. `chargewatch.replay` *arms* the lane for a session once it has
//! taken one of its lines the long way and the session's next samples would be
//! held: the lane then takes the lines of that station, transaction and tenant
//! whose samples all fall before the session's next record is due, and whose
//! times do not reach the partition's next silence check. It keeps their
//! readings here, and hands them over (`release*`) as the very sample tuples
//! the long way makes, in arrival order, before Python reads or changes the
//! session: before it takes any other line of the station, before a silence
//! check of the partition, and at the end. Every other line is Python's (`take`
//! stops there), so a lane that takes nothing changes nothing.
//! `tests/unit/test_replay_lane.py` holds the replay with it to the replay
//! without it.

use std::collections::HashMap;

use pyo3::exceptions::PyValueError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};

use crate::{envelope_view, Row};

/// One armed session: the lines it takes, and what its samples carry.
struct Entry {
    tenant: Option<String>,
    transaction: i64,
    partition: usize,
    /// The samples of a line before this time are held (`apply_sample`'s test).
    deadline_ms: i64,
    session_id: String,
    /// A sample tuple's items but its readings: (session id, _, tenant,
    /// station, connector id, transaction id).
    items: [Py<PyAny>; 5],
    /// The normaliser's `TxRecord`: its `first_ms` and `last_wh` follow the
    /// readings, as `v16.meter_values_projected` keeps them.
    record: Py<PyAny>,
    rows: Vec<Row>,
}

/// A partition's event-time clock (`chargewatch.replay._Partition`).
#[derive(Clone, Copy)]
struct Clock {
    watermark: i64,
    next_tick: Option<i64>,
}

/// (partition, session id, sample tuples in arrival order).
type Run = (usize, String, Py<PyList>);

#[pyclass(module = "chargewatch_native")]
pub struct Lane {
    stations: HashMap<String, Vec<Entry>>,
    clocks: Vec<Clock>,
    held: usize,
    cap: usize,
    /// Samples taken so far (the replay's event count).
    #[pyo3(get)]
    samples: u64,
    /// The partition whose silence check fell due with the last line taken.
    #[pyo3(get)]
    due: Option<usize>,
}

impl Lane {
    /// Take one line, or leave everything as it was and say no.
    fn take_one(&mut self, line: &[u8]) -> bool {
        let Some((station, tenant, connector, Some(transaction), rows)) = envelope_view(line)
        else {
            return false;
        };
        // Connector 0 (the main meter) and -1 ids take other ways in Python.
        if !(1..=255).contains(&connector) || transaction == -1 {
            return false;
        }
        let Some(entries) = self.stations.get_mut(station) else {
            return false;
        };
        let Some(entry) = entries
            .iter_mut()
            .find(|entry| entry.transaction == transaction && entry.tenant.as_deref() == tenant)
        else {
            return false;
        };
        let clock = &mut self.clocks[entry.partition];
        let Some(next_tick) = clock.next_tick else {
            return false;
        };
        let mut watermark = clock.watermark;
        let mut tick_due = false;
        for &(ms, ..) in &rows {
            if ms >= entry.deadline_ms || tick_due {
                // A record falls due (Python emits it), or a silence check
                // before the line's last sample (Python makes it there).
                return false;
            }
            watermark = watermark.max(ms);
            tick_due = watermark >= next_tick;
        }
        if tick_due {
            // After the line's last sample: taken, and `take` stops for Python
            // to make the check at this watermark.
            self.due = Some(entry.partition);
        }
        clock.watermark = watermark;
        self.held += rows.len();
        self.samples += rows.len() as u64;
        entry.rows.extend(rows);
        true
    }
}

/// The entry's held readings as sample tuples, its `TxRecord` brought up to
/// date; `None` when it holds none.
fn drain(py: Python<'_>, entry: &mut Entry) -> PyResult<Option<Run>> {
    if entry.rows.is_empty() {
        return Ok(None);
    }
    let record = entry.record.bind(py);
    let first: i64 = record.getattr(intern!(py, "first_ms"))?.extract()?;
    let mut first_ms = first;
    let last: Option<i64> = record.getattr(intern!(py, "last_wh_ms"))?.extract()?;
    let mut last_wh_ms = last;
    let mut last_wh = None;
    let [session_id, tenant, station, connector, transaction] = &entry.items;
    let samples = PyList::empty(py);
    for &(ms, energy, power, soc) in &entry.rows {
        first_ms = first_ms.min(ms);
        if let Some(wh) = energy {
            if last_wh_ms.is_none_or(|seen| ms >= seen) {
                last_wh = Some(wh);
                last_wh_ms = Some(ms);
            }
        }
        let sample = (
            session_id.clone_ref(py),
            ms,
            tenant.clone_ref(py),
            station.clone_ref(py),
            connector.clone_ref(py),
            transaction.clone_ref(py),
            energy,
            power,
            soc,
        )
            .into_pyobject(py)?;
        samples.append(sample)?;
    }
    if first_ms != first {
        record.setattr(intern!(py, "first_ms"), first_ms)?;
    }
    if let Some(wh) = last_wh {
        record.setattr(intern!(py, "last_wh"), wh)?;
        record.setattr(intern!(py, "last_wh_ms"), last_wh_ms)?;
    }
    entry.rows.clear();
    Ok(Some((
        entry.partition,
        entry.session_id.clone(),
        samples.unbind(),
    )))
}

#[pymethods]
impl Lane {
    /// A lane for `partitions` partitions, holding at most `cap` samples (then
    /// `take` takes nothing until they are released).
    #[new]
    fn new(partitions: usize, cap: usize) -> Self {
        Self {
            stations: HashMap::new(),
            clocks: vec![
                Clock {
                    watermark: i64::MIN,
                    next_tick: None,
                };
                partitions
            ],
            held: 0,
            cap,
            samples: 0,
            due: None,
        }
    }

    /// Take `lines[start:]` (bytes) while it can; the index of the first line
    /// it leaves to Python (`len(lines)` when it took them all). It stops after
    /// a line that brings a partition's silence check due, too: `due` says
    /// which (Python makes it at the partition's watermark), else `None`.
    fn take(&mut self, lines: &Bound<'_, PyList>, start: usize) -> PyResult<usize> {
        let count = lines.len();
        let mut index = start;
        self.due = None;
        while index < count && self.held < self.cap && self.due.is_none() {
            let item = lines.get_item(index)?;
            let Ok(line) = item.cast::<PyBytes>() else {
                return Ok(index);
            };
            if !self.take_one(line.as_bytes()) {
                return Ok(index);
            }
            index += 1;
        }
        Ok(index)
    }

    /// Whether the lane holds as many samples as it may.
    #[getter]
    fn full(&self) -> bool {
        self.held >= self.cap
    }

    /// Take the lines of `station`, `tenant` (as the line gives it) and
    /// `transaction` for the session of `sample` (a sample tuple the long way
    /// made for it), held while before `deadline_ms`, in `partition`.
    #[allow(clippy::too_many_arguments)]
    fn arm(
        &mut self,
        station: String,
        tenant: Option<String>,
        transaction: i64,
        partition: usize,
        deadline_ms: i64,
        sample: &Bound<'_, PyTuple>,
        record: Py<PyAny>,
    ) -> PyResult<()> {
        if partition >= self.clocks.len() {
            return Err(PyValueError::new_err("no such partition"));
        }
        let entries = self.stations.entry(station).or_default();
        if entries
            .iter()
            .any(|entry| entry.transaction == transaction && entry.tenant == tenant)
        {
            return Err(PyValueError::new_err(
                "armed already: release the station first",
            ));
        }
        let item = |index| sample.get_item(index).map(Bound::unbind);
        entries.push(Entry {
            tenant,
            transaction,
            partition,
            deadline_ms,
            session_id: sample.get_item(0)?.extract()?,
            items: [item(0)?, item(2)?, item(3)?, item(4)?, item(5)?],
            record,
            rows: Vec::new(),
        });
        Ok(())
    }

    /// Hand over the samples held for `station`, and take none of its lines
    /// until armed again (Python is about to take one).
    fn release(&mut self, py: Python<'_>, station: &str) -> PyResult<Vec<Run>> {
        let mut runs = Vec::new();
        if let Some(mut entries) = self.stations.remove(station) {
            for entry in &mut entries {
                self.held -= entry.rows.len();
                runs.extend(drain(py, entry)?);
            }
        }
        Ok(runs)
    }

    /// Hand over the samples held for the session of one station, tenant and
    /// transaction, and take none of its lines until armed again (Python is
    /// about to take one that changes no other session).
    fn release_one(
        &mut self,
        py: Python<'_>,
        station: &str,
        tenant: Option<&str>,
        transaction: i64,
    ) -> PyResult<Option<Run>> {
        let Some(entries) = self.stations.get_mut(station) else {
            return Ok(None);
        };
        let Some(at) = entries.iter().position(|entry| {
            entry.transaction == transaction && entry.tenant.as_deref() == tenant
        }) else {
            return Ok(None);
        };
        let mut entry = entries.swap_remove(at);
        if entries.is_empty() {
            self.stations.remove(station);
        }
        self.held -= entry.rows.len();
        drain(py, &mut entry)
    }

    /// Hand over the samples held for the sessions of `partition` (all of
    /// them: `None`); they stay armed.
    #[pyo3(signature = (partition=None))]
    fn release_held(&mut self, py: Python<'_>, partition: Option<usize>) -> PyResult<Vec<Run>> {
        let mut runs = Vec::new();
        for entries in self.stations.values_mut() {
            for entry in entries.iter_mut() {
                if partition.is_none_or(|p| p == entry.partition) {
                    self.held -= entry.rows.len();
                    runs.extend(drain(py, entry)?);
                }
            }
        }
        Ok(runs)
    }

    /// Take no more lines of these sessions (their samples released already):
    /// a silence check emitted a record for them.
    fn disarm(&mut self, session_ids: Vec<String>) -> PyResult<()> {
        for entries in self.stations.values_mut() {
            for entry in entries.iter() {
                if session_ids.contains(&entry.session_id) && !entry.rows.is_empty() {
                    return Err(PyValueError::new_err("disarmed with samples held"));
                }
            }
            entries.retain(|entry| !session_ids.contains(&entry.session_id));
        }
        self.stations.retain(|_, entries| !entries.is_empty());
        Ok(())
    }

    /// A partition's clock: (watermark, next silence check or `None`).
    fn clock(&self, partition: usize) -> PyResult<(i64, Option<i64>)> {
        let clock = self
            .clocks
            .get(partition)
            .ok_or_else(|| PyValueError::new_err("no such partition"))?;
        Ok((clock.watermark, clock.next_tick))
    }

    /// Set a partition's clock (Python moved it taking a line).
    fn set_clock(
        &mut self,
        partition: usize,
        watermark: i64,
        next_tick: Option<i64>,
    ) -> PyResult<()> {
        let clock = self
            .clocks
            .get_mut(partition)
            .ok_or_else(|| PyValueError::new_err("no such partition"))?;
        *clock = Clock {
            watermark,
            next_tick,
        };
        Ok(())
    }
}
