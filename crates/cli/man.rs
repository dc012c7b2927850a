//! The man pages: clap's reference for every command, followed by what docs/cli.md says of
//! it (outputs, JSON shapes, refusals), and on `duo(1)` the exit statuses, environment,
//! entry JSON and examples. docs/cli.md is the one source; `duo man --dir docs/man`
//! regenerates the pages in the repository, and a test checks that they are current.

use clap::CommandFactory;
use pulldown_cmark::{Event, Parser, Tag, TagEnd};

/// The reference, built into the binary.
const CLI_MD: &str = include_str!("../../docs/cli.md");
/// The README, for the examples of `duo(1)`.
const README: &str = include_str!("../../README.md");

/// Every page as (file name, roff text), `duo.1` first.
pub fn pages() -> Vec<(String, String)> {
    let mut cmd = crate::args::Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut out = Vec::new();
    collect(&cmd, &[], &mut out);
    out
}

fn collect(cmd: &clap::Command, path: &[&str], out: &mut Vec<(String, String)>) {
    let man = clap_mangen::Man::new(cmd.clone());
    let mut text = Vec::new();
    man.render(&mut text).expect("rendering into memory cannot fail");
    let mut text = String::from_utf8(text).expect("clap_mangen writes UTF-8");
    if path.is_empty() {
        for (title, heading) in [
            ("EXIT STATUS", "## Exit status"),
            ("ENVIRONMENT", "## Environment"),
            ("ENTRY JSON", "## Entry JSON"),
        ] {
            if let Some(body) = section(CLI_MD, heading) {
                text.push_str(&format!(".SH \"{title}\"\n{}", roff(body)));
            }
        }
        if let Some(body) = section(README, "## Quickstart") {
            text.push_str(&format!(".SH EXAMPLES\n{}", roff(body)));
        }
    } else if let Some(body) = command_section(path) {
        text.push_str(&format!(".SH DETAILS\n{}", roff(body)));
    }
    out.push((man.get_filename(), text));
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let mut sub_path = path.to_vec();
        sub_path.push(sub.get_name());
        collect(sub, &sub_path, out);
    }
}

/// The text under `heading` (a line of its own), up to the next heading of the same or a
/// higher level.
pub fn section<'a>(doc: &'a str, heading: &str) -> Option<&'a str> {
    let level = heading.chars().take_while(|c| *c == '#').count();
    let start = doc.lines().position(|l| l.trim_end() == heading)?;
    Some(body_from(doc, start, level))
}

/// The `### \`duo WORDS …\`` section of docs/cli.md for the command `path` (e.g.
/// `["journal", "add"]`): the heading's words up to the first argument or flag.
fn command_section(path: &[&str]) -> Option<&'static str> {
    let start = CLI_MD.lines().position(|l| {
        let Some(rest) = l.strip_prefix("### `duo ") else {
            return false;
        };
        let words: Vec<&str> = rest
            .trim_end_matches('`')
            .split_whitespace()
            .take_while(|w| w.chars().all(|c| c.is_ascii_lowercase() || c == '-') && !w.starts_with('-'))
            .collect();
        words == path
    })?;
    Some(body_from(CLI_MD, start, 3))
}

fn body_from(doc: &str, heading_line: usize, level: usize) -> &str {
    let lines: Vec<&str> = doc.split_inclusive('\n').collect();
    let begin: usize = lines[..=heading_line].iter().map(|l| l.len()).sum();
    let mut in_code = false;
    let mut end = begin;
    for l in &lines[heading_line + 1..] {
        if l.trim_start().starts_with("```") {
            in_code = !in_code;
        }
        let hashes = l.chars().take_while(|c| *c == '#').count();
        if !in_code && hashes > 0 && hashes <= level && l[hashes..].starts_with(' ') {
            break;
        }
        end += l.len();
    }
    &doc[begin..end]
}

/// Escape text for roff: backslashes, and a leading `.` or `'` that would read as a request.
fn escape(text: &str) -> String {
    text.replace('\\', "\\e").replace('-', "\\-")
}

