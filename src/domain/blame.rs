//! The blameless-language check: deterministic rules that read a post-incident review for
//! wording that puts a person where a cause should be ("Alice broke checkout", "human error"),
//! judges with hindsight ("should have", "if only", "obviously") or judges the person
//! ("careless"). It advises and never blocks. It does not push toward the passive voice or
//! anonymity: naming who did what, as fact, is what a good review does, and passes clean.

use super::tone::{WHO, is_calendar_word};
use super::wording::{Token, phrase_at, tokens};

/// One thing the blameless check found.
pub type Finding = super::wording::Finding<Rule>;

closed_set! {
    /// The rules, by id.
    pub enum Rule for "rule" {
        PersonAsCause = "person_as_cause",
        HumanError = "human_error",
        ShouldHave = "should_have",
        Hindsight = "hindsight",
        Judgement = "judgement",
    }
}

/// Words that name people beside those the tone check knows (`tone::WHO`).
const PEOPLE: &[&str] = &[
    "he",
    "she",
    "they",
    "we",
    "i",
    "you",
    "on-call",
    "oncall",
    "responder",
    "responders",
    "reviewer",
    "owner",
    "manager",
    "lead",
    "person",
    "people",
];

/// Capitalized words that start sentences and are not names.
const NOT_NAMES: &[&str] = &[
    "it",
    "this",
    "that",
    "these",
    "those",
    "there",
    "which",
    "what",
    "everything",
    "nothing",
    "something",
    "then",
    "who",
];

/// Adverbs that may stand between a person and what they are said to have done.
const ADVERBS: &[&str] = &[
    "accidentally",
    "clearly",
    "obviously",
    "simply",
    "really",
    "just",
    "also",
    "then",
    "again",
    "never",
    "probably",
    "carelessly",
    "completely",
    "basically",
    "somehow",
    "apparently",
    "totally",
];

/// What a person is said to have done to the system, as the cause.
const BREAKING: &[&str] = &[
    "broke",
    "breaks",
    "caused",
    "causes",
    "messed up",
    "screwed up",
    "took down",
    "brought down",
    "botched",
    "forgot",
    "ignored",
    "overlooked",
];

/// The cause named as a person: "caused by Bob".
const CAUSED_BY: &[&str] = &["caused by", "broken by", "the fault of", "triggered by"];

/// A person's fault: "Bob's mistake".
const FAULT: &[&str] = &["fault", "mistake", "error", "blunder", "screw-up"];

const HUMAN_ERROR: &[&str] = &[
    "human error",
    "operator error",
    "user error",
    "pilot error",
    "human mistake",
    "human failure",
];

const SHOULD_HAVE: &[&str] = &[
    "should have",
    "should've",
    "shouldn't have",
    "should not have",
    "could have",
    "could've",
    "ought to have",
    "failed to",
    "neglected to",
];

const HINDSIGHT: &[&str] = &[
    "if only",
    "obviously",
    "obvious",
    "simply",
    "clearly",
    "in hindsight",
    "with hindsight",
    "of course",
];

/// Saying the cause was not obvious is the honest, blameless thing to say.
const NEGATIONS: &[&str] = &["not", "wasn't", "isn't", "weren't", "never", "hardly"];

const JUDGEMENT: &[&str] = &[
    "careless",
    "carelessly",
    "carelessness",
    "negligent",
    "negligently",
    "negligence",
    "sloppy",
    "sloppiness",
    "lazy",
    "laziness",
    "incompetent",
    "incompetence",
    "reckless",
    "recklessly",
    "irresponsible",
    "stupid",
    "dumb",
    "foolish",
    "clueless",
    "dropped the ball",
    "asleep at the wheel",
];

fn suggestion(rule: Rule) -> &'static str {
    match rule {
        Rule::PersonAsCause => {
            "Name what the person did as a fact and what in the system let it have that effect: \"Alice deployed 2.4.1; the canary did not cover checkout\"."
        }
        Rule::HumanError => {
            "Say which check, guard or signal was missing, so the review finds something to change."
        }
        Rule::ShouldHave => {
            "Say what happened and why it made sense at the time: \"Carol failed over; the runbook did not mention the replica's lag\"."
        }
        Rule::Hindsight => {
            "Describe what people knew at that moment; what looks obvious now was not then."
        }
        Rule::Judgement => {
            "Describe the action and its context; a judgement of the person teaches nothing."
        }
    }
}

