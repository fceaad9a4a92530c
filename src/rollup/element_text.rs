//! An element's representative visible text (analytics.md, "Element text"): shown next to
//! its selector in every report that lists elements, because long CSS paths are unreadable.
//!
//! Each click may carry the element's visible text (`text`: whitespace folded, PII-scrubbed,
//! at most 256 characters). An element row keeps the text of its **most recent** click that
//! sent one ([`ElementRow::offer_text`]: largest event time, then the greatest text), and
//! rows summed over sessions, days and devices keep the most recent of theirs, so the text
//! is the one the page showed last in the range. It is a value of the element, never part
//! of its key: an element whose label changed ("Buy" → "Buy now") stays one row.

use super::ElementRow;
use std::collections::HashMap;

/// The most recent text per element (page, selector, zone) over some element rows.
#[derive(Debug, Default, Clone)]
pub struct ElementTexts {
    by_element: HashMap<(String, String, String), (i64, String)>,
}

impl ElementTexts {
    /// The texts of `rows` (any mix of days, devices and sessions).
    pub fn of_rows<'a>(rows: impl IntoIterator<Item = &'a ElementRow>) -> ElementTexts {
        let mut t = ElementTexts::default();
        for r in rows.into_iter().filter(|r| !r.text.is_empty()) {
            let e = t
                .by_element
                .entry((r.page.clone(), r.selector.clone(), r.zone.clone()))
                .or_default();
            if (r.text_ts, r.text.as_str()) > (e.0, e.1.as_str()) {
                *e = (r.text_ts, r.text.clone());
            }
        }
        t
    }

    /// The text of an element (zone "" for none), `None` when no click on it sent one.
    pub fn get(&self, page: &str, selector: &str, zone: &str) -> Option<&str> {
        self.by_element
            .get(&(page.to_string(), selector.to_string(), zone.to_string()))
            .map(|(_, t)| t.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::DeviceClass;
    use crate::rollup::Dims;

    fn row(day: i64, page: &str, sel: &str, clicks: &[(i64, &str)]) -> ElementRow {
        let dims = Dims {
            day,
            device: DeviceClass::Desktop,
            bot: false,
        };
        let mut r = ElementRow {
            clicks: clicks.len() as u64,
            ..ElementRow::empty(dims, (page, ""), sel, "")
        };
        for (ts, t) in clicks {
            r.offer_text(*ts, t);
        }
        r
    }

    /// The latest click with a text wins, whatever the order rows and clicks come in; a
    /// click without text never replaces one; a tie in time goes to the greater text.
    #[test]
    fn the_most_recent_text_wins_across_rows() {
        let a = row(0, "p", "#buy", &[(30, "Buy now"), (10, "Buy"), (40, "")]);
        assert_eq!((a.text.as_str(), a.text_ts), ("Buy now", 30));
        let b = row(1, "p", "#buy", &[(20, "Acheter")]);
        let c = row(1, "p", "#buy", &[(30, "Buy it")]);
        let t = ElementTexts::of_rows([&b, &a, &c]);
        assert_eq!(t.get("p", "#buy", ""), Some("Buy now"));
        assert_eq!(t.get("p", "#other", ""), None);
        let none = row(0, "p", "#x", &[(5, "")]);
        assert_eq!(ElementTexts::of_rows([&none]).get("p", "#x", ""), None);
    }
}
