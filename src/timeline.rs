//! `supervisor timeline`: a picture of a run, drawn from its `--events` file
//! as SVG. One lane per worker slot, grouped by host, over a time axis; each
//! chunk a bar (from its `assigned` event to its `finished`, or to the death
//! that lost it); stalls, kills, deaths, replacements, requeues, splits,
//! quarantines, hosts going down and the run's stop marked with short
//! labels (and the whole event as a tooltip); a legend. The drawing is
//! built with the `svg` crate, never by pasting strings.
//!
//! The events file is input from outside: a line that is not a JSON event
//! is refused, naming its line; events this version does not know are
//! skipped.

use crate::stdio::{self, say};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use svg::Document;
use svg::node::element::{Circle, Group, Line, Polygon, Rectangle, Text, Title};

/// The picture's width, and its margins, in SVG units.
const WIDTH: f64 = 1200.0;
const LEFT: f64 = 190.0;
const RIGHT: f64 = 30.0;
const TOP: f64 = 56.0;
/// One lane's height, a host header's, and a chunk bar's.
const LANE: f64 = 26.0;
const HOST: f64 = 22.0;
const BAR: f64 = 12.0;

/// What a mark on a lane stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Stalled,
    Killed,
    Died,
    Abandoned,
    Replaced,
    Requeued,
    Split,
    Quarantined,
    HostDown,
    Stopped,
    /// The run paused (Ctrl-Z) or continued, or a worker could not start.
    Paused,
    StartFailed,
    /// A wrong answer caught: a double-check's mismatch, a chunk the Σσ
    /// identity refuted, a host's chunks revoked.
    Caught,
}

impl Kind {
    /// The mark's class in the SVG (what a test or a stylesheet selects).
    fn class(self) -> &'static str {
        match self {
            Kind::Stalled => "marker stall",
            Kind::Killed => "marker kill",
            Kind::Died => "marker death",
            Kind::Abandoned => "marker death abandoned",
            Kind::Replaced => "marker replacement",
            Kind::Requeued => "marker requeue",
            Kind::Split => "marker split",
            Kind::Quarantined => "marker quarantine",
            Kind::HostDown => "marker host-down",
            Kind::Stopped => "marker stop",
            Kind::Paused => "marker pause",
            Kind::StartFailed => "marker start-failed",
            Kind::Caught => "marker caught",
        }
    }

    /// Its colour.
    fn colour(self) -> &'static str {
        match self {
            Kind::Stalled => "#e69f00",
            Kind::Killed => "#7f0000",
            Kind::Died => "#d62728",
            Kind::Abandoned => "#7f7f7f",
            Kind::Replaced => "#2ca02c",
            Kind::Requeued => "#1f77b4",
            Kind::Split => "#9467bd",
            Kind::Quarantined => "#e377c2",
            Kind::HostDown => "#000000",
            Kind::Stopped => "#000000",
            Kind::Paused => "#17becf",
            Kind::StartFailed => "#bcbd22",
            Kind::Caught => "#ff7f0e",
        }
    }

    /// The legend's words for it.
    fn legend(self) -> &'static str {
        match self {
            Kind::Stalled => "stalled",
            Kind::Killed => "killed",
            Kind::Died => "died",
            Kind::Abandoned => "abandoned (thread)",
            Kind::Replaced => "replaced",
            Kind::Requeued => "chunk requeued",
            Kind::Split => "chunk split",
            Kind::Quarantined => "quarantined",
            Kind::HostDown => "host down",
            Kind::Stopped => "run stopped",
            Kind::Paused => "paused / continued",
            Kind::StartFailed => "could not start",
            Kind::Caught => "wrong answer caught",
        }
    }

    const ALL: [Kind; 13] = [
        Kind::Stalled,
        Kind::Killed,
        Kind::Died,
        Kind::Abandoned,
        Kind::Replaced,
        Kind::Requeued,
        Kind::Split,
        Kind::Quarantined,
        Kind::HostDown,
        Kind::Stopped,
        Kind::Paused,
        Kind::StartFailed,
        Kind::Caught,
    ];
}

/// One mark: where, when, a short label and the whole story.
#[derive(Clone, Debug)]
struct Mark {
    /// The lane, or `None` for the run's own row.
    slot: Option<usize>,
    t: f64,
    kind: Kind,
    label: String,
    detail: String,
}