/// Checks a review's text.
pub fn check(text: &str) -> Vec<Finding> {
    let tokens = tokens(text);
    let mut found = Vec::new();
    person_as_cause(&tokens, &mut found);
    let mut flag = |phrases: &[&str], rule: Rule, reason: &dyn Fn(&str) -> String| {
        for phrase in phrases {
            for span in phrase_at(&tokens, phrase) {
                let negated = span.0 > 0 && NEGATIONS.contains(&tokens[span.0 - 1].lower.as_str());
                if rule == Rule::Hindsight && negated {
                    continue;
                }
                found.push(Finding::over(
                    &tokens,
                    span,
                    rule,
                    reason(phrase),
                    suggestion(rule),
                ));
            }
        }
    };
    flag(HUMAN_ERROR, Rule::HumanError, &|p| {
        format!("\"{p}\" ends the inquiry where it should begin")
    });
    flag(HINDSIGHT, Rule::Hindsight, &|p| {
        format!("\"{p}\" judges with what is known now, not what was known then")
    });
    flag(JUDGEMENT, Rule::Judgement, &|p| {
        format!("\"{p}\" judges a person rather than describing what happened")
    });
    for phrase in SHOULD_HAVE {
        for (first, last) in phrase_at(&tokens, phrase) {
            if let Some(who) = subject_before(&tokens, first) {
                let reason = format!(
                    "\"{} {phrase}\" judges a person with hindsight",
                    tokens[who].text
                );
                let rule = Rule::ShouldHave;
                found.push(Finding::over(
                    &tokens,
                    (who, last),
                    rule,
                    reason,
                    suggestion(rule),
                ));
            }
        }
    }
    super::wording::in_order(&mut found);
    found
}

/// "Alice broke checkout", "caused by Bob", "the team's mistake".
fn person_as_cause(tokens: &[Token], found: &mut Vec<Finding>) {
    let rule = Rule::PersonAsCause;
    let mut push = |span: (usize, usize), reason: String| {
        found.push(Finding::over(tokens, span, rule, reason, suggestion(rule)));
    };
    for verb in BREAKING {
        for (first, last) in phrase_at(tokens, verb) {
            if let Some(who) = subject_before(tokens, first) {
                let reason = format!("\"{} {verb}\" makes a person the cause", tokens[who].text);
                push((who, last), reason);
            }
        }
    }
    for cause in CAUSED_BY {
        for (first, last) in phrase_at(tokens, cause) {
            // The first word after the article: "caused by a change Bob made" names a change.
            let named = tokens[last + 1..]
                .iter()
                .enumerate()
                .take_while(|(_, t)| t.sentence == tokens[first].sentence)
                .find(|(_, t)| !matches!(t.lower.as_str(), "the" | "a" | "an" | "our" | "their"));
            if let Some((k, t)) = named.filter(|(k, _)| is_person(tokens, last + 1 + k)) {
                let reason = format!("\"{cause} {}\" makes a person the cause", t.text);
                push((first, last + 1 + k), reason);
            }
        }
    }
    for (i, t) in tokens.iter().enumerate().skip(1) {
        let owner = &tokens[i - 1];
        if FAULT.contains(&t.lower.as_str())
            && owner.sentence == t.sentence
            && owner.lower.ends_with("'s")
            && is_person(tokens, i - 1)
        {
            push(
                (i - 1, i),
                format!("\"{} {}\" blames a person", owner.text, t.text),
            );
        }
    }
}

/// The person a phrase at `at` is said of: the word before it, past any adverbs.
fn subject_before(tokens: &[Token], at: usize) -> Option<usize> {
    let mut i = at;
    while i > 0 {
        i -= 1;
        let t = &tokens[i];
        if t.sentence != tokens[at].sentence {
            return None;
        }
        if !ADVERBS.contains(&t.lower.as_str()) {
            return is_person(tokens, i).then_some(i);
        }
    }
    None
}