/// Markdown (as docs/cli.md writes it) to roff: paragraphs, inline code and strong text in
/// bold, emphasis in italics, code blocks as literal blocks, lists as bullets, and table
/// rows as tagged paragraphs (first cell as the tag). Links keep their text.
pub fn roff(md: &str) -> String {
    let mut out = String::new();
    let mut line_start = true;
    let mut row: Vec<String> = Vec::new();
    let mut cell: Option<String> = None;
    let mut in_head = false;
    let mut code_block = false;
    let push = |out: &mut String, line_start: &mut bool, s: &str| {
        if s.is_empty() {
            return;
        }
        if *line_start && (s.starts_with('.') || s.starts_with('\'')) {
            out.push_str("\\&");
        }
        out.push_str(s);
        *line_start = s.ends_with('\n');
    };
    let request = |out: &mut String, line_start: &mut bool, r: &str| {
        if !*line_start {
            out.push('\n');
        }
        out.push_str(r);
        out.push('\n');
        *line_start = true;
    };
    for event in Parser::new_ext(md, pulldown_cmark::Options::ENABLE_TABLES) {
        if let Some(c) = cell.as_mut() {
            match event {
                Event::End(TagEnd::TableCell) => row.push(cell.take().unwrap_or_default()),
                Event::Text(t) => c.push_str(&escape(&t)),
                Event::Code(t) => c.push_str(&format!("\\fB{}\\fR", escape(&t))),
                Event::Start(Tag::Strong) => c.push_str("\\fB"),
                Event::Start(Tag::Emphasis) => c.push_str("\\fI"),
                Event::End(TagEnd::Strong | TagEnd::Emphasis) => c.push_str("\\fR"),
                Event::SoftBreak | Event::HardBreak => c.push(' '),
                _ => {}
            }
            continue;
        }
        match event {
            Event::Start(Tag::Heading { .. }) => request(&mut out, &mut line_start, ".SS"),
            Event::End(TagEnd::Heading(_)) => request(&mut out, &mut line_start, ""),
            Event::Start(Tag::Paragraph) => request(&mut out, &mut line_start, ".PP"),
            Event::End(TagEnd::Paragraph) => {}
            Event::Start(Tag::CodeBlock(_)) => {
                code_block = true;
                request(&mut out, &mut line_start, ".PP\n.RS 4\n.nf");
            }
            Event::End(TagEnd::CodeBlock) => {
                code_block = false;
                request(&mut out, &mut line_start, ".fi\n.RE");
            }
            Event::Start(Tag::Item) => request(&mut out, &mut line_start, ".IP \\(bu 2"),
            Event::Start(Tag::TableHead) => in_head = true,
            Event::End(TagEnd::TableHead) => {
                in_head = false;
                row.clear();
            }
            Event::Start(Tag::TableRow) => row.clear(),
            Event::Start(Tag::TableCell) => cell = Some(String::new()),
            Event::End(TagEnd::TableRow) if !in_head => {
                let mut cells = row.drain(..);
                let tag = cells.next().unwrap_or_default();
                let rest: Vec<String> = cells.collect();
                request(&mut out, &mut line_start, ".TP");
                push(&mut out, &mut line_start, &format!("{tag}\n"));
                push(&mut out, &mut line_start, &format!("{}\n", rest.join(" \\(em ")));
            }
            Event::Text(t) if code_block => {
                for l in t.split_inclusive('\n') {
                    push(&mut out, &mut line_start, &escape(l));
                }
            }
            Event::Text(t) => push(&mut out, &mut line_start, &escape(&t)),
            Event::Code(t) => push(&mut out, &mut line_start, &format!("\\fB{}\\fR", escape(&t))),
            Event::Start(Tag::Strong) => push(&mut out, &mut line_start, "\\fB"),
            Event::Start(Tag::Emphasis) => push(&mut out, &mut line_start, "\\fI"),
            Event::End(TagEnd::Strong | TagEnd::Emphasis) => push(&mut out, &mut line_start, "\\fR"),
            Event::SoftBreak => push(&mut out, &mut line_start, "\n"),
            Event::HardBreak => request(&mut out, &mut line_start, ".br"),
            _ => {}
        }
    }
    if !line_start {
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_becomes_roff_that_no_text_can_turn_into_a_request() {
        let r = roff(
            "A `duo sync` run, **bold**.\n\n```\n.dangerous line\n$ duo \\ x\n```\n\n| code | meaning |\n|---|---|\n| 4 | locked |\n",
        );
        assert!(r.contains(".PP\nA \\fBduo sync\\fR run, \\fBbold\\fR."), "{r}");
        assert!(r.contains(".nf\n\\&.dangerous line\n$ duo \\e x\n"), "{r}");
        assert!(r.contains(".TP\n4\nlocked\n"), "{r}");
        assert!(!r.contains("| code"), "the header row is not repeated: {r}");
    }

    #[test]
    fn every_command_page_carries_its_section_of_the_reference_and_duo_1_the_rest() {
        let pages = pages();
        let page = |name: &str| {
            &pages
                .iter()
                .find(|(n, _)| n == name)
                .unwrap_or_else(|| panic!("{name}"))
                .1
        };
        let duo = page("duo.1");
        for title in ["EXIT STATUS", "ENVIRONMENT", "ENTRY JSON", "EXAMPLES"] {
            assert!(
                duo.contains(&format!(".SH \"{title}\"")) || duo.contains(&format!(".SH {title}")),
                "{title}"
            );
        }
        assert!(
            duo.contains("DUO_HOME") && duo.contains("duo journal add"),
            "environment and examples"
        );
        assert!(
            page("duo-journal-add.1").contains(".SH DETAILS"),
            "journal add has details"
        );
        assert!(page("duo-sync.1").contains("\\-\\-watch"), "sync's details");
        // Every section of docs/cli.md about a command lands on some page.
        // (`duo man` itself is hidden: it has a section but no page.)
        let headings = CLI_MD
            .lines()
            .filter(|l| l.starts_with("### `duo ") && !l.starts_with("### `duo man"))
            .count();
        let detailed = pages.iter().filter(|(_, t)| t.contains(".SH DETAILS")).count();
        assert_eq!(
            detailed, headings,
            "each command section of docs/cli.md is on exactly one page"
        );
    }

    #[test]
    fn the_pages_in_docs_man_are_current() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/man");
        let mut stale = Vec::new();
        for (name, text) in pages() {
            if std::fs::read_to_string(dir.join(&name)).ok().as_deref() != Some(text.as_str()) {
                stale.push(name);
            }
        }
        let expected: std::collections::BTreeSet<String> = pages().into_iter().map(|(n, _)| n).collect();
        for f in std::fs::read_dir(&dir).unwrap() {
            let name = f.unwrap().file_name().to_string_lossy().into_owned();
            if !expected.contains(&name) {
                stale.push(format!("{name} (no such command any more)"));
            }
        }
        assert!(
            stale.is_empty(),
            "docs/man is stale: {stale:?}; run `cargo run -q -- man --dir docs/man`"
        );
    }
}
