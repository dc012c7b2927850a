//! Text from another device, made safe to show on a terminal. Pure: no I/O.
//!
//! Names, device labels, tags, entry bodies, replies and pairing introductions come from
//! devices this one does not control. A terminal acts on control characters in them: an
//! ESC sequence moves the cursor, clears the screen or hides text; a carriage return
//! writes over a line; a C1 control such as U+009B is ESC `[` to some terminals; and the
//! Unicode bidirectional controls reorder how a line reads. Such a character is never
//! printed as it is: it is shown as `\u{XX}`, its code point in lowercase hex the way Rust
//! writes it (ESC is `\u{1b}`, a carriage return `\u{d}`, U+202E `\u{202e}`). Text is
//! stored as received; only what is shown is escaped.
//!
//! The characters escaped ([`is_unsafe`]): every C0 control (U+0000–U+001F), DEL (U+007F)
//! and every C1 control (U+0080–U+009F); the bidi embeddings and overrides
//! U+202A–U+202E, the isolates U+2066–U+2069 and the marks U+200E, U+200F and U+061C; and
//! the line and paragraph separators U+2028 and U+2029. In an entry's text ([`body`]) a
//! newline and a tab stay as they are; everywhere else ([`line`]) they are escaped too.
//!
//! A name, device label or tag with such a character, or empty, or longer than
//! [`MAX_FIELD`] characters is "not valid" ([`problem`]): it is kept as it is (refusing a
//! change that a peer offers again at every sync would wedge sync), and shown escaped, cut
//! to [`MAX_FIELD`] characters and marked ([`field`]), e.g.
//! `Bob\u{1b}[2J (name not valid: control characters)`.

use std::borrow::Cow;
use std::fmt::Write;

/// The longest name, device label or tag that is valid, in characters.
pub const MAX_FIELD: usize = 64;

/// Must `c` never reach a terminal as it is?
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{2028}' | '\u{2029}'
        )
}

/// How an escaped character is written.
#[derive(Clone, Copy)]
enum Form {
    /// `\u{1b}`, for people.
    Rust,
    /// `\u001b`, inside JSON strings (every unsafe character is in the Basic Multilingual
    /// Plane: one escape each).
    Json,
}

/// `s` with every unsafe character but those `keep` names written in `form`.
fn escape(s: &str, keep: impl Fn(char) -> bool, form: Form) -> Cow<'_, str> {
    let unsafe_at = |c: char| is_unsafe(c) && !keep(c);
    if !s.chars().any(unsafe_at) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if !unsafe_at(c) {
            out.push(c);
        } else if let Form::Rust = form {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            let _ = write!(out, "\\u{:04x}", c as u32);
        }
    }
    Cow::Owned(out)
}

fn newline_or_tab(c: char) -> bool {
    c == '\n' || c == '\t'
}

/// One line of text (a name, a label, a tag, an id, a message quoting outside data):
/// every unsafe character escaped, newline and tab included.
pub fn line(s: &str) -> Cow<'_, str> {
    escape(s, |_| false, Form::Rust)
}

/// An entry's text (or a reply's): every unsafe character escaped except newline and tab.
pub fn body(s: &str) -> Cow<'_, str> {
    escape(s, newline_or_tab, Form::Rust)
}

/// What a field from another device is, for the "not valid" mark.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Name,
    Label,
    Tag,
}

impl Field {
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Name => "name",
            Field::Label => "device label",
            Field::Tag => "tag",
        }
    }
}

/// Why a name, device label or tag is not valid (`None` when it is): 1 to [`MAX_FIELD`]
/// characters, none of them unsafe. The same rule as `duo init` applies to names.
pub fn problem(s: &str) -> Option<&'static str> {
    if s.chars().any(is_unsafe) {
        Some("control characters")
    } else if s.trim().is_empty() {
        Some("empty")
    } else if s.chars().count() > MAX_FIELD {
        Some("longer than 64 characters")
    } else {
        None
    }
}

/// A name, device label or tag as shown: as it is when valid; otherwise escaped, cut to
/// [`MAX_FIELD`] characters and marked, e.g. `Bob\u{1b}[2J (name not valid: control
/// characters)`.
pub fn field(what: Field, s: &str) -> Cow<'_, str> {
    let Some(why) = problem(s) else {
        return Cow::Borrowed(s);
    };
    let cut = match s.char_indices().nth(MAX_FIELD) {
        Some((at, _)) => format!("{}…", line(&s[..at])),
        None => line(s).into_owned(),
    };
    Cow::Owned(format!("{cut} ({} not valid: {why})", what.as_str()))
}

/// The first `n` characters of an id, escaped (an id from another device may be short,
/// or hold anything).
pub fn short(id: &str, n: usize) -> Cow<'_, str> {
    match id.char_indices().nth(n) {
        Some((at, _)) => Cow::Owned(line(&id[..at]).into_owned()),
        None => line(id),
    }
}

/// The names of the fields among `fields` that are not valid (see [`problem`]), for the
/// `not_valid` list of `--json` output.
pub fn not_valid<'a>(fields: impl IntoIterator<Item = (&'static str, &'a str)>) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for (name, value) in fields {
        if problem(value).is_some() && !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

