//! The sessions a report reads ([`ReportRange`]): the query parameters every report of the
//! query API shares (docs/api.md, "Filters").

use super::rows::Dims;
use super::segment::SegmentFilter;
use crate::event::DeviceClass;

/// The rows of a site's report in days [from_day, to_day) of its time zone
/// ([`crate::model::days`]; each part's rows belong to a day as docs/rollups.md says: a
/// session's to the day it started, feedback to the day it was given), of one device class
/// or all, bot-flagged sessions only when asked, of the sessions in a segment.
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
