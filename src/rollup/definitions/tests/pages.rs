use super::*;

#[test]
fn scroll_buckets_count_page_views_reaching_each_depth() {
    let page = "shop.example/";
    let mut events = vec![
        pageview("p1", at(10, 0), page),
        scroll("s1", at(10, 0) + 1, 35.0, Some(4000)),
        scroll("s2", at(10, 0) + 2, 99.96, Some(4200)), // rounds to 100.0
        pageview("p2", at(10, 1), page),
        scroll("s3", at(10, 1) + 1, 49.94, None), // rounds to 49.9
        pageview("p3", at(10, 2), page),          // no scroll: depth 0
    ];
    events[0].viewport = Some(Viewport { w: 1280, h: 800 });
    let day = compute_day(&events, DAY, &Rules::default());
    let buckets: Vec<(u32, u64)> = day.scroll.iter().map(|r| (r.depth, r.pageviews)).collect();
    assert_eq!(
        buckets,
        vec![
            (0, 3),
            (10, 2),
            (20, 2),
            (30, 2),
            (40, 2),
            (50, 1),
            (60, 1),
            (70, 1),
            (80, 1),
            (90, 1),
            (100, 1)
        ]
    );
    // Fold: only p1 has a document height.
    let row = &day.pages[0];
    assert_eq!(
        (row.pageviews, row.fold_n, row.viewport_h_sum, row.doc_h_sum),
        (3, 1, 800, 4200)
    );
}

#[test]
fn a_quick_back_is_a_return_to_the_previous_page_within_10_s() {
    let t = at(10, 0);
    let events = vec![
        pageview("p1", t, "list"),
        pageview("p2", t + 1_000, "item"),   // back to list 10 s later: quick back
        pageview("p3", t + 11_000, "list"),  // next page is not the previous one: not
        pageview("p4", t + 30_000, "item2"), // back to list 10.001 s later: not
        pageview("p5", t + 40_001, "list"),
        pageview("p6", t + 41_000, "list"), // a reload, then back: not
        pageview("p7", t + 42_000, "list"),
    ];
    let day = compute_day(&events, DAY, &Rules::default());
    let qb: Vec<(&str, u64, u64)> = day
        .pages
        .iter()
        .map(|p| (p.page.as_str(), p.pageviews, p.quick_backs))
        .collect();
    assert_eq!(qb, vec![("item", 1, 1), ("item2", 1, 0), ("list", 5, 0)]);
    assert_eq!(day.sessions[0].quick_backs, 1);
}

#[test]
fn grid_cells_are_16_px_and_clamped_at_zero() {
    let mut events = vec![
        pageview("p1", at(10, 0), "a"),
        click("c1", at(10, 1), 15.9, 16.0, "b"),
        click("c2", at(10, 2), -3.0, 40.0, "b"),
        click("c3", at(10, 3), 0.0, 47.9, "b"),
    ];
    if let Payload::Click { el, .. } = &mut events[1].payload {
        *el = Some((0.25, 0.5));
    }
    let day = compute_day(&events, DAY, &Rules::default());
    let cells: Vec<(u32, u32, u64)> = day.grid.iter().map(|g| (g.cx, g.cy, g.count)).collect();
    assert_eq!(cells, vec![(0, 1, 1), (0, 2, 2)]);
    let el = &day.elements[0];
    assert_eq!((el.el_n, el.el_x_sum, el.el_y_sum), (1, 0.25, 0.5));
}
