//! `/journeys` by SQL over the day totals of the journey part (`d_journeys`): entry and
//! exit pages summed over the range, the distinct transitions and paths counted, and the
//! first transitions and paths picked by SQLite (a top-N), in the order of
//! [`crate::model::journeys::Journeys::ranked`] (text compared as bytes: SQLite's `BINARY`
//! collation).

use crate::model::journeys::{PageSums, RankedJourneys};
use crate::model::rows::JourneyKind;
use crate::warehouse::JourneysQuery;
use rusqlite::params_from_iter;
use rusqlite::types::Value;

/// The query's rows of `d_journeys`: `?1` site, `?2`..`?3` days, `?4` bots (1) or not, `?5`
/// device class or NULL for all.
const FILTERED: &str = "FROM d_journeys WHERE site = ?1 AND day >= ?2 AND day < ?3 AND (?4 OR bot = 0) \
     AND (?5 IS NULL OR device = ?5)";

/// [`crate::warehouse::Warehouse::journeys`] for a query without a segment filter.
pub fn journeys(c: &rusqlite::Connection, q: &JourneysQuery) -> anyhow::Result<RankedJourneys> {
    debug_assert!(q.segment.is_empty(), "the day totals carry no session");
    let params = [
        Value::Text(q.site.clone()),
        Value::Integer(q.from_day),
        Value::Integer(q.to_day),
        Value::Integer(i64::from(q.bots)),
        q.device.map_or(Value::Null, |d| Value::Text(d.as_str().to_string())),
    ];
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    let (mut entries, mut exits) = (Vec::<PageSums>::new(), Vec::<PageSums>::new());
    let mut st = c.prepare_cached(&format!(
        "SELECT kind, from_page, sum(count) AS sessions, sum(bounces) AS bounces {FILTERED} AND kind IN (0, 1) \
         GROUP BY kind, from_page HAVING sessions != 0 OR bounces != 0"
    ))?;
    let mut rows = st.query(params_from_iter(params.iter()))?;
    while let Some(r) = rows.next()? {
        let sums = (r.get(1)?, n(r.get(2)?), n(r.get(3)?));
        if r.get::<_, i64>(0)? == i64::from(JourneyKind::Entry.code()) {
            entries.push(sums);
        } else {
            exits.push(sums);
        }
    }
    let mut totals = [0usize; 4];
    let mut st = c.prepare_cached(&format!(
        "SELECT kind, count(*) FROM (SELECT kind {FILTERED} AND kind IN (2, 3) \
         GROUP BY kind, from_page, to_page HAVING sum(count) != 0) GROUP BY kind"
    ))?;
    let mut rows = st.query(params_from_iter(params.iter()))?;
    while let Some(r) = rows.next()? {
        if let Some(t) = usize::try_from(r.get::<_, i64>(0)?)
            .ok()
            .and_then(|k| totals.get_mut(k))
        {
            *t = usize::try_from(r.get::<_, i64>(1)?).unwrap_or(0);
        }
    }
    let top = |kind: JourneyKind| -> anyhow::Result<Vec<(String, String, u64)>> {
        let mut st = c.prepare_cached(&format!(
            "SELECT from_page, to_page, sum(count) AS n {FILTERED} AND kind = ?6 \
             GROUP BY from_page, to_page HAVING n != 0 ORDER BY n DESC, from_page, to_page LIMIT ?7"
        ))?;
        let p = params
            .iter()
            .cloned()
            .chain([Value::Integer(i64::from(kind.code())), Value::Integer(q.limit as i64)]);
        let mut rows = st.query(params_from_iter(p))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push((r.get(0)?, r.get(1)?, n(r.get(2)?)));
        }
        Ok(out)
    };
    let transitions = top(JourneyKind::Transition)?;
    let paths = top(JourneyKind::Path)?;
    Ok(RankedJourneys::of_ranked_sums(
        entries,
        exits,
        (
            totals[usize::from(JourneyKind::Transition.code())],
            totals[usize::from(JourneyKind::Path.code())],
        ),
        transitions,
        paths.into_iter().map(|(joined, _, count)| (joined, count)),
    ))
}