/// One chunk's time on a worker.
#[derive(Clone, Debug)]
struct Bar {
    slot: usize,
    from: f64,
    to: f64,
    id: u64,
    lo: u64,
    hi: u64,
    /// Its worker died (or the run stopped) before it finished.
    lost: bool,
}

/// A run as its events tell it.
#[derive(Debug, Default)]
struct Run {
    /// Slots and their hosts, in the order hosts first appear.
    hosts: Vec<(String, Vec<usize>)>,
    bars: Vec<Bar>,
    marks: Vec<Mark>,
    /// The last event's time.
    end: f64,
    deaths: usize,
}

/// What was drawn, besides the SVG itself.
#[derive(Debug)]
pub struct Drawn {
    pub svg: String,
    /// Worker slots, one lane each.
    pub lanes: usize,
    /// Chunk bars.
    pub chunks: usize,
    /// Death marks, one per `died` event.
    pub deaths: usize,
}

/// `supervisor timeline EVENTS [-o OUT]`: draws and writes the picture
/// (to `OUT`, `-` for stdout, or EVENTS with the extension `.svg`); 0 on
/// success, 2 when the events file cannot be read or is not one, 1 when the
/// picture cannot be written.
pub fn run(events: &Path, output: Option<&Path>) -> i32 {
    let fail = |why: String, code: i32| {
        say(&format!("supervisor timeline: error: {why}"));
        code
    };
    let text = match std::fs::read_to_string(events) {
        Ok(text) => text,
        Err(e) => return fail(format!("{}: {e}", events.display()), 2),
    };
    let drawn = match draw(&text) {
        Ok(drawn) => drawn,
        Err(why) => return fail(format!("{}: {why}", events.display()), 2),
    };
    let out: PathBuf = output.map_or_else(|| events.with_extension("svg"), Path::to_path_buf);
    if out == Path::new("-") {
        return match stdio::print(&drawn.svg) {
            Ok(()) => 0,
            Err(e) => fail(format!("cannot write the picture: {e}"), 1),
        };
    }
    if let Err(e) = std::fs::write(&out, &drawn.svg) {
        return fail(format!("{}: {e}", out.display()), 1);
    }
    say(&format!(
        "supervisor timeline: wrote {} ({} lanes, {} chunks, {} deaths)",
        out.display(),
        drawn.lanes,
        drawn.chunks,
        drawn.deaths
    ));
    0
}

/// Draws the run told by `events` (JSON lines, as `--events` writes them).
pub fn draw(events: &str) -> Result<Drawn, String> {
    let run = read(events)?;
    let lanes = run.hosts.iter().map(|(_, slots)| slots.len()).sum();
    Ok(Drawn {
        svg: picture(&run).to_string(),
        lanes,
        chunks: run.bars.len(),
        deaths: run.deaths,
    })
}

/// A chunk as events carry it: `{id, lo, hi}`.
fn chunk_of(v: &Value) -> Option<(u64, u64, u64)> {
    Some((v["id"].as_u64()?, v["lo"].as_u64()?, v["hi"].as_u64()?))
}

/// The chunk in flight on each slot: (id, lo, hi, since).
type Open = HashMap<usize, (u64, u64, u64, f64)>;

/// Ends the bar of the chunk in flight on `slot` at `t` (finished, or
/// `lost` with its worker), if there is one.
fn close_bar(open: &mut Open, bars: &mut Vec<Bar>, slot: usize, t: f64, lost: bool) {
    if let Some((id, lo, hi, from)) = open.remove(&slot) {
        bars.push(Bar {
            slot,
            from,
            to: t,
            id,
            lo,
            hi,
            lost,
        });
    }
}

