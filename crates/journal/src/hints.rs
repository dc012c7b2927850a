//! A gentle nudge towards "I" statements. When a reflection or boundary reads as blame
//! ("you always…", "you never…", "you make me…"), duo can suggest an "I feel … when … I
//! need …" phrasing. The hint is only ever shown to the writer, never stored, never blocks
//! and can be turned off. It is a heuristic: it would rather say nothing than misread
//! kindness as blame, so quoted speech, negations ("it's not that you never…"), idioms
//! ("you never know") and warm sentences ("you always make me laugh") are left alone.

/// A suggestion for the writer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hint {
    /// The words that read as blame, lowercased (e.g. `you always`).
    pub phrase: String,
    /// What to show the writer.
    pub suggestion: String,
}

/// Words that make a sentence warm rather than blaming (matched as word prefixes).
const WARM: [&str; 16] = [
    "thank",
    "grateful",
    "appreciat",
    "love",
    "laugh",
    "smil",
    "happy",
    "glad",
    "proud",
    "safe",
    "kind",
    "sweet",
    "special",
    "seen",
    "cared",
    "lucky",
];

/// Words that negate what follows them within a few words.
const NEGATIONS: [&str; 12] = [
    "not", "don't", "dont", "doesn't", "doesnt", "didn't", "didnt", "isn't", "isnt", "wasn't", "no", "nor",
];

/// Idioms that start like blame but are not: "you never know", "you never can tell",
/// "you always can" (an offer).
fn idiom(after: &[&str]) -> bool {
    matches!(after.first(), Some(&("know" | "can" | "can't" | "cant")))
}

/// The words of `sentence` outside quotation marks, lowercased, with curly apostrophes
/// made straight.
fn words_outside_quotes(sentence: &str) -> Vec<String> {
    let mut kept = String::with_capacity(sentence.len());
    let mut quoted = false;
    for ch in sentence.chars() {
        match ch {
            '"' => quoted = !quoted,
            '“' | '«' => quoted = true,
            '”' | '»' => quoted = false,
            _ if !quoted => kept.push(if ch == '’' { '\'' } else { ch }),
            _ => {}
        }
    }
    kept.split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .map(|w| w.trim_matches('\'').to_lowercase())
        .filter(|w| !w.is_empty())
        .collect()
}

/// The blame pattern starting at `words[i]`, if any: its phrase.
fn blame_at(words: &[&str], i: usize) -> Option<String> {
    let w = words[i];
    let (subject_len, rest) = match w {
        "you're" | "youre" => (1, &words[i + 1..]),
        "you" => match words.get(i + 1) {
            Some(&"are") => (2, &words[i + 2..]),
            _ => (1, &words[i + 1..]),
        },
        _ => return None,
    };
    let next = rest.first()?;
    let phrase = |n: usize| words[i..i + subject_len + n].join(" ");
    match *next {
        "always" | "never" if !idiom(&rest[1..]) => Some(phrase(1)),
        "make" | "made" | "makes" if subject_len == 1 && rest.get(1) == Some(&"me") => Some(phrase(2)),
        _ => None,
    }
}

/// A hint for `text`, or `None` when nothing in it reads as blame.
pub fn i_statement_hint(text: &str) -> Option<Hint> {
    for sentence in text.split(['.', '!', '?', ';', '\n']) {
        let owned = words_outside_quotes(sentence);
        let words: Vec<&str> = owned.iter().map(String::as_str).collect();
        if words.iter().any(|w| WARM.iter().any(|warm| w.starts_with(warm))) {
            continue;
        }
        for i in 0..words.len() {
            let Some(phrase) = blame_at(&words, i) else { continue };
            let negated = words[i.saturating_sub(3)..i].iter().any(|w| NEGATIONS.contains(w));
            if negated {
                continue;
            }
            return Some(Hint {
                suggestion: format!(
                    "\"{phrase} …\" can sound like blame, and blame is hard to hear. \
                     An \"I\" statement may land more gently: \"I feel … when … I need …\". \
                     (Only you see this hint; your words were saved as written.)"
                ),
                phrase,
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::i_statement_hint;

    fn flags(text: &str) -> Option<String> {
        i_statement_hint(text).map(|h| h.phrase)
    }

    #[test]
    fn flags_blame() {
        assert_eq!(
            flags("You always leave the dishes for me.").as_deref(),
            Some("you always")
        );
        assert_eq!(flags("you never listen when I talk").as_deref(), Some("you never"));
        assert_eq!(flags("You make me feel small.").as_deref(), Some("you make me"));
        assert_eq!(flags("Yesterday you made me cry").as_deref(), Some("you made me"));
        assert_eq!(flags("You're always on your phone").as_deref(), Some("you're always"));
        assert_eq!(flags("You’re never home before nine").as_deref(), Some("you're never"));
        assert_eq!(flags("you are always late").as_deref(), Some("you are always"));
        assert_eq!(
            flags("Dinner was fine. But YOU NEVER ask about my day!").as_deref(),
            Some("you never")
        );
    }

    #[test]
    fn leaves_kindness_quotes_negations_and_idioms_alone() {
        for text in [
            "I notice you always make tea for me — thank you",
            "You always make me laugh",
            "you make me feel safe",
            "I love that you never give up",
            "She said \"you never listen\" and I thought about it",
            "He told me “you always do this” years ago",
            "It's not that you never help",
            "I don't think you always mean it that way",
            "You never know what tomorrow brings",
            "you never can tell with the weather",
            "I feel lonely when evenings go by without talking. I need us to sit together.",
            "I need some quiet after work",
            "your nevermind-list, bayou always, young alwaysland",
            "",
        ] {
            assert_eq!(flags(text), None, "{text}");
        }
    }

    #[test]
    fn the_suggestion_offers_an_i_statement() {
        let h = i_statement_hint("You never call").unwrap();
        assert!(h.suggestion.contains("I feel … when … I need …"), "{}", h.suggestion);
        assert!(h.suggestion.contains("saved as written"));
    }
}
