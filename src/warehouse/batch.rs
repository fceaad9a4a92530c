//! [`EventBatch`]: what [`super::Warehouse::insert_batch`] stores.

use crate::event::Event;

/// A batch of events to store, each with its record: the protobuf bytes of
/// [`Event::encode`], which both warehouses keep in the event's `record` column.
///
/// The sink builds it from the log, whose payloads are those same bytes, so a stored event
/// is decoded once and never encoded again ([`EventBatch::from_records`]); other writers
/// encode with [`EventBatch::encode`]. Shared as an `Arc` so that a retried insert and the
/// SQLite writer thread read it without copying.
#[derive(Debug)]
pub struct EventBatch {
    events: Vec<Event>,
    records: Vec<Vec<u8>>,
}

impl EventBatch {
    /// Encode each event's record.
    pub fn encode(events: Vec<Event>) -> EventBatch {
        let records = events.iter().map(Event::encode).collect();
        EventBatch { events, records }
    }

    /// Events with the records they were decoded from (`records[i]` is
    /// `events[i].encode()`, or the log payload `events[i]` came from).
    ///
    /// Panics if the two lengths differ.
    pub fn from_records(events: Vec<Event>, records: Vec<Vec<u8>>) -> EventBatch {
        assert_eq!(events.len(), records.len(), "one record per event");
        EventBatch { events, records }
    }

    /// The events, in batch order.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// Each event with its record, in batch order.
    pub fn iter(&self) -> impl Iterator<Item = (&Event, &[u8])> {
        self.events.iter().zip(self.records.iter().map(Vec::as_slice))
    }

    /// Keep the events for which `keep` is true (with their records).
    pub fn retain(&mut self, mut keep: impl FnMut(&Event) -> bool) {
        (self.events, self.records) = std::mem::take(&mut self.events)
            .into_iter()
            .zip(std::mem::take(&mut self.records))
            .filter(|(e, _)| keep(e))
            .unzip();
    }

    /// Events in the batch.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// No events.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retain_keeps_each_record_with_its_event() {
        let evs: Vec<Event> = (0..5)
            .map(|i| Event {
                ts: 1_700_000_000_000 + i,
                session_id: format!("s{i}"),
                ..crate::event::test_event(&format!("e{i}"), "v")
            })
            .collect();
        let mut b = EventBatch::encode(evs);
        b.retain(|e| e.id != "e1" && e.id != "e4");
        assert_eq!(b.len(), 3);
        for (e, rec) in b.iter() {
            assert_eq!(rec, e.encode().as_slice(), "{}", e.id);
        }
        assert_eq!(
            b.events().iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
            ["e0", "e2", "e3"]
        );
    }
}