/// Reads the events into a [`Run`].
fn read(events: &str) -> Result<Run, String> {
    let mut run = Run::default();
    let mut open = Open::new();
    // Per chunk id, the slot it was last on, for chunk-level marks.
    let mut chunk_slot: HashMap<u64, usize> = HashMap::new();
    let mut host_of: BTreeMap<usize, String> = BTreeMap::new();
    let mut seen_any = false;
    for (i, line) in events.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = || format!("line {}", i + 1);
        let e: Value = serde_json::from_str(line)
            .map_err(|err| format!("{}: not a JSON event ({err})", at()))?;
        let (Some(name), Some(t)) = (e["event"].as_str(), e["t"].as_f64()) else {
            return Err(format!("{}: an event needs \"event\" and \"t\"", at()));
        };
        if !t.is_finite() || t < 0.0 {
            return Err(format!("{}: \"t\" must be a time in seconds", at()));
        }
        seen_any = true;
        run.end = run.end.max(t);
        let slot = e["slot"].as_u64().map(|s| s as usize);
        let mut mark = |slot: Option<usize>, kind: Kind, label: String| {
            run.marks.push(Mark {
                slot,
                t,
                kind,
                label,
                detail: line.to_string(),
            });
        };
        match (name, slot) {
            ("started", Some(slot)) => {
                let host = e["host"].as_str().unwrap_or("localhost").to_string();
                host_of.entry(slot).or_insert_with(|| host.clone());
                match run.hosts.iter_mut().find(|(h, _)| *h == host) {
                    Some((_, slots)) if !slots.contains(&slot) => slots.push(slot),
                    Some(_) => {}
                    None => run.hosts.push((host, vec![slot])),
                }
            }
            ("assigned", Some(slot)) => {
                if let Some((id, lo, hi)) = chunk_of(&e["chunk"]) {
                    open.insert(slot, (id, lo, hi, t));
                    chunk_slot.insert(id, slot);
                }
            }
            ("finished", Some(slot)) => close_bar(&mut open, &mut run.bars, slot, t, false),
            ("stalled", Some(slot)) => {
                let silent = e["silent_s"].as_f64().unwrap_or(0.0);
                mark(Some(slot), Kind::Stalled, format!("stalled {silent:.1}s"));
            }
            ("killed", Some(slot)) => mark(Some(slot), Kind::Killed, "killed".into()),
            ("died", Some(slot)) => {
                let status = e["status"].as_str().unwrap_or("");
                let (kind, label) = if status == crate::launch::ABANDONED {
                    (Kind::Abandoned, "abandoned".to_string())
                } else {
                    // `signal 9 (SIGKILL)` → `SIGKILL`; `exit code 7` → `exit 7`.
                    let short = match (status.find('('), status.strip_prefix("exit code ")) {
                        (_, Some(code)) => format!("exit {code}"),
                        (Some(open), None) => status[open + 1..].trim_end_matches(')').to_string(),
                        (None, None) => "died".to_string(),
                    };
                    (Kind::Died, short)
                };
                mark(Some(slot), kind, label);
                run.deaths += 1;
                close_bar(&mut open, &mut run.bars, slot, t, true);
                if let Some((id, ..)) = chunk_of(&e["chunk"]) {
                    chunk_slot.insert(id, slot);
                }
            }
            ("replaced", Some(slot)) => {
                let pid = e["new_pid"].as_i64().unwrap_or(0);
                mark(Some(slot), Kind::Replaced, format!("new {pid}"));
            }
            ("requeued", _) | ("split", _) | ("quarantined", _) => {
                let on = chunk_of(&e["chunk"]).and_then(|(id, ..)| chunk_slot.get(&id).copied());
                let kind = match name {
                    "requeued" => Kind::Requeued,
                    "split" => Kind::Split,
                    _ => Kind::Quarantined,
                };
                mark(on, kind, kind.legend().replace("chunk ", ""));
            }
            ("host_down", _) | ("refuted", _) | ("revoked", _) => {
                let host = e["host"].as_str().unwrap_or("");
                let slots: Vec<usize> = host_of
                    .iter()
                    .filter(|(_, h)| *h == host)
                    .map(|(&s, _)| s)
                    .collect();
                let (kind, label) = match name {
                    "host_down" => (Kind::HostDown, "host down".to_string()),
                    "refuted" => (Kind::Caught, "Σσ refuted".to_string()),
                    _ => (
                        Kind::Caught,
                        format!("{} chunks revoked", e["chunks"].as_u64().unwrap_or(0)),
                    ),
                };
                for s in slots {
                    mark(Some(s), kind, label.clone());
                }
            }
            ("mismatch", _) => mark(None, Kind::Caught, "answers differ".into()),
            ("paused", _) => mark(None, Kind::Paused, "paused".into()),
            ("continued", _) => mark(None, Kind::Paused, "continued".into()),
            ("start_failed", Some(slot)) => {
                mark(Some(slot), Kind::StartFailed, "could not start".into())
            }
            ("shutdown", _) => {
                let reason = e["reason"].as_str().unwrap_or("");
                let short: String = reason.chars().take(40).collect();
                mark(None, Kind::Stopped, format!("stop: {short}"));
            }
            // Connected, stderr lines, checkpoints, recovery: in the
            // tooltips of the marks around them, not marks of their own.
            _ => {}
        }
    }
    if !seen_any {
        return Err("no events in it (was the run given --events FILE?)".to_string());
    }
    // A slot that appears only in later events still gets its lane.
    for slot in run
        .bars
        .iter()
        .map(|b| b.slot)
        .chain(run.marks.iter().filter_map(|m| m.slot))
    {
        if !run.hosts.iter().any(|(_, slots)| slots.contains(&slot)) {
            match run.hosts.iter_mut().find(|(h, _)| h == "localhost") {
                Some((_, slots)) => slots.push(slot),
                None => run.hosts.push(("localhost".to_string(), vec![slot])),
            }
        }
    }
    for (_, slots) in &mut run.hosts {
        slots.sort_unstable();
    }
    // Chunks still in flight at the end: the run stopped under them.
    for (slot, (id, lo, hi, from)) in open {
        run.bars.push(Bar {
            slot,
            from,
            to: run.end,
            id,
            lo,
            hi,
            lost: true,
        });
    }
    Ok(run)
}

