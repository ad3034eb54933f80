//! The one sanitiser for text that comes from a worker or a host (a Hello's
//! version, a remote worker's stderr, an error a worker's frame provoked):
//! such text is shown on a terminal, written in events and in JSON, so it
//! must not carry terminal control sequences or reorder what is around it,
//! and it must stay short whatever the other side sends.
//!
//! Every control character (C0 but the tab, DEL, C1: ESC and CSI included)
//! and every Unicode bidirectional override or isolate becomes U+FFFD; the
//! text is cut at [`MAX_CHARS`] characters, marked " […]".

/// The most characters of outside text shown in one place.
pub const MAX_CHARS: usize = 600;

/// The mark of a cut text.
pub const CUT: &str = " […]";

/// Whether `c` could change how a terminal shows what follows it.
fn is_unsafe(c: char) -> bool {
    (c.is_control() && c != '\t')
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}')
}

/// `text` made safe to show: unsafe characters replaced, at most
/// [`MAX_CHARS`] characters kept.
pub fn text(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(4 * MAX_CHARS));
    for (i, c) in text.chars().enumerate() {
        if i == MAX_CHARS {
            out.push_str(CUT);
            break;
        }
        out.push(if is_unsafe(c) { '\u{fffd}' } else { c });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_codes_and_controls_are_replaced() {
        assert_eq!(
            text("0.1.0\x1b[2J\x1b]0;title\x07"),
            "0.1.0\u{fffd}[2J\u{fffd}]0;title\u{fffd}"
        );
        assert_eq!(
            text("a\rb\nc\x00d\x7fe\u{9b}f"),
            "a\u{fffd}b\u{fffd}c\u{fffd}d\u{fffd}e\u{fffd}f"
        );
        assert_eq!(text("tab\tstays"), "tab\tstays");
        assert_eq!(text("abc\u{202e}fed"), "abc\u{fffd}fed");
        assert_eq!(text("héllo wörld ✓"), "héllo wörld ✓");
    }

    #[test]
    fn long_text_is_cut_and_marked() {
        let long = "é".repeat(10 * MAX_CHARS);
        let got = text(&long);
        assert_eq!(got.chars().count(), MAX_CHARS + CUT.chars().count());
        assert!(got.ends_with(CUT));
        let exact = "x".repeat(MAX_CHARS);
        assert_eq!(text(&exact), exact, "not cut at the limit itself");
    }
}
