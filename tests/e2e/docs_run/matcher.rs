//! Comparing what `duo` printed with what a doc says it prints: `[..]` within a line, `...`
//! as a line of its own, and ids (random on every run) mapped between the doc and the run.

/// The doc's ids and the run's, pair by pair: `(doc, real)`, both in their longest form
/// seen so far and always of the same length. A shorter form (a prefix) of either names
/// the same id.
#[derive(Clone, Debug, Default)]
pub struct Ids {
    pairs: Vec<(String, String)>,
    /// Ids the doc itself writes where duo takes them as given (a file named in a block's
    /// setup): printed by duo, they stay as they are.
    literal: Vec<String>,
}

fn same_id(a: &str, b: &str) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

fn is_hex(c: char) -> bool {
    c.is_ascii_digit() || ('a'..='f').contains(&c)
}

/// Is this run of hex digits an id rather than a word ("added", "face") or a number
/// ("2026", "0600", a time in seconds)? Ids have a digit and a letter, or have the length
/// of one of duo's ids or their prefixes (8, 12, 16, 32, 64), or are the tail of a shortened
/// id (`c2a5a7f4…7523`).
pub fn id_like(token: &str, after_ellipsis: bool) -> bool {
    let digit = token.chars().any(|c| c.is_ascii_digit());
    let letter = token.chars().any(|c| c.is_ascii_alphabetic());
    token.len() >= 4
        && (after_ellipsis
            || (digit && letter)
            || (letter && token.len() >= 8)
            || [8, 12, 16, 32, 64].contains(&token.len()))
}

/// The id-like hex runs of `s` (bounded by characters that are not letters or digits), as
/// byte ranges.
pub fn id_tokens(s: &str) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut prev: Option<char> = None;
    let mut iter = s.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        if is_hex(c) && !prev.is_some_and(|p| p.is_ascii_alphanumeric()) {
            let mut end = i + 1;
            while let Some(&(j, d)) = iter.peek() {
                if !is_hex(d) {
                    break;
                }
                end = j + d.len_utf8();
                iter.next();
            }
            let next_ok = !s[end..].chars().next().is_some_and(|n| n.is_ascii_alphanumeric());
            if next_ok && id_like(&s[i..end], prev == Some('…')) {
                out.push(i..end);
            }
            prev = s[..end].chars().next_back();
            continue;
        }
        prev = Some(c);
    }
    out
}

/// Deterministic hex for new doc ids: the same doc and block get the same ids on every run.
pub fn hex_from(seed: &str, n: usize) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
    }
    let mut out = String::new();
    while out.len() < n {
        h = h.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = h;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        out.push_str(&format!("{z:016x}"));
    }
    out.truncate(n);
    out
}

impl Ids {
    pub fn with_literal(literal: Vec<String>) -> Ids {
        Ids {
            pairs: Vec::new(),
            literal,
        }
    }

    fn by_doc(&self, d: &str) -> Option<usize> {
        self.pairs.iter().position(|(doc, _)| same_id(doc, d))
    }

    fn by_real(&self, r: &str) -> Option<usize> {
        self.pairs.iter().position(|(_, real)| same_id(real, r))
    }

    pub fn is_bound_doc(&self, d: &str) -> bool {
        self.by_doc(d).is_some()
    }

    pub fn is_bound_real(&self, r: &str) -> bool {
        self.by_real(r).is_some()
    }

    /// Record that the doc's `d` is the run's `r` (same length); false when that contradicts
    /// what is known.
    pub fn bind(&mut self, d: &str, r: &str) -> bool {
        debug_assert_eq!(d.len(), r.len());
        match (self.by_doc(d), self.by_real(r)) {
            (Some(i), Some(j)) if i != j => false,
            (Some(i), _) => {
                let (doc, real) = &self.pairs[i];
                let m = doc.len().min(d.len());
                if real[..m] != r[..m] {
                    return false;
                }
                if d.len() > doc.len() {
                    self.pairs[i] = (d.to_string(), r.to_string());
                }
                true
            }
            (None, Some(_)) => false,
            (None, None) => {
                self.pairs.push((d.to_string(), r.to_string()));
                true
            }
        }
    }