/// A round step for about `n` ticks over `span` seconds: 1, 2 or 5 × 10^k.
fn tick_step(span: f64, n: f64) -> f64 {
    let raw = (span / n).max(1e-6);
    let base = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * base)
        .find(|&step| step >= raw)
        .unwrap_or(10.0 * base)
}

/// Text at (x, y).
fn text(x: f64, y: f64, size: f64, content: impl Into<String>) -> Text {
    Text::new(content)
        .set("x", x)
        .set("y", y)
        .set("font-size", size)
        .set("font-family", "sans-serif")
}

/// A mark's shape at (x, y), the centre of its lane.
fn shape(kind: Kind, x: f64, y: f64) -> Group {
    let c = kind.colour();
    let h = BAR / 2.0 + 3.0;
    let g = Group::new();
    match kind {
        Kind::Died | Kind::Abandoned => g.add(
            Circle::new()
                .set("cx", x)
                .set("cy", y)
                .set("r", 5)
                .set("fill", c)
                .set("stroke", "white"),
        ),
        Kind::Stalled => g.add(
            Polygon::new()
                .set(
                    "points",
                    format!(
                        "{},{} {},{} {},{}",
                        x - 5.0,
                        y - h - 6.0,
                        x + 5.0,
                        y - h - 6.0,
                        x,
                        y - h
                    ),
                )
                .set("fill", c),
        ),
        Kind::Replaced => g.add(
            Polygon::new()
                .set(
                    "points",
                    format!(
                        "{},{} {},{} {},{} {},{}",
                        x,
                        y - 5.0,
                        x + 5.0,
                        y,
                        x,
                        y + 5.0,
                        x - 5.0,
                        y
                    ),
                )
                .set("fill", c)
                .set("stroke", "white"),
        ),
        Kind::Requeued | Kind::Split | Kind::Quarantined => g.add(
            Polygon::new()
                .set(
                    "points",
                    format!(
                        "{},{} {},{} {},{}",
                        x - 5.0,
                        y + h + 6.0,
                        x + 5.0,
                        y + h + 6.0,
                        x,
                        y + h
                    ),
                )
                .set("fill", c),
        ),
        Kind::Killed
        | Kind::HostDown
        | Kind::Stopped
        | Kind::Paused
        | Kind::StartFailed
        | Kind::Caught => g.add(
            Line::new()
                .set("x1", x)
                .set("x2", x)
                .set("y1", y - h)
                .set("y2", y + h)
                .set("stroke", c)
                .set("stroke-width", 2),
        ),
    }
}