/// JSON text made safe for a terminal, still the same JSON: every unsafe character that
/// JSON writers leave as they are in strings (DEL, C1 controls, bidi controls,
/// separators) is written as a `\uXXXX` escape, which reads back as the same string. C0
/// controls are always escaped inside JSON strings, so a newline or tab left in the text
/// is layout and stays; any other C0 control is escaped too.
pub fn json(s: &str) -> Cow<'_, str> {
    escape(s, newline_or_tab, Form::Json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn controls_are_shown_as_rust_escapes() {
        assert_eq!(line("Bob\x1b[2J"), "Bob\\u{1b}[2J");
        assert_eq!(line("a\rb\nc\td"), "a\\u{d}b\\u{a}c\\u{9}d");
        assert_eq!(body("a\rb\nc\td"), "a\\u{d}b\nc\td");
        assert_eq!(line("x\u{9b}31m"), "x\\u{9b}31m");
        assert_eq!(line("\u{7f}"), "\\u{7f}");
        assert_eq!(line("abc\u{202e}fed"), "abc\\u{202e}fed");
        for c in [
            '\u{202a}', '\u{2066}', '\u{2069}', '\u{200e}', '\u{200f}', '\u{61c}', '\u{2028}',
        ] {
            assert!(line(&c.to_string()).starts_with("\\u{"), "{c:?}");
        }
    }

    #[test]
    fn ordinary_text_is_untouched_and_not_copied() {
        for s in ["Alice", "Zoë 🌻", "שלום", "مرحبا", "a\\u{1b}b", "tab\there"] {
            assert!(matches!(body(s), Cow::Borrowed(_)), "{s}");
        }
        assert!(matches!(line("Alice"), Cow::Borrowed(_)));
        assert!(matches!(field(Field::Name, "Alice"), Cow::Borrowed(_)));
    }

    #[test]
    fn a_field_that_is_not_valid_is_marked() {
        assert_eq!(
            field(Field::Name, "Bob\x1b[2J"),
            "Bob\\u{1b}[2J (name not valid: control characters)"
        );
        assert_eq!(
            field(Field::Label, "phone\u{202e}"),
            "phone\\u{202e} (device label not valid: control characters)"
        );
        assert_eq!(field(Field::Tag, " "), "  (tag not valid: empty)");
        let long = "x".repeat(100);
        assert_eq!(
            field(Field::Name, &long),
            format!("{}… (name not valid: longer than 64 characters)", "x".repeat(64))
        );
        assert_eq!(
            not_valid([("author", "Bob\n"), ("tags", "ok"), ("tags", "\u{9b}"), ("tags", "")]),
            ["author", "tags"]
        );
    }

    #[test]
    fn tags_written_here_follow_the_rule_shown_for_others() {
        let ok = crate::normalize_tags(&[" #home ".into(), "long walks".into()]).unwrap();
        assert_eq!(ok, ["home", "long walks"]);
        for bad in ["", "#", "a\u{1b}[8m", "x\u{202e}", "\u{9b}", &"x".repeat(65)] {
            assert!(crate::normalize_tags(&[bad.to_string()]).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_short_id_never_splits_a_character() {
        assert_eq!(short("0123456789abcdef", 8), "01234567");
        assert_eq!(short("ab", 8), "ab");
        assert_eq!(short("abcdefg\u{202e}xyz", 8), "abcdefg\\u{202e}");
        assert_eq!(short("ééééééééé", 8), "éééééééé");
    }

    #[test]
    fn json_stays_the_same_json() {
        let v = serde_json::json!({ "name": "A\u{202e}B\u{9b}C\u{7f}\u{1b}", "n": 1 });
        for text in [
            serde_json::to_string(&v).unwrap(),
            serde_json::to_string_pretty(&v).unwrap(),
        ] {
            let safe = json(&text);
            assert!(!safe.chars().any(|c| is_unsafe(c) && c != '\n'), "{safe}");
            assert_eq!(serde_json::from_str::<serde_json::Value>(&safe).unwrap(), v);
        }
        // Layout stays layout.
        assert_eq!(json("{\n  \"a\": 1\n}"), "{\n  \"a\": 1\n}");
    }

    /// Any text, weighted towards the characters that matter.
    fn hostile() -> impl Strategy<Value = String> {
        let c = prop_oneof![
            any::<char>(),
            prop::char::range('\u{0}', '\u{a0}'),
            prop::char::range('\u{2000}', '\u{2070}'),
            Just('\u{61c}'),
            Just('\\'),
        ];
        prop::collection::vec(c, 0..80).prop_map(|v| v.into_iter().collect())
    }

    proptest! {
        #[test]
        fn nothing_unsafe_survives(s in hostile()) {
            let l = line(&s);
            prop_assert!(!l.chars().any(is_unsafe), "{:?}", l);
            let b = body(&s);
            prop_assert!(!b.chars().any(|c| is_unsafe(c) && c != '\n' && c != '\t'), "{:?}", b);
            for what in [Field::Name, Field::Label, Field::Tag] {
                let f = field(what, &s);
                prop_assert!(!f.chars().any(is_unsafe), "{:?}", f);
                prop_assert_eq!(problem(&s).is_some(), f.contains("not valid"));
            }
            prop_assert!(!short(&s, 8).chars().any(is_unsafe));
            let j = serde_json::to_string(&s).unwrap();
            let safe = json(&j);
            prop_assert!(!safe.chars().any(is_unsafe));
            prop_assert_eq!(serde_json::from_str::<String>(&safe).unwrap(), s.clone());
        }

        #[test]
        fn every_unsafe_character_is_shown_as_its_escape(s in hostile()) {
            let expected: String = s
                .chars()
                .map(|c| if is_unsafe(c) { format!("\\u{{{:x}}}", c as u32) } else { c.to_string() })
                .collect();
            prop_assert_eq!(line(&s), expected);
            // Safe text is shown exactly as it is.
            if !s.chars().any(is_unsafe) {
                prop_assert_eq!(line(&s), s.as_str());
                prop_assert_eq!(body(&s), s.as_str());
            }
        }
    }
}