    /// A command as the doc writes it, with the run's ids in place of the doc's.
    pub fn real_command(&self, cmd: &str) -> String {
        replace_tokens(cmd, |tok| {
            let i = self.by_doc(tok)?;
            let (doc, real) = &self.pairs[i];
            (doc.len() >= tok.len()).then(|| real[..tok.len()].to_string())
        })
    }

    /// A line of output with the doc's ids in place of the run's. An id not seen before takes
    /// the first unbound doc id of the same length in `reuse` (the ids of the doc's lines it
    /// replaces), else a new doc id made from `seed` (and a bound id shown longer than before
    /// has its doc id lengthened the same way).
    pub fn doc_line(&mut self, line: &str, seed: &str, reuse: &[String]) -> String {
        let mut ids = std::mem::take(self);
        let out = replace_tokens_all(line, |tok, after_ellipsis| {
            if let Some(i) = ids.by_real(tok) {
                let (doc, real) = ids.pairs[i].clone();
                if real.len() >= tok.len() {
                    return Some(doc[..tok.len()].to_string());
                }
                let longer = format!("{doc}{}", hex_from(&format!("{seed}/{doc}"), tok.len() - doc.len()));
                ids.pairs[i] = (longer.clone(), tok.to_string());
                return Some(longer);
            }
            if !id_like(tok, after_ellipsis) {
                return None;
            }
            if ids.literal.iter().any(|l| l == tok) && ids.by_doc(tok).is_none() {
                ids.pairs.push((tok.to_string(), tok.to_string()));
                return Some(tok.to_string());
            }
            if let Some(d) = reuse.iter().find(|d| d.len() == tok.len() && ids.by_doc(d).is_none()) {
                ids.pairs.push((d.clone(), tok.to_string()));
                return Some(d.clone());
            }
            let mut n = ids.pairs.len();
            let fresh = loop {
                let mut d = hex_from(&format!("{seed}#{n}"), tok.len());
                // A letter and a digit, so that the doc's id reads as one.
                if !d.chars().any(|c| c.is_ascii_alphabetic()) {
                    d.replace_range(0..1, "e");
                }
                if !d.chars().any(|c| c.is_ascii_digit()) {
                    d.replace_range(1..2, "7");
                }
                if ids.by_doc(&d).is_none() {
                    break d;
                }
                n += 1;
            };
            ids.pairs.push((fresh.clone(), tok.to_string()));
            Some(fresh)
        });
        *self = ids;
        out
    }
}

fn replace_tokens(s: &str, mut f: impl FnMut(&str) -> Option<String>) -> String {
    let mut out = String::new();
    let mut at = 0;
    for r in id_tokens(s) {
        out.push_str(&s[at..r.start]);
        match f(&s[r.clone()]) {
            Some(new) => out.push_str(&new),
            None => out.push_str(&s[r.clone()]),
        }
        at = r.end;
    }
    out.push_str(&s[at..]);
    out
}

/// Like [`replace_tokens`] over every hex run of 4 or more (the caller decides what is an
/// id), telling whether the run follows `…`.
fn replace_tokens_all(s: &str, mut f: impl FnMut(&str, bool) -> Option<String>) -> String {
    let mut out = String::new();
    let mut at = 0;
    let bytes: Vec<(usize, char)> = s.char_indices().collect();
    let mut k = 0;
    while k < bytes.len() {
        let (i, c) = bytes[k];
        let prev = (k > 0).then(|| bytes[k - 1].1);
        if is_hex(c) && !prev.is_some_and(|p| p.is_ascii_alphanumeric()) {
            let mut e = k;
            while e < bytes.len() && is_hex(bytes[e].1) {
                e += 1;
            }
            let end = bytes.get(e).map_or(s.len(), |b| b.0);
            let next_ok = !bytes.get(e).is_some_and(|b| b.1.is_ascii_alphanumeric());
            if next_ok
                && end - i >= 4
                && let Some(new) = f(&s[i..end], prev == Some('…'))
            {
                out.push_str(&s[at..i]);
                out.push_str(&new);
                at = end;
            }
            k = e;
            continue;
        }
        k += 1;
    }
    out.push_str(&s[at..]);
    out
}