/// The whole picture.
fn picture(run: &Run) -> Document {
    let lanes: usize = run.hosts.iter().map(|(_, s)| s.len()).sum();
    let plot_w = WIDTH - LEFT - RIGHT;
    let span = run.end.max(1e-3);
    let x_of = |t: f64| LEFT + (t / span).clamp(0.0, 1.0) * plot_w;
    let body_h = LANE + run.hosts.len() as f64 * HOST + lanes as f64 * LANE;
    let axis_y = TOP + body_h + 8.0;
    let legend_y = axis_y + 56.0;
    let height = legend_y + 50.0;

    let mut doc = Document::new()
        .set("viewBox", (0, 0, WIDTH, height))
        .set("width", WIDTH)
        .set("height", height)
        .add(Title::new("supervisor timeline"))
        .add(
            Rectangle::new()
                .set("width", "100%")
                .set("height", "100%")
                .set("fill", "white"),
        )
        .add(text(
            LEFT,
            24.0,
            15.0,
            format!(
                "A run of {lanes} worker slot{} on {} host{}, {:.2} s: {} chunks, {} death{}",
                if lanes == 1 { "" } else { "s" },
                run.hosts.len(),
                if run.hosts.len() == 1 { "" } else { "s" },
                run.end,
                run.bars.len(),
                run.deaths,
                if run.deaths == 1 { "" } else { "s" },
            ),
        ));

    // The run's own row (its stop, and chunk marks whose slot is unknown).
    let mut y = TOP;
    let mut row =
        Group::new()
            .set("class", "run")
            .add(text(10.0, y + LANE / 2.0 + 4.0, 11.0, "run"));
    let mut labels = Labels::default();
    for m in run.marks.iter().filter(|m| m.slot.is_none()) {
        row = row.add(mark(m, x_of(m.t), y + LANE / 2.0, &mut labels));
    }
    doc = doc.add(row);
    y += LANE;

    for (host, slots) in &run.hosts {
        let mut group = Group::new()
            .set("class", "host")
            .set("data-host", host.as_str())
            .add(text(10.0, y + HOST - 6.0, 12.0, host.as_str()).set("font-weight", "bold"));
        y += HOST;
        for &slot in slots {
            let mid = y + LANE / 2.0;
            let mut lane = Group::new()
                .set("class", "lane")
                .set("data-slot", slot)
                .set("data-host", host.as_str())
                .add(
                    Rectangle::new()
                        .set("x", LEFT)
                        .set("y", y + 2.0)
                        .set("width", plot_w)
                        .set("height", LANE - 4.0)
                        .set("fill", "#f4f4f4"),
                )
                .add(text(24.0, mid + 4.0, 11.0, format!("worker {slot}")));
            for b in run.bars.iter().filter(|b| b.slot == slot) {
                let x0 = x_of(b.from);
                let w = (x_of(b.to) - x0).max(1.0);
                let fill = match (b.lost, b.id % 2) {
                    (true, _) => "#f4a6a6",
                    (false, 0) => "#6baed6",
                    (false, _) => "#3182bd",
                };
                lane = lane.add(
                    Rectangle::new()
                        .set("class", if b.lost { "chunk lost" } else { "chunk" })
                        .set("x", x0)
                        .set("y", mid - BAR / 2.0)
                        .set("width", w)
                        .set("height", BAR)
                        .set("fill", fill)
                        .add(Title::new(format!(
                            "chunk {} [{}, {}]: {:.3} s to {:.3} s{}",
                            b.id,
                            b.lo,
                            b.hi,
                            b.from,
                            b.to,
                            if b.lost { ", lost with its worker" } else { "" }
                        ))),
                );
            }
            let mut labels = Labels::default();
            for m in run.marks.iter().filter(|m| m.slot == Some(slot)) {
                lane = lane.add(mark(m, x_of(m.t), mid, &mut labels));
            }
            group = group.add(lane);
            y += LANE;
        }
        doc = doc.add(group);
    }

    // The time axis.
    let mut axis = Group::new().set("class", "axis").add(
        Line::new()
            .set("x1", LEFT)
            .set("x2", LEFT + plot_w)
            .set("y1", axis_y)
            .set("y2", axis_y)
            .set("stroke", "#333"),
    );
    let step = tick_step(span, 8.0);
    let mut t = 0.0;
    while t <= span + step * 1e-9 {
        let x = x_of(t);
        axis = axis
            .add(
                Line::new()
                    .set("x1", x)
                    .set("x2", x)
                    .set("y1", axis_y)
                    .set("y2", axis_y + 5.0)
                    .set("stroke", "#333"),
            )
            .add(text(x, axis_y + 18.0, 10.0, round_label(t, step)).set("text-anchor", "middle"));
        t += step;
    }
    axis = axis.add(
        text(
            LEFT + plot_w / 2.0,
            axis_y + 32.0,
            11.0,
            "seconds since the start",
        )
        .set("text-anchor", "middle"),
    );
    doc = doc.add(axis);

    // The legend.
    let mut legend = Group::new().set("class", "legend");
    let mut x = 10.0;
    let add_entry = |legend: Group, swatch: Group, words: &str, x: &mut f64| {
        let g = legend
            .add(swatch)
            .add(text(*x + 14.0, legend_y + 4.0, 10.0, words));
        *x += 22.0 + words.chars().count() as f64 * 5.6;
        g
    };
    for (fill, words) in [("#3182bd", "chunk"), ("#f4a6a6", "chunk lost")] {
        let swatch = Group::new().add(
            Rectangle::new()
                .set("x", x)
                .set("y", legend_y - BAR / 2.0)
                .set("width", 10)
                .set("height", BAR)
                .set("fill", fill),
        );
        legend = add_entry(legend, swatch, words, &mut x);
    }
    for kind in Kind::ALL {
        // Shapes drawn above or below a bar are brought to the line.
        let h = BAR / 2.0 + 3.0 + 3.0;
        let y = match kind {
            Kind::Stalled => legend_y + h,
            Kind::Requeued | Kind::Split | Kind::Quarantined => legend_y - h,
            _ => legend_y,
        };
        let swatch = shape(kind, x + 5.0, y);
        legend = add_entry(legend, swatch, kind.legend(), &mut x);
        if x > WIDTH - 120.0 {
            break;
        }
    }
    doc.add(legend)
}

