//! What the wording checks share (the tone check of status updates, the blameless-language
//! check of reviews): a text cut into words and sentences, phrases found among them, and a
//! finding that names its rule, its span in characters and what to write instead.

use serde::Serialize;

/// One thing a check found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding<R> {
    /// Characters from the start of the text (Unicode scalar values, not bytes); an empty
    /// span at the end for something missing.
    pub start: usize,
    pub end: usize,
    pub rule: R,
    pub reason: String,
    pub suggestion: &'static str,
}

impl<R> Finding<R> {
    /// A finding about the words `first..=last` of `tokens`.
    pub fn over(
        tokens: &[Token],
        (first, last): (usize, usize),
        rule: R,
        reason: String,
        suggestion: &'static str,
    ) -> Self {
        Self {
            start: tokens[first].start,
            end: tokens[last].end,
            rule,
            reason,
            suggestion,
        }
    }

    /// The words of `text` the finding is about (empty for something missing).
    pub fn words(&self, text: &str) -> String {
        text.chars()
            .skip(self.start)
            .take(self.end.saturating_sub(self.start))
            .collect()
    }
}

/// Sorted by where they are, each (span, rule) once.
pub fn in_order<R: PartialEq>(found: &mut Vec<Finding<R>>) {
    found.sort_by_key(|f| (f.start, f.end));
    // Rules have no order, so equal findings need not be neighbours: compare each with those kept.
    let mut kept: Vec<Finding<R>> = Vec::with_capacity(found.len());
    for f in found.drain(..) {
        let seen = kept
            .iter()
            .any(|k| (k.start, k.end) == (f.start, f.end) && k.rule == f.rule);
        if !seen {
            kept.push(f);
        }
    }
    *found = kept;
}

/// A word of the text, with punctuation around it taken off.
#[derive(Debug)]
pub struct Token {
    /// As written.
    pub text: String,
    /// Lower case, curly apostrophes made straight.
    pub lower: String,
    pub start: usize,
    pub end: usize,
    pub sentence: usize,
}

/// The text's words, each with its sentence: a sentence ends at `.`, `!` or `?` outside a
/// word, and at a line break.
pub fn tokens(text: &str) -> Vec<Token> {
    let inside = |c: char| c.is_alphanumeric() || "-_.:/'’@%&".contains(c);
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut sentence = 0;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        // A word starts at a letter or digit; anything else between words may end a sentence.
        if !c.is_alphanumeric() {
            if matches!(c, '.' | '!' | '?' | '\n') {
                sentence += 1;
            }
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && inside(chars[i]) {
            i += 1;
        }
        // Punctuation that ends the word ends it, and a full stop there ends the sentence.
        let mut end = i;
        while end > start && "-_.:/'’@&".contains(chars[end - 1]) {
            end -= 1;
        }
        let ends_sentence = chars[end..i].contains(&'.');
        let text: String = chars[start..end].iter().collect();
        out.push(Token {
            lower: text.to_lowercase().replace('’', "'"),
            text,
            start,
            end,
            sentence,
        });
        if ends_sentence {
            sentence += 1;
        }
    }
    out
}

/// Where `phrase` (words separated by spaces) starts among `tokens`, as token ranges, within
/// one sentence. A word matches itself or itself plus `s`.
pub fn phrase_at(tokens: &[Token], phrase: &str) -> Vec<(usize, usize)> {
    let words: Vec<&str> = phrase.split(' ').collect();
    let matches = |t: &Token, w: &str| {
        let core = t.lower.trim_end_matches("'s");
        core == w || t.lower == w || core.strip_suffix('s') == Some(w)
    };
    (0..tokens.len())
        .filter(|&i| {
            i + words.len() <= tokens.len()
                && words.iter().enumerate().all(|(k, w)| {
                    matches(&tokens[i + k], w) && tokens[i + k].sentence == tokens[i].sentence
                })
        })
        .map(|i| (i, i + words.len() - 1))
        .collect()
}
