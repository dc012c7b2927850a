//! Pairing codes such as `7-purple-sausage-lantern`: a public nameplate (which pairing
//! session, advertised on the local network) and three secret words from a fixed list of
//! 256 (24 bits of secret). The whole code is the PAKE password; someone who does not
//! know it gets one guess, and a wrong guess uses the code up on both sides.

use std::fmt;
use std::str::FromStr;

/// The word list: 256 distinct, lowercase, easy-to-type words.
pub const WORDS: &str = include_str!("words.txt");

fn words() -> impl Iterator<Item = &'static str> {
    WORDS.lines().map(str::trim).filter(|w| !w.is_empty())
}

/// The word at `i` in the list (for verification words).
pub fn word_at(i: u8) -> &'static str {
    word(i)
}

fn word(i: u8) -> &'static str {
    words().nth(usize::from(i)).expect("the word list has 256 words")
}

fn index_of(w: &str) -> Option<u8> {
    words().position(|x| x == w).and_then(|i| u8::try_from(i).ok())
}

/// The largest nameplate number.
pub const MAX_NAMEPLATE: u16 = 999;

/// A pairing code.
#[derive(Clone, PartialEq, Eq)]
pub struct Code {
    nameplate: u16,
    words: [u8; 3],
}

// Never print the secret words by accident (logs, panics, `{:?}`).
impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Code({}-…)", self.nameplate)
    }
}

impl Code {
    /// A fresh random code.
    pub fn generate() -> Code {
        let mut b = [0u8; 5];
        getrandom::fill(&mut b).expect("the operating system's random source is available");
        let nameplate = 1 + (u16::from_le_bytes([b[0], b[1]]) % MAX_NAMEPLATE);
        Code {
            nameplate,
            words: [b[2], b[3], b[4]],
        }
    }

    /// The public part, advertised so the joiner can find the inviter.
    pub fn nameplate(&self) -> u16 {
        self.nameplate
    }

    /// The whole code as text (the PAKE password). Handle with care: it is the secret.
    pub fn reveal(&self) -> String {
        format!(
            "{}-{}-{}-{}",
            self.nameplate,
            word(self.words[0]),
            word(self.words[1]),
            word(self.words[2])
        )
    }
}

/// Why typed text is not a code; each says what to type instead.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseCodeError {
    #[error("no code given: type the code your partner's screen shows, like 7-purple-sausage-lantern")]
    Empty,
    #[error("a code starts with a number, like 7-purple-sausage-lantern")]
    NoNameplate,
    #[error("the number at the start must be between 1 and {MAX_NAMEPLATE}")]
    BadNameplate,
    #[error("a code has a number and three words (got {0} words)")]
    WordCount(usize),
    #[error("'{word}' is not one of duo's code words{}", suggestion.as_ref().map(|s| format!(" (did you mean '{s}'?)")).unwrap_or_default())]
    UnknownWord { word: String, suggestion: Option<String> },
}

fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push((prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

fn suggest(w: &str) -> Option<String> {
    words()
        .map(|x| (distance(w, x), x))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, x)| x.to_string())
}

impl FromStr for Code {
    type Err = ParseCodeError;

    /// Lenient about case, spaces and separators: `7 Purple sausage-lantern` is fine.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_lowercase();
        let mut parts = lower
            .split(|c: char| c == '-' || c.is_whitespace())
            .filter(|p| !p.is_empty());
        let first = parts.next().ok_or(ParseCodeError::Empty)?;
        if !first.chars().all(|c| c.is_ascii_digit()) {
            return Err(ParseCodeError::NoNameplate);
        }
        let nameplate: u16 = first.parse().map_err(|_| ParseCodeError::BadNameplate)?;
        if !(1..=MAX_NAMEPLATE).contains(&nameplate) {
            return Err(ParseCodeError::BadNameplate);
        }
        let rest: Vec<&str> = parts.collect();
        if rest.len() != 3 {
            return Err(ParseCodeError::WordCount(rest.len()));
        }
        let mut idx = [0u8; 3];
        for (slot, w) in idx.iter_mut().zip(&rest) {
            *slot = index_of(w).ok_or_else(|| ParseCodeError::UnknownWord {
                word: w.to_string(),
                suggestion: suggest(w),
            })?;
        }
        Ok(Code { nameplate, words: idx })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_list_is_256_distinct_lowercase_words() {
        let all: Vec<&str> = words().collect();
        assert_eq!(all.len(), 256);
        let set: std::collections::BTreeSet<&str> = all.iter().copied().collect();
        assert_eq!(set.len(), 256);
        assert!(
            all.iter()
                .all(|w| w.chars().all(|c| c.is_ascii_lowercase()) && w.len() >= 3)
        );
    }

    #[test]
    fn generated_codes_round_trip_and_differ() {
        let codes: Vec<Code> = (0..200).map(|_| Code::generate()).collect();
        for c in &codes {
            assert!((1..=MAX_NAMEPLATE).contains(&c.nameplate()));
            assert_eq!(&c.reveal().parse::<Code>().unwrap(), c);
        }
        let distinct: std::collections::BTreeSet<String> = codes.iter().map(Code::reveal).collect();
        assert!(distinct.len() > 190, "codes are random");
    }

    #[test]
    fn lenient_parsing() {
        let c: Code = "7-purple-sausage-lantern".parse().unwrap();
        assert_eq!(c.nameplate(), 7);
        assert_eq!(" 7 Purple  SAUSAGE-lantern\n".parse::<Code>().unwrap(), c);
    }

    #[test]
    fn helpful_errors() {
        assert_eq!("".parse::<Code>(), Err(ParseCodeError::Empty));
        assert_eq!(
            "purple-sausage-lantern".parse::<Code>(),
            Err(ParseCodeError::NoNameplate)
        );
        assert_eq!(
            "0-purple-sausage-lantern".parse::<Code>(),
            Err(ParseCodeError::BadNameplate)
        );
        assert_eq!(
            "1000-purple-sausage-lantern".parse::<Code>(),
            Err(ParseCodeError::BadNameplate)
        );
        assert_eq!("7-purple-sausage".parse::<Code>(), Err(ParseCodeError::WordCount(2)));
        let e = "7-purple-sausage-lanturn".parse::<Code>().unwrap_err();
        assert_eq!(
            e,
            ParseCodeError::UnknownWord {
                word: "lanturn".into(),
                suggestion: Some("lantern".into())
            }
        );
        assert!(e.to_string().contains("did you mean 'lantern'"));
    }

    #[test]
    fn debug_never_shows_the_words() {
        let c: Code = "7-purple-sausage-lantern".parse().unwrap();
        let d = format!("{c:?}");
        assert!(
            !d.contains("purple") && !d.contains("sausage") && !d.contains("lantern"),
            "{d}"
        );
    }
}
