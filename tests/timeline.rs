//! `supervisor timeline`: a real run with real deaths, drawn from its
//! `--events` file; the picture is parsed with a real XML parser and checked
//! against the events: one lane per worker slot, one death mark per `died`
//! event, one chunk bar per finished chunk.

mod common;

use common::{BIN, serial};
use serde_json::Value;
use std::process::Command;

/// The events of a file, parsed.
fn events_of(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Whether an element's class list has `name`.
fn has_class(node: &roxmltree::Node, name: &str) -> bool {
    node.attribute("class")
        .is_some_and(|c| c.split_whitespace().any(|w| w == name))
}

#[test]
fn a_run_with_deaths_is_drawn_lane_by_lane() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("run.jsonl");
    let svg = dir.path().join("run.svg");
    // Two deaths that do not depend on timing: a segfault and an abort.
    let run = Command::new(BIN)
        .args(["--procs", "3", "--max", "20000000", "--quiet", "--json"])
        .args(["--inject", "segv:1", "--inject", "abort:2", "--events"])
        .arg(&events)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "{run:?}");
    let drawn = Command::new(BIN)
        .arg("timeline")
        .arg(&events)
        .arg("-o")
        .arg(&svg)
        .output()
        .unwrap();
    assert_eq!(drawn.status.code(), Some(0), "{drawn:?}");
    // To stdout: a full disk loses the picture (exit 1, one line), a
    // reader that left early does not.
    let full = Command::new(BIN)
        .arg("timeline")
        .arg(&events)
        .args(["-o", "-"])
        .stdout(std::fs::File::create("/dev/full").unwrap())
        .output()
        .unwrap();
    assert_eq!(full.status.code(), Some(1), "{full:?}");
    let said = String::from_utf8_lossy(&full.stderr);
    assert!(
        said.lines().count() == 1 && said.contains("cannot write"),
        "{said}"
    );
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let left = Command::new(BIN)
        .arg("timeline")
        .arg(&events)
        .args(["-o", "-"])
        .stdout(writer)
        .output()
        .unwrap();
    assert_eq!(left.status.code(), Some(0), "{left:?}");

    let events = events_of(&events);
    let count = |name: &str| events.iter().filter(|e| e["event"] == name).count();
    let mut slots: Vec<u64> = events
        .iter()
        .filter(|e| e["event"] == "started")
        .map(|e| e["slot"].as_u64().unwrap())
        .collect();
    slots.sort_unstable();
    slots.dedup();
    assert!(count("died") >= 2, "{events:?}");

    let text = std::fs::read_to_string(&svg).unwrap();
    let doc = roxmltree::Document::parse(&text).expect("the picture is well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(
        root.tag_name().namespace(),
        Some("http://www.w3.org/2000/svg")
    );
    let lanes: Vec<u64> = doc
        .descendants()
        .filter(|n| n.tag_name().name() == "g" && has_class(n, "lane"))
        .map(|n| n.attribute("data-slot").unwrap().parse().unwrap())
        .collect();
    assert_eq!(lanes, slots, "one lane per slot, in order");
    let deaths = doc.descendants().filter(|n| has_class(n, "death")).count();
    assert_eq!(deaths, count("died"), "one death mark per death event");
    let bars = doc
        .descendants()
        .filter(|n| has_class(n, "chunk") && !has_class(n, "lost"))
        .count();
    assert_eq!(bars, count("finished"), "one bar per finished chunk");
    assert!(
        doc.descendants().any(|n| has_class(&n, "legend")),
        "a legend"
    );
}

#[test]
fn what_is_not_an_events_file_is_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "not json\n").unwrap();
    for path in [bad, dir.path().join("missing.jsonl")] {
        let done = Command::new(BIN)
            .arg("timeline")
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(done.status.code(), Some(2), "{done:?}");
        assert_eq!(
            String::from_utf8_lossy(&done.stderr).lines().count(),
            1,
            "{done:?}"
        );
    }
}