/// A tick's label: as many decimals as the step needs.
fn round_label(t: f64, step: f64) -> String {
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10()).ceil() as usize
    };
    format!("{t:.decimals$}")
}

/// Where labels may go on one row, above and below the bars: the first
/// free x on each, so that marks close in time do not print over each
/// other.
#[derive(Default)]
struct Labels {
    above: f64,
    below: f64,
}

/// A mark at (x, y): its shape, a short label placed after the row's
/// previous one, and the event as a tooltip.
fn mark(m: &Mark, x: f64, y: f64, labels: &mut Labels) -> Group {
    let below = matches!(m.kind, Kind::Requeued | Kind::Split | Kind::Quarantined);
    let (label_y, free) = if below {
        (y + LANE / 2.0 + 9.0, &mut labels.below)
    } else {
        (y - BAR / 2.0 - 3.0, &mut labels.above)
    };
    // About 4.6 units a character at this size.
    let width = m.label.chars().count() as f64 * 4.6;
    let mut label_x = (x + 4.0).max(*free);
    if label_x + width > WIDTH - 2.0 {
        // No room on the right: before the mark instead.
        label_x = (x - 4.0 - width).max(LEFT);
    }
    *free = label_x + width + 4.0;
    shape(m.kind, x, y)
        .set("class", m.kind.class())
        .add(Title::new(m.detail.clone()))
        .add(text(label_x, label_y, 8.0, m.label.clone()).set("fill", m.kind.colour()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUN: &str = r#"{"t":0.0,"event":"started","slot":0,"pid":10,"host":"localhost"}
{"t":0.0,"event":"started","slot":1,"pid":11,"host":"localhost"}
{"t":0.01,"event":"assigned","slot":0,"chunk":{"id":0,"lo":1,"hi":100}}
{"t":0.01,"event":"assigned","slot":1,"chunk":{"id":1,"lo":101,"hi":200}}
{"t":0.5,"event":"finished","slot":0,"chunk":{"id":0,"lo":1,"hi":100}}
{"t":0.6,"event":"stalled","slot":1,"pid":11,"silent_s":0.5,"chunk":{"id":1,"lo":101,"hi":200}}
{"t":0.6,"event":"killed","slot":1,"pid":11,"why":"stalled 0.5s"}
{"t":0.61,"event":"died","slot":1,"pid":11,"host":"localhost","status":"signal 9 (SIGKILL)","cause":"stalled 0.5s","chunk":{"id":1,"lo":101,"hi":200}}
{"t":0.61,"event":"requeued","chunk":{"id":1,"lo":101,"hi":200},"failures":1}
{"t":0.62,"event":"started","slot":1,"pid":12,"host":"localhost"}
{"t":0.62,"event":"replaced","slot":1,"old_pid":11,"new_pid":12}
{"t":0.62,"event":"assigned","slot":0,"chunk":{"id":1,"lo":101,"hi":200}}
{"t":1.0,"event":"finished","slot":0,"chunk":{"id":1,"lo":101,"hi":200}}
{"t":1.0,"event":"some_future_event","slot":0}
"#;

    #[test]
    fn reads_chunks_marks_and_lanes() {
        let run = read(RUN).unwrap();
        assert_eq!(run.hosts, vec![("localhost".to_string(), vec![0, 1])]);
        assert_eq!(run.bars.len(), 3);
        assert_eq!(run.bars.iter().filter(|b| b.lost).count(), 1);
        assert_eq!(run.deaths, 1);
        let kinds: Vec<Kind> = run.marks.iter().map(|m| m.kind).collect();
        assert_eq!(
            kinds,
            [
                Kind::Stalled,
                Kind::Killed,
                Kind::Died,
                Kind::Requeued,
                Kind::Replaced
            ]
        );
        // The requeue is drawn on the lane that lost the chunk.
        assert_eq!(run.marks[3].slot, Some(1));
        assert_eq!(run.marks[2].label, "SIGKILL");
        assert_eq!(run.end, 1.0);
    }

    #[test]
    fn wrong_answers_caught_are_marked_on_the_liar_s_lanes() {
        let events = r#"{"t":0.0,"event":"started","slot":0,"pid":10,"host":"localhost"}
{"t":0.0,"event":"started","slot":1,"pid":11,"host":"liar"}
{"t":0.2,"event":"mismatch","check":0,"lo":1,"hi":100,"hosts":["liar","localhost"],"what":"abundant differs: 3 against 1"}
{"t":0.3,"event":"refuted","lo":101,"hi":200,"host":"liar","claimed":9,"identity":8}
{"t":0.3,"event":"revoked","host":"liar","chunks":4,"numbers":400,"why":"lied"}
{"t":0.3,"event":"host_down","host":"liar","failures":0,"reason":"untrustworthy: lied"}
"#;
        let run = read(events).unwrap();
        let caught: Vec<(Option<usize>, &str)> = run
            .marks
            .iter()
            .filter(|m| m.kind == Kind::Caught)
            .map(|m| (m.slot, m.label.as_str()))
            .collect();
        assert_eq!(
            caught,
            [
                (None, "answers differ"),
                (Some(1), "Σσ refuted"),
                (Some(1), "4 chunks revoked")
            ]
        );
        assert!(draw(events).unwrap().svg.contains("marker caught"));
    }

    #[test]
    fn refuses_what_is_not_an_events_file() {
        for (text, needle) in [
            ("", "no events"),
            ("hello\n", "line 1: not a JSON event"),
            (
                "{\"t\":0.1,\"event\":\"started\",\"slot\":0}\n[1]\n",
                "line 2",
            ),
            ("{\"event\":\"started\"}\n", "needs \"event\" and \"t\""),
            ("{\"t\":-1,\"event\":\"started\"}\n", "a time in seconds"),
        ] {
            let err = draw(text).unwrap_err();
            assert!(err.contains(needle), "{text:?}: {err}");
        }
    }

    #[test]
    fn ticks_are_round() {
        assert_eq!(tick_step(10.0, 8.0), 2.0);
        assert_eq!(tick_step(0.5, 8.0), 0.1);
        assert_eq!(tick_step(100.0, 8.0), 20.0);
        assert_eq!(round_label(0.30000000000000004, 0.1), "0.3");
    }
}