/// One expected line, cut into what must match: text, `[..]`, ids.
#[derive(Clone, Debug, PartialEq)]
pub enum Piece {
    Text(String),
    Any,
    Id(String),
}

/// An expected line: `...` (any lines) or pieces.
#[derive(Clone, Debug)]
pub enum Pattern {
    Lines,
    Line(Vec<Piece>),
}

pub fn pattern(line: &str) -> Pattern {
    if line.trim() == "..." {
        return Pattern::Lines;
    }
    let mut pieces = Vec::new();
    for (n, part) in line.split("[..]").enumerate() {
        if n > 0 {
            pieces.push(Piece::Any);
        }
        let mut at = 0;
        for r in id_tokens(part) {
            if r.start > at {
                pieces.push(Piece::Text(part[at..r.start].to_string()));
            }
            pieces.push(Piece::Id(part[r.clone()].to_string()));
            at = r.end;
        }
        if at < part.len() {
            pieces.push(Piece::Text(part[at..].to_string()));
        }
    }
    Pattern::Line(pieces)
}

fn match_pieces(p: &[Piece], s: &str, pos: usize, ids: &Ids) -> Option<Ids> {
    let Some(first) = p.first() else {
        return (pos == s.len()).then(|| ids.clone());
    };
    match first {
        Piece::Text(t) => s[pos..]
            .starts_with(t.as_str())
            .then(|| match_pieces(&p[1..], s, pos + t.len(), ids))
            .flatten(),
        Piece::Any => {
            let mut at = pos;
            loop {
                if let Some(found) = match_pieces(&p[1..], s, at, ids) {
                    return Some(found);
                }
                let c = s[at..].chars().next()?;
                at += c.len_utf8();
            }
        }
        Piece::Id(d) => {
            let end = pos + d.len();
            let prev_ok = !s[..pos].chars().next_back().is_some_and(|c| c.is_ascii_alphanumeric());
            let run = s.get(pos..end)?;
            let next_ok = !s[end..].chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
            if !prev_ok || !next_ok || !run.chars().all(is_hex) {
                return None;
            }
            let mut ids = ids.clone();
            ids.bind(d, run).then(|| match_pieces(&p[1..], s, end, &ids)).flatten()
        }
    }
}

/// Does `actual` match the pattern line? The ids it binds, if so.
pub fn match_line(p: &Pattern, actual: &str, ids: &Ids) -> Option<Ids> {
    match p {
        Pattern::Lines => Some(ids.clone()),
        Pattern::Line(pieces) => match_pieces(pieces, actual, 0, ids),
    }
}

/// Do the lines match the patterns? The ids they bind, if so.
pub fn match_lines(p: &[Pattern], a: &[String], ids: &Ids) -> Option<Ids> {
    let Some(first) = p.first() else {
        return a.is_empty().then(|| ids.clone());
    };
    match first {
        Pattern::Lines => (0..=a.len()).find_map(|k| match_lines(&p[1..], &a[k..], ids)),
        line => {
            let ids = match_line(line, a.first()?, ids)?;
            match_lines(&p[1..], &a[1..], &ids)
        }
    }
}

/// One step of the smallest edit from the expected lines to the actual ones.
#[derive(Debug, PartialEq)]
pub enum Edit {
    /// Expected line `p` matches actual line `a`.
    Same(usize, usize),
    /// `...` at `p` stands for these actual lines.
    Skip(usize, std::ops::Range<usize>),
    /// Expected line `p` is not there.
    Gone(usize),
    /// Actual line `a` is new.
    New(usize),
}