/// Whether `tokens[i]` names a person: a pronoun, a role or team, or a name (a capitalized
/// word that is not an acronym, a day or month, or "It"). A sentence's first word is
/// capitalized anyway; there a plural ("Retries caused …") is a thing, not a name.
fn is_person(tokens: &[Token], i: usize) -> bool {
    let t = &tokens[i];
    let word = t.lower.trim_end_matches("'s");
    if PEOPLE.contains(&word) || WHO.contains(&word) {
        return true;
    }
    let mut chars = t.text.chars();
    let capitalized = chars.next().is_some_and(char::is_uppercase)
        && chars.clone().count() >= 1
        && chars.all(|c| !c.is_uppercase());
    let opens_sentence = i == 0 || tokens[i - 1].sentence != t.sentence;
    let plural = !t.lower.ends_with("'s") && t.lower.ends_with('s');
    let a_thing = NOT_NAMES.contains(&word) || is_calendar_word(word) || (opens_sentence && plural);
    capitalized && !a_thing
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Factual sentences that name people must pass clean: the check must not push toward
    /// the passive voice or anonymity.
    const FACTUAL: &[&str] = &[
        "Alice deployed version 2.4.1 at 10:02; checkout errors began at 10:04.",
        "Bob rolled back the deploy at 10:31 and errors stopped within two minutes.",
        "The alert for replica lag did not page because its threshold was 10 minutes.",
        "It was not obvious from the dashboard that the replica was behind.",
        "Carol paged the database team at 10:15; Dan joined at 10:19 and found the lock.",
        "The monitor failed to fire because its query timed out.",
        "A configuration change removed the connection limit; the pool was exhausted within a minute.",
        "The runbook said to restart the primary, which Erin did at 10:40.",
        "We could not reach the vendor's status page during the first 20 minutes.",
        "The migration broke the index on orders.",
        "Frank's change caused the connection pool to shrink.",
        "The outage was caused by a certificate that expired on Monday.",
        "Detection took 12 minutes: the first signal was a customer report at 09:48.",
        "Grace decided to fail over because the primary stopped answering; the replica was 40 seconds behind.",
        "The deploy pipeline has no canary stage for checkout, so the change reached all users at once.",
        "Heidi asked for a second reviewer, and Ivan approved the change at 09:55.",
        "What went well: the incident lead handed over cleanly at 11:00.",
        "The error budget for March was spent by the 20th.",
        "Retries caused the queue to grow, and timeouts broke the health check.",
        "Postgres broke replication when the disk filled.",
    ];

    /// Blaming wording, each with its rule and the words its span covers.
    const BLAMING: &[(&str, &[(&str, &str)])] = &[
        (
            "Alice broke checkout by deploying on Friday.",
            &[("person_as_cause", "Alice broke")],
        ),
        (
            "The outage was caused by Bob.",
            &[("person_as_cause", "caused by Bob")],
        ),
        (
            "Root cause: human error.",
            &[("human_error", "human error")],
        ),
        (
            "Carol should have checked the replica before failing over.",
            &[("should_have", "Carol should have")],
        ),
        (
            "The on-call engineer failed to acknowledge the page.",
            &[("should_have", "engineer failed to")],
        ),
        (
            "If only we had tested the migration.",
            &[("hindsight", "If only")],
        ),
        (
            "Obviously the cache needed a limit.",
            &[("hindsight", "Obviously")],
        ),
        (
            "It was a careless change and a sloppy review.",
            &[("judgement", "careless"), ("judgement", "sloppy")],
        ),
        (
            "Dan accidentally took down the load balancer.",
            &[("person_as_cause", "Dan accidentally took down")],
        ),
        (
            "We should've rolled back sooner.",
            &[("should_have", "We should've")],
        ),
        (
            "It was the network team's fault.",
            &[("person_as_cause", "team's fault")],
        ),
        (
            "The incident was caused by the on-call engineer, who simply restarted the wrong host.",
            &[
                ("person_as_cause", "caused by the on-call"),
                ("hindsight", "simply"),
            ],
        ),
        (
            "In hindsight the DBA could have seen the lag.",
            &[("hindsight", "In hindsight")],
        ),
        (
            "Erin dropped the ball on the rollback.",
            &[("judgement", "dropped the ball")],
        ),
    ];

    #[test]
    fn factual_sentences_with_names_pass_clean() {
        for text in FACTUAL {
            let found = check(text);
            assert!(found.is_empty(), "{text:?} gave {found:?}");
        }
    }

    #[test]
    fn blaming_wording_is_flagged_with_its_rule_and_span() {
        for (text, expected) in BLAMING {
            let got: Vec<(String, String)> = check(text)
                .iter()
                .map(|f| (f.rule.to_string(), f.words(text)))
                .collect();
            let want: Vec<(String, String)> = expected
                .iter()
                .map(|(r, w)| (r.to_string(), w.to_string()))
                .collect();
            assert_eq!(got, want, "{text:?}");
        }
    }

    #[test]
    fn spans_count_characters_and_every_finding_suggests_a_rewrite() {
        let text = "Zoë’s mistake: she should have waited.";
        let found = check(text);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!((found[0].start, found[0].end), (0, 13));
        assert_eq!(found[0].words(text), "Zoë’s mistake");
        assert_eq!(found[1].words(text), "she should have");
        assert!(
            found
                .iter()
                .all(|f| !f.suggestion.is_empty() && !f.reason.is_empty())
        );
    }
}
