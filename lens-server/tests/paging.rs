//! Paging an exhaustive search through its cursor, at the Searcher seam: every
//! page resumes where the last one stopped, and the pages together are the
//! unpaged result, hit for hit and in the same order.

use lens_core::request::{Request, RequestLimits};
use lens_core::{Deadline, Engine, Model, Searcher};

use crate::common::{index, write};

type Key = (String, String, u64, usize, usize);

fn keys(hits: &[lens_core::Hit]) -> Vec<Key> {
    hits.iter()
        .map(|h| {
            (
                h.repo.to_string(),
                h.path.to_string(),
                h.line,
                h.start,
                h.end,
            )
        })
        .collect()
}

fn request(text: &str, paged: bool, limit: usize, cursor: Option<String>) -> Request {
    Request::exhaustive_text(
        text,
        paged.then_some(limit),
        cursor,
        &RequestLimits::default(),
    )
    .unwrap()
}

#[test]
fn cursor_pages_of_100000_matches_equal_the_unpaged_search() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("proj");
    // 240 files × 450 lines × one match, and a file that defines `needle`
    // (ranked last by path, so the definition tier is exercised).
    let body: String = (0..450)
        .map(|i| format!("let x{i} = needle + {i};\n"))
        .collect();
    for f in 0..240 {
        write(&src, &format!("src/m{f:03}.rs"), body.as_bytes());
    }
    let defs = b"pub fn needle() -> u32 {\n    needle_count()\n}\n";
    write(&src, "zz/vendor/defs.rs", defs);
    let bundle = dir.path().join("b");
    index(&[&src], &bundle, &[]);
    let engine = Engine::open(&bundle, Model::None).unwrap();
    let deadline = || Deadline::after(std::time::Duration::from_secs(120));

    let all = engine
        .search(&request("needle", false, 1000, None), &deadline())
        .unwrap();
    assert_eq!(all.stats.truncation(), None);
    let all = keys(&all.hits);
    assert_eq!(all.len(), 240 * 450 + 2);
    assert_eq!(all[0].1, "zz/vendor/defs.rs", "definitions come first");

    let mut paged = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let r = engine
            .search(&request("needle", true, 1000, cursor), &deadline())
            .unwrap();
        pages += 1;
        assert!(r.hits.len() <= 1000);
        paged.extend(keys(&r.hits));
        match r.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
        assert!(pages < 1000, "paging does not end");
    }
    assert_eq!(pages, all.len().div_ceil(1000));
    assert_eq!(paged.len(), all.len());
    assert!(paged == all, "paged hits differ from the unpaged search");
}