/// The smallest edit (fewest lines gone or new) from the patterns to the actual lines.
pub fn align(p: &[Pattern], a: &[String], ids: &Ids) -> Vec<Edit> {
    let (n, m) = (p.len(), a.len());
    let same: Vec<Vec<bool>> = p
        .iter()
        .map(|pat| {
            a.iter()
                .map(|l| matches!(pat, Pattern::Line(_)) && match_line(pat, l, ids).is_some())
                .collect()
        })
        .collect();
    let mut cost = vec![vec![0usize; m + 1]; n + 1];
    for (j, c) in cost[n].iter_mut().enumerate() {
        *c = m - j;
    }
    for i in (0..n).rev() {
        for j in (0..=m).rev() {
            cost[i][j] = if matches!(p[i], Pattern::Lines) {
                (j..=m).map(|k| cost[i + 1][k]).min().unwrap_or(0)
            } else {
                let mut best = 1 + cost[i + 1][j];
                if j < m {
                    best = best.min(1 + cost[i][j + 1]);
                    if same[i][j] {
                        best = best.min(cost[i + 1][j + 1]);
                    }
                }
                best
            };
        }
    }
    let mut edits = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i == n {
            edits.push(Edit::New(j));
            j += 1;
        } else if matches!(p[i], Pattern::Lines) {
            let k = (j..=m).find(|&k| cost[i + 1][k] == cost[i][j]).unwrap_or(j);
            edits.push(Edit::Skip(i, j..k));
            i += 1;
            j = k;
        } else if j < m && same[i][j] && cost[i][j] == cost[i + 1][j + 1] {
            edits.push(Edit::Same(i, j));
            i += 1;
            j += 1;
        } else if cost[i][j] == 1 + cost[i + 1][j] {
            // What the doc says first, then what duo printed instead.
            edits.push(Edit::Gone(i));
            i += 1;
        } else {
            edits.push(Edit::New(j));
            j += 1;
        }
    }
    edits
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(s: &str) -> Vec<String> {
        s.lines().map(String::from).collect()
    }

    fn pats(s: &str) -> Vec<Pattern> {
        s.lines().map(pattern).collect()
    }

    #[test]
    fn ids_are_told_from_words_and_numbers() {
        let s = "ed3930c8  2026-11-03 added face 0600 c2a5a7f4…7523 deadbeefcafe x1a2b 1795684576 12345678";
        let found: Vec<&str> = id_tokens(s).into_iter().map(|r| &s[r]).collect();
        assert_eq!(found, ["ed3930c8", "c2a5a7f4", "7523", "deadbeefcafe", "12345678"]);
    }

    #[test]
    fn a_doc_id_binds_to_the_run_and_its_prefixes_follow() {
        let mut ids = Ids::default();
        let got = match_lines(
            &pats("3f9c2a1b  [..]  Alice\nid 3f9c2a1b7d4e4c0f9a8b1e2d3c4b5a69"),
            &lines("12ab34cd  2026-11-01 08:00  Alice\nid 12ab34cd99999999999999999999ffff"),
            &ids,
        )
        .expect("matches");
        ids = got;
        assert_eq!(ids.real_command("duo journal show 3f9c"), "duo journal show 12ab");
        // The same doc id cannot stand for another real id.
        assert!(match_line(&pattern("3f9c2a1b"), "77ab34cd", &ids).is_none());
        // Nor another doc id for the same real one.
        assert!(match_line(&pattern("0d9c2a1b"), "12ab34cd", &ids).is_none());
        assert_eq!(ids.doc_line("deleted 12ab34cd", "s", &[]), "deleted 3f9c2a1b");
        // A new id takes the doc id of the line it replaces, when that is free.
        let reuse = ["7a21c9e0".to_string(), "3f9c2a1b".to_string()];
        assert_eq!(ids.doc_line("tablet 99ee00ff", "s", &reuse), "tablet 7a21c9e0");
    }

    #[test]
    fn dots_stand_for_any_lines_and_brackets_for_any_text() {
        let ids = Ids::default();
        let p = pats("first\n...\nlast [..] end");
        assert!(match_lines(&p, &lines("first\nlast x end"), &ids).is_some());
        assert!(match_lines(&p, &lines("first\na\nb\nlast xyz end"), &ids).is_some());
        assert!(match_lines(&p, &lines("first\nlast x"), &ids).is_none());
    }

    #[test]
    fn the_alignment_keeps_what_matches_and_names_what_changed() {
        let ids = Ids::default();
        let p = pats("a\nb\n...\nz");
        let e = align(&p, &lines("a\nc\nx\ny\nz"), &ids);
        assert_eq!(
            e,
            [Edit::Same(0, 0), Edit::Gone(1), Edit::Skip(2, 1..4), Edit::Same(3, 4)]
        );
    }
}
