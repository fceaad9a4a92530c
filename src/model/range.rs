//! The sessions a report reads ([`ReportRange`]): the query parameters every report of the
//! query API shares (docs/api.md, "Filters").

use super::rows::Dims;
use super::segment::SegmentFilter;
use crate::event::DeviceClass;

/// The sessions of a site that started in days [from_day, to_day) of its time zone
/// ([`crate::model::days`]), of one device class or all, bot-flagged ones only when asked,
/// in a segment.
#[derive(Debug, Clone)]
pub struct ReportRange {
    pub site: String,
    /// A day start (ms), inclusive.
    pub from_day: i64,
    /// A day start (ms), exclusive.
    pub to_day: i64,
    /// Only this device class (`None`: every class).
    pub device: Option<DeviceClass>,
    /// Include bot-flagged sessions.
    pub bots: bool,
    /// Only sessions in this segment (empty: every session).
    pub segment: SegmentFilter,
}

impl ReportRange {
    /// Whether a row of these dims passes the device and bot filters (the days and the
    /// segment are the store's read).
    pub fn passes(&self, d: &Dims) -> bool {
        d.passes(self.bots, self.device)
    }

    /// The device class as stored, "" for every class (a SQL parameter).
    pub fn device_name(&self) -> &'static str {
        self.device.map_or("", |d| d.as_str())
    }
}
