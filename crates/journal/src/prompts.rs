//! duo's prompt pack: questions to reflect on or talk about, in three depths and seven
//! themes. The pack is data (`prompts.txt`, compiled in) so it can be read and reviewed as
//! text; it is parsed and checked once, and a unit test keeps it valid.

use serde::Serialize;
use std::sync::LazyLock;

/// How personal a prompt is. Ordered: light < medium < deep. Its name (on disk, in JSON,
/// on the command line) is the lowercase variant name.
#[derive(strum::Display, strum::EnumString, strum::IntoStaticStr)]
#[strum(serialize_all = "lowercase", parse_err_ty = String, parse_err_fn = unknown_depth)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Depth {
    Light,
    Medium,
    Deep,
}

impl Depth {
    pub const ALL: [Depth; 3] = [Depth::Light, Depth::Medium, Depth::Deep];

    /// The stable lowercase name (on disk, in JSON, on the command line).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

fn unknown_depth(s: &str) -> String {
    format!("unknown depth '{s}' (expected light, medium or deep)")
}

/// The themes prompts are grouped by; a person can pause any of them.
pub const THEMES: [&str; 7] = [
    "communication",
    "appreciation",
    "boundaries",
    "vulnerability",
    "quality-time",
    "past",
    "future",
];

/// Check a theme name given by a person.
pub fn theme(name: &str) -> Result<&'static str, String> {
    let lower = name.trim().to_ascii_lowercase().replace([' ', '_'], "-");
    THEMES
        .into_iter()
        .find(|t| *t == lower)
        .ok_or_else(|| format!("unknown theme '{name}' (themes: {})", THEMES.join(", ")))
}

/// One prompt of the pack.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Prompt {
    /// Stable id, like `comm-l1`: answers link to it.
    pub id: &'static str,
    pub depth: Depth,
    pub theme: &'static str,
    pub text: &'static str,
}

const PACK_TEXT: &str = include_str!("prompts.txt");

/// Parse a pack: one `id | depth | theme | text` a line; `#` comments and blank lines skipped.
pub fn parse_pack(text: &'static str) -> Result<Vec<Prompt>, String> {
    let mut out: Vec<Prompt> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let parts: Vec<&'static str> = line.splitn(4, '|').map(str::trim).collect();
        let [id, depth, theme_name, text] = parts[..] else {
            return Err(format!("line {}: expected 'id | depth | theme | text'", n + 1));
        };
        if id.is_empty()
            || !id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(format!("line {}: '{id}' is not a prompt id", n + 1));
        }
        if out.iter().any(|p| p.id == id) {
            return Err(format!("line {}: prompt id '{id}' appears twice", n + 1));
        }
        let depth = depth.parse().map_err(|e| format!("line {}: {e}", n + 1))?;
        let theme = THEMES
            .into_iter()
            .find(|t| *t == theme_name)
            .ok_or_else(|| format!("line {}: unknown theme '{theme_name}'", n + 1))?;
        if text.is_empty() {
            return Err(format!("line {}: prompt '{id}' has no text", n + 1));
        }
        out.push(Prompt { id, depth, theme, text });
    }
    Ok(out)
}

static PACK: LazyLock<Vec<Prompt>> =
    LazyLock::new(|| parse_pack(PACK_TEXT).expect("the built-in prompt pack is valid"));

/// The built-in pack.
pub fn pack() -> &'static [Prompt] {
    &PACK
}

/// The prompt with this id (case-insensitive).
pub fn prompt(id: &str) -> Option<&'static Prompt> {
    let id = id.trim().to_ascii_lowercase();
    pack().iter().find(|p| p.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn the_pack_is_valid_large_enough_and_covers_every_depth_and_theme() {
        let pack = parse_pack(PACK_TEXT).unwrap();
        assert!(pack.len() >= 90, "only {} prompts", pack.len());
        let ids: BTreeSet<_> = pack.iter().map(|p| p.id).collect();
        assert_eq!(ids.len(), pack.len(), "ids are unique");
        for depth in Depth::ALL {
            for theme in THEMES {
                let n = pack.iter().filter(|p| p.depth == depth && p.theme == theme).count();
                assert!(n >= 3, "{depth} × {theme} has only {n} prompts");
            }
        }
        let texts: BTreeSet<_> = pack.iter().map(|p| p.text).collect();
        assert_eq!(texts.len(), pack.len(), "no prompt text appears twice");
        for p in &pack {
            assert!(p.text.ends_with('?'), "{} is a question", p.id);
            assert!(p.text.len() < 200, "{} is short enough to read at a glance", p.id);
        }
    }

    #[test]
    fn ids_are_stable() {
        // Answers link to prompt ids: these must keep their meaning across releases.
        assert_eq!(prompt("comm-l1").unwrap().depth, Depth::Light);
        assert_eq!(prompt("VULN-D3").unwrap().theme, "vulnerability");
        assert_eq!(prompt("futr-m4").unwrap().depth, Depth::Medium);
        assert!(prompt("nope").is_none());
    }

    #[test]
    fn a_broken_pack_is_refused_with_its_line() {
        assert!(
            parse_pack("a | light | past | x?\na | light | past | y?")
                .unwrap_err()
                .contains("twice")
        );
        assert!(parse_pack("a | shallow | past | x?").unwrap_err().contains("line 1"));
        assert!(
            parse_pack("a | light | money | x?")
                .unwrap_err()
                .contains("unknown theme")
        );
        assert!(parse_pack("a | light").unwrap_err().contains("expected"));
        assert_eq!(theme("Quality time").unwrap(), "quality-time");
        assert!(theme("money").is_err());
    }
}
