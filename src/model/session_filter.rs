//! The sessions-list filter (`page`, `selector`, `has=`), one test for every warehouse.

use super::rows::{SessionDetailRow, SessionElement, SessionPage, SessionRow};

/// A signal a session must have in the sessions list (`has=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Has {
    Rage,
    Dead,
    Feedback,
}

impl Has {
    /// Parse `rage`, `dead` or `feedback`.
    pub fn parse(s: &str) -> Option<Has> {
        match s {
            "rage" => Some(Has::Rage),
            "dead" => Some(Has::Dead),
            "feedback" => Some(Has::Feedback),
            _ => None,
        }
    }
}

/// Sessions-list filter: `page` (the session viewed it), `selector` (the session clicked it,
/// on `page` when both are given), and every signal of `has` (rage / dead on that page or
/// element when given, else anywhere; feedback anywhere in the session).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionFilter {
    pub page: Option<String>,
    pub selector: Option<String>,
    pub has: Vec<Has>,
}

/// Whether a session (its row and detail) passes the filter.
pub fn session_matches(row: &SessionRow, d: &SessionDetailRow, f: &SessionFilter) -> bool {
    let on_page = |page: &str| f.page.as_deref().is_none_or(|p| p == page);
    let pages: Vec<&SessionPage> = d.pages.iter().filter(|p| on_page(&p.page)).collect();
    let elements: Vec<&SessionElement> = d
        .elements
        .iter()
        .filter(|e| on_page(&e.page) && f.selector.as_deref().is_none_or(|s| s == e.selector))
        .collect();
    if pages.is_empty() || (f.selector.is_some() && elements.is_empty()) {
        return false;
    }
    f.has.iter().all(|h| match h {
        Has::Rage if f.selector.is_some() => elements.iter().any(|e| e.rage_clicks > 0),
        Has::Dead if f.selector.is_some() => elements.iter().any(|e| e.dead_clicks > 0),
        Has::Rage => pages.iter().any(|p| p.rage_clicks > 0),
        Has::Dead => pages.iter().any(|p| p.dead_clicks > 0),
        Has::Feedback => row.feedback > 0,
    })
}
