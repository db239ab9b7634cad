//! The tone check: deterministic rules that read a status update as its readers will, and say
//! where it may pass the responders' stress on (shouting, panic, blame, promises) or leave
//! readers without what they need (what they experience, what is being done, when they hear
//! more). It advises and never blocks. Every finding names its rule, the span it is about (in
//! characters, from 0) and what to write instead; calm, plain updates get none.

use super::communication::{Audience, Phase};
use super::wording::{Token, phrase_at, tokens};

/// One thing the tone check found.
pub type Finding = super::wording::Finding<Rule>;

closed_set! {
    /// The rules, by id.
    pub enum Rule for "rule" {
        Shouting = "shouting",
        StackedPunctuation = "stacked_punctuation",
        PanicWord = "panic_word",
        Blame = "blame",
        Speculation = "speculation",
        FixTimePromise = "fix_time_promise",
        InternalDetail = "internal_detail",
        MissingImpact = "missing_impact",
        MissingAction = "missing_action",
        MissingNextUpdate = "missing_next_update",
    }
}

/// What the organisation tunes: the words that sound like panic, and the acronyms that are
/// not shouting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToneRules {
    /// Words and phrases, lower case.
    pub panic_words: Vec<String>,
    /// Upper case.
    pub acronyms: Vec<String>,
}

const PANIC_WORDS: &[&str] = &[
    "catastrophe",
    "catastrophic",
    "catastrophically",
    "disaster",
    "disastrous",
    "meltdown",
    "chaos",
    "chaotic",
    "nightmare",
    "horrible",
    "horrendous",
    "terrible",
    "panic",
    "panicking",
    "crisis",
    "devastating",
    "apocalypse",
    "apocalyptic",
    "fiasco",
    "massive",
    "worst",
    "scrambling",
    "total failure",
    "on fire",
    "dumpster fire",
    "completely broken",
    "everything is broken",
    "everything is down",
];

const ACRONYMS: &[&str] = &[
    "AEDT",
    "AEST",
    "CDT",
    "CST",
    "EEST",
    "EET",
    "ET",
    "HKT",
    "JST",
    "KST",
    "MDT",
    "MST",
    "NZDT",
    "NZST",
    "PT",
    "SGT",
    "WEST",
    "WET",
    "IDENTIFIED",
    "INVESTIGATING",
    "MONITORING",
    "RESOLVED",
    "UPDATE",
    "API",
    "APAC",
    "CFO",
    "CIO",
    "CISO",
    "COO",
    "DBA",
    "KPI",
    "MTTR",
    "NOC",
    "OKR",
    "RCA",
    "SEV",
    "SLI",
    "SLO",
    "SOC",
    "SRE",
    "ASAP",
    "ATM",
    "AWS",
    "BGP",
    "BST",
    "CDN",
    "CEO",
    "CEST",
    "CET",
    "CPU",
    "CRM",
    "CSV",
    "CTO",
    "DNS",
    "EDT",
    "EMEA",
    "EST",
    "ETA",
    "EU",
    "FAQ",
    "FYI",
    "GCP",
    "GDPR",
    "GMT",
    "HR",
    "HTML",
    "HTTP",
    "HTTPS",
    "ID",
    "IMAP",
    "IP",
    "ISP",
    "IST",
    "IT",
    "JSON",
    "LATAM",
    "MFA",
    "OK",
    "OOM",
    "OTP",
    "PDF",
    "PDT",
    "PIN",
    "POS",
    "PST",
    "QA",
    "RAM",
    "REST",
    "SAML",
    "SDK",
    "SLA",
    "SMS",
    "SMTP",
    "SQL",
    "SSH",
    "SSL",
    "SSO",
    "TLS",
    "UI",
    "UK",
    "URL",
    "US",
    "USA",
    "UTC",
    "UX",
    "VAT",
    "VPN",
    "XML",
];

impl ToneRules {
    /// The built-in rules with the organisation's words: `panic_words` replaces the built-in
    /// list (when given), `acronyms` adds to it. Words are matched as the text is read: in
    /// lower case, spaces collapsed, curly apostrophes straight.
    pub fn new(panic_words: Option<Vec<String>>, acronyms: Vec<String>) -> Self {
        let mut rules = Self::default();
        if let Some(words) = panic_words {
            rules.panic_words = words
                .iter()
                .map(|w| {
                    w.split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" ")
                        .to_lowercase()
                        .replace('’', "'")
                })
                .filter(|w| !w.is_empty())
                .collect();
        }
        rules
            .acronyms
            .extend(acronyms.iter().map(|a| a.trim().to_uppercase()));
        rules
    }
}

impl Default for ToneRules {
    fn default() -> Self {
        Self {
            panic_words: PANIC_WORDS.iter().map(|w| (*w).to_string()).collect(),
            acronyms: ACRONYMS.iter().map(|w| (*w).to_string()).collect(),
        }
    }
}

/// Internals that mean nothing to a customer (public updates only).
const JARGON: &[&str] = &[
    "k8s",
    "kubernetes",
    "kube",
    "kubectl",
    "pod",
    "oom",
    "oomkilled",
    "p50",
    "p90",
    "p95",
    "p99",
    "5xx",
    "4xx",
    "segfault",
    "heap",
    "deadlock",
    "mutex",
    "stack trace",
    "stacktrace",
    "bgp",
    "etcd",
    "replica lag",
    "shard",
    "sharding",
    "node pool",
    "sigkill",
    "sigterm",
    "cron",
    "cronjob",
    "thread pool",
    "connection pool",
    "redis",
    "postgres",
    "postgresql",
    "mysql",
    "kafka",
    "rabbitmq",
    "zookeeper",
    "nginx",
    "haproxy",
    "elasticsearch",
];

const CERTAINTY: &[&str] = &[
    "definitely",
    "certainly",
    "clearly",
    "obviously",
    "undoubtedly",
    "without a doubt",
    "no doubt",
    "for sure",
    "100%",
    "guaranteed",
    "must be",
    "has to be",
];

/// Blame however it is worded: a person, team or vendor as the cause is a matter for a
/// blameless review, not for an update.
const BLAME: &[&str] = &[
    "fault of",
    "blame",
    "blamed",
    "blaming",
    "human error",
    "screwed up",
    "messed up",
    "dropped the ball",
    "incompetent",
    "careless",
    "negligent",
    "sloppy",
];

/// People, teams and vendors, as a sentence names them as a cause (after "caused by", "due
/// to"); the blameless check reads it too.
pub(super) const WHO: &[&str] = &[
    "team",
    "teams",
    "engineer",
    "engineers",
    "developer",
    "developers",
    "admin",
    "administrator",
    "operator",
    "contractor",
    "intern",
    "employee",
    "staff",
    "colleague",
    "vendor",
    "vendors",
    "provider",
    "supplier",
    "partner",
    "someone",
    "somebody",
];

const FIX_WORDS: &[&str] = &[
    "fix",
    "fixed",
    "fixing",
    "resolve",
    "resolved",
    "resolving",
    "restore",
    "restored",
    "restoring",
    "repair",
    "repaired",
    "solved",
    "sorted",
    "back",
    "running",
    "working",
];

/// Words that, with a time after them, say when readers hear more ("next update by 14:30").
const NEXT_UPDATE_WORDS: &[&str] = &["update", "updates", "information"];

/// Words after which a time is about news to come (the next update, a report), not a fix.
const UPDATE_WORDS: &[&str] = &[
    "update",
    "updates",
    "information",
    "report",
    "news",
    "details",
];

const IMPACT_WORDS: &[&str] = &[
    "user",
    "users",
    "customer",
    "customers",
    "you",
    "your",
    "visitors",
    "members",
    "merchants",
    "clients",
    "people",
    "unable",
    "cannot",
    "can't",
    "error",
    "errors",
    "slow",
    "slower",
    "slowly",
    "slowness",
    "delay",
    "delays",
    "delayed",
    "unavailable",
    "available",
    "outage",
    "disruption",
    "disrupted",
    "degraded",
    "degradation",
    "fail",
    "fails",
    "failing",
    "failed",
    "failure",
    "failures",
    "timeouts",
    "affected",
    "affecting",
    "affects",
    "impact",
    "impacted",
    "experience",
    "experiencing",
    "intermittent",
    "intermittently",
    "normally",
    "down",
    "missing",
    "declined",
    "rejected",
    "refused",
    "unreachable",
    "inaccessible",
    "interrupted",
    "lost",
    "loading",
    "load",
];

const ACTION_WORDS: &[&str] = &[
    "we",
    "we're",
    "we've",
    "we'll",
    "our",
    "team",
    "engineers",
    "investigating",
    "investigate",
    "identified",
    "working",
    "monitoring",
    "deployed",
    "reverted",
    "mitigated",
    "mitigating",
    "restored",
    "restoring",
    "resolved",
    "fixed",
    "rolled",
];

const TIME_UNITS: &[&str] = &[
    "m", "h", "sec", "secs", "second", "seconds", "min", "mins", "minute", "minutes", "hr", "hrs",
    "hour", "hours", "day", "days",
];

fn finding(tokens: &[Token], span: (usize, usize), rule: Rule, reason: String) -> Finding {
    Finding::over(tokens, span, rule, reason, suggestion(rule))
}

fn suggestion(rule: Rule) -> &'static str {
    match rule {
        Rule::Shouting => {
            "Write it in sentence case; calm words carry urgency better than capitals."
        }
        Rule::StackedPunctuation => "End the sentence with a single full stop.",
        Rule::PanicWord => {
            "Say what is happening and to whom, plainly: \"some customers cannot check out\"."
        }
        Rule::Blame => {
            "Describe what happened, not who is at fault: \"a configuration change caused …\"."
        }
        Rule::Speculation => {
            "Say what is known and how sure you are: \"we believe\", \"we are testing whether\"."
        }
        Rule::FixTimePromise => {
            "Promise the next update instead of a fix time: \"next update by 14:30 UTC\"."
        }
        Rule::InternalDetail => {
            "Describe what customers experience; keep host names, addresses and internals for the responders."
        }
        Rule::MissingImpact => {
            "Say what readers experience: \"some customers see errors when paying\"."
        }
        Rule::MissingAction => "Say what the team is doing: \"we are rolling back the change\".",
        Rule::MissingNextUpdate => "Say when the next update comes: \"next update by 14:30 UTC\".",
    }
}

/// Checks an update for `audience`. `phase` (when known) tells whether a next update is still
/// due: a resolved incident's last update needs none.
pub fn check(
    text: &str,
    audience: Audience,
    phase: Option<Phase>,
    rules: &ToneRules,
) -> Vec<Finding> {
    let tokens = tokens(text);
    let mut found = Vec::new();
    shouting(&tokens, rules, &mut found);
    stacked_punctuation(text, &mut found);
    for word in &rules.panic_words {
        for span in phrase_at(&tokens, word)
            .into_iter()
            .filter(|s| !calm_use(&tokens, *s))
        {
            let reason = format!("\"{word}\" sounds like panic, and readers take it on");
            found.push(finding(&tokens, span, Rule::PanicWord, reason));
        }
    }
    blame(&tokens, &mut found);
    for word in CERTAINTY {
        for span in phrase_at(&tokens, word)
            .into_iter()
            .filter(|s| !calm_use(&tokens, *s))
        {
            let reason = format!("\"{word}\" states as certain what may not be known yet");
            found.push(finding(&tokens, span, Rule::Speculation, reason));
        }
    }
    // A resolved incident's update reports how long things took; it promises nothing.
    if phase != Some(Phase::Resolved) {
        fix_time_promises(&tokens, &mut found);
    }
    if audience == Audience::Public {
        internal_detail(&tokens, &mut found);
    }
    if audience != Audience::Responders {
        missing_essentials(text, &tokens, phase, &mut found);
    }
    super::wording::in_order(&mut found);
    found
}

/// Set phrases where a panic word or a certainty is plain speech: "disaster recovery", "must
/// be retried".
fn calm_use(tokens: &[Token], (_, last): (usize, usize)) -> bool {
    let next = tokens
        .get(last + 1)
        .filter(|t| t.sentence == tokens[last].sentence)
        .map(|t| t.lower.as_str());
    match (tokens[last].lower.as_str(), next) {
        ("disaster", Some("recovery")) => true,
        // "must be retried", "has to be renewed": an instruction, not a guess.
        ("be", Some(n)) => n.ends_with("ed") || n.ends_with("en"),
        _ => false,
    }
}

/// Runs of words in capitals (two letters or more, not acronyms) with one of three or more.
fn shouting(tokens: &[Token], rules: &ToneRules, found: &mut Vec<Finding>) {
    let letters = |t: &Token| t.text.chars().filter(|c| c.is_alphabetic()).count();
    // Scripts without capitals (Japanese, Arabic, …) never shout; "EU/US" is two acronyms.
    let shouted = |t: &Token| {
        letters(t) >= 2
            && t.text.chars().any(char::is_uppercase)
            && !t
                .text
                .chars()
                .any(|c| c.is_lowercase() || c.is_ascii_digit())
            && !t
                .text
                .split(['/', '-', '&'])
                .all(|part| part.is_empty() || rules.acronyms.iter().any(|a| a == part))
    };
    let mut i = 0;
    while i < tokens.len() {
        if !shouted(&tokens[i]) {
            i += 1;
            continue;
        }
        let first = i;
        while i + 1 < tokens.len()
            && shouted(&tokens[i + 1])
            && tokens[i + 1].sentence == tokens[first].sentence
        {
            i += 1;
        }
        if tokens[first..=i].iter().any(|t| letters(t) >= 3) {
            let reason = "words in capitals read as shouting".to_string();
            found.push(finding(tokens, (first, i), Rule::Shouting, reason));
        }
        i += 1;
    }
}

fn stacked_punctuation(text: &str, found: &mut Vec<Finding>) {
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let start = i;
        let mut marks = 0;
        while i < chars.len() && matches!(chars[i], '!' | '?' | '‼' | '⁉' | '⁈' | '⁇') {
            marks += if matches!(chars[i], '!' | '?') { 1 } else { 2 };
            i += 1;
        }
        if marks >= 2 {
            found.push(Finding {
                start,
                end: i,
                rule: Rule::StackedPunctuation,
                reason: "stacked marks read as alarm".to_string(),
                suggestion: suggestion(Rule::StackedPunctuation),
            });
        }
        i = i.max(start + 1);
    }
}

fn blame(tokens: &[Token], found: &mut Vec<Finding>) {
    for word in BLAME {
        let no_fault = |(first, _): (usize, usize)| {
            *word == "fault of" && first > 0 && tokens[first - 1].lower == "no"
        };
        for span in phrase_at(tokens, word)
            .into_iter()
            .filter(|s| !no_fault(*s))
        {
            let reason = format!("\"{word}\" points at someone rather than at what happened");
            found.push(finding(tokens, span, Rule::Blame, reason));
        }
    }
    // "X's fault".
    for (i, t) in tokens.iter().enumerate() {
        if i > 0 && t.lower == "fault" && tokens[i - 1].lower.ends_with("'s") {
            let reason = "naming whose fault it is points at someone".to_string();
            found.push(finding(tokens, (i - 1, i), Rule::Blame, reason));
        }
    }
    // "caused by the network team", "due to Bob": a person, team or vendor as the cause.
    for cause in ["caused by", "broken by", "due to", "because of"] {
        for (first, last) in phrase_at(tokens, cause) {
            let after = tokens[last + 1..]
                .iter()
                .take(4)
                .take_while(|t| t.sentence == tokens[first].sentence);
            for (k, t) in after.enumerate() {
                let named = t.text.chars().next().is_some_and(char::is_uppercase)
                    && t.text.chars().skip(1).all(|c| !c.is_uppercase())
                    && !is_calendar_word(&t.lower);
                // A name after "due to" is as often an event ("Black Friday") as a culprit.
                let names_culprit = k == 0 && named && matches!(cause, "caused by" | "broken by");
                if WHO.contains(&t.lower.trim_end_matches("'s")) || names_culprit {
                    let reason = format!("\"{cause} {}\" names who is to blame", t.text);
                    found.push(finding(tokens, (first, last + 1 + k), Rule::Blame, reason));
                    break;
                }
            }
        }
    }
}

pub(super) fn is_calendar_word(word: &str) -> bool {
    const NAMES: &[&str] = &[
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
        "monday's",
        "tuesday's",
        "wednesday's",
        "thursday's",
        "friday's",
        "saturday's",
        "sunday's",
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
        "today's",
        "yesterday's",
    ];
    NAMES.contains(&word)
}

/// "fixed in 5 minutes", "back up within the hour": a time the fix will take. A time after
/// "update" ("next update in 30 minutes") is the cadence, which is what readers need.
fn fix_time_promises(tokens: &[Token], found: &mut Vec<Finding>) {
    for i in 0..tokens.len() {
        let Some(end) = duration_at(tokens, i) else {
            continue;
        };
        // The nearest anchor before the duration, in the same sentence, says what it times.
        let anchor = tokens[..i]
            .iter()
            .enumerate()
            .rev()
            .take(6)
            .take_while(|(_, a)| a.sentence == tokens[i].sentence)
            .find(|(_, a)| {
                FIX_WORDS.contains(&a.lower.as_str()) || UPDATE_WORDS.contains(&a.lower.as_str())
            });
        // "get back to you within the hour" promises an answer, not a fix.
        let back_to = |at: usize| {
            tokens[at].lower == "back" && tokens.get(at + 1).is_some_and(|n| n.lower == "to")
        };
        if let Some((at, a)) = anchor
            && FIX_WORDS.contains(&a.lower.as_str())
            && !back_to(at)
        {
            let reason = "a fix time is a promise the team may not keep".to_string();
            found.push(finding(tokens, (at, end), Rule::FixTimePromise, reason));
        }
    }
}

/// Whether a duration ("in 5 minutes", "within 2 hours", "in a few minutes", "within the
/// hour", "any minute") starts at token `i`; its last token.
fn duration_at(tokens: &[Token], i: usize) -> Option<usize> {
    let word = |k: usize| {
        tokens
            .get(k)
            .filter(|t| t.sentence == tokens[i].sentence)
            .map(|t| t.lower.as_str())
    };
    let unit = |k: usize| word(k).is_some_and(|w| TIME_UNITS.contains(&w));
    let amount = |k: usize| {
        word(k).is_some_and(|w| {
            w.chars().all(|c| c.is_ascii_digit())
                || [
                    "a",
                    "an",
                    "one",
                    "two",
                    "few",
                    "several",
                    "half",
                    "about",
                    "around",
                    "roughly",
                    "approximately",
                ]
                .contains(&w)
        })
    };
    match word(i)? {
        "in" | "within" => {
            // "in 5 minutes", "in a few minutes", "within the hour", "in 5min".
            if word(i + 1).is_some_and(|w| {
                w.trim_end_matches(|c: char| c.is_alphabetic()).len() < w.len()
                    && w.chars().next().is_some_and(|c| c.is_ascii_digit())
                    && TIME_UNITS.contains(&w.trim_start_matches(|c: char| c.is_ascii_digit()))
            }) {
                return Some(i + 1);
            }
            let mut k = i + 1;
            if word(k) == Some("the") && unit(k + 1) {
                return Some(k + 1);
            }
            while amount(k) && k < i + 4 {
                k += 1;
            }
            // "within minutes" is a promise too.
            unit(k).then_some(k)
        }
        "by" if word(i + 1).is_some_and(is_clock_time) => Some(i + 1),
        "any" if matches!(word(i + 1), Some("minute" | "moment")) => Some(i + 1),
        _ => None,
    }
}

fn internal_detail(tokens: &[Token], found: &mut Vec<Finding>) {
    for (i, t) in tokens.iter().enumerate() {
        let reason = if is_ipv4(&t.lower) {
            Some(format!("{} is an internal address", t.text))
        } else if is_host_name(&t.lower) {
            Some(format!("{} looks like an internal host name", t.text))
        } else {
            None
        };
        if let Some(reason) = reason {
            found.push(finding(tokens, (i, i), Rule::InternalDetail, reason));
        }
    }
    for word in JARGON {
        for span in phrase_at(tokens, word) {
            let reason = format!("\"{word}\" is jargon customers do not share");
            found.push(finding(tokens, span, Rule::InternalDetail, reason));
        }
    }
}

fn is_ipv4(word: &str) -> bool {
    let parts: Vec<&str> = word.split('.').collect();
    parts.len() == 4
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 3 && p.parse::<u8>().is_ok())
}

/// `db-01`, `web03`, `pg-primary-2`, `cache.internal`: names machines go by.
fn is_host_name(word: &str) -> bool {
    const PRIVATE: &[&str] = &[
        ".internal",
        ".local",
        ".lan",
        ".corp",
        ".intra",
        ".localdomain",
    ];
    if PRIVATE
        .iter()
        .any(|s| word.ends_with(s) && word.len() > s.len())
    {
        return true;
    }
    let first = word.split('.').next().unwrap_or(word);
    // A cloud region (`eu-west-1`, `us-east-2`) is where customers are, not a machine.
    let parts: Vec<&str> = first.split('-').collect();
    if let [area, direction, number] = parts[..]
        && area.len() == 2
        && direction.chars().all(|c| c.is_ascii_lowercase())
        && number.len() == 1
        && number.chars().all(|c| c.is_ascii_digit())
    {
        return false;
    }
    let letters_first = first.chars().next().is_some_and(|c| c.is_ascii_lowercase());
    let allowed = first
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    let digits = first.chars().rev().take_while(char::is_ascii_digit).count();
    let stem = &first[..first.len() - digits];
    letters_first
        && allowed
        && digits > 0
        && stem.chars().filter(char::is_ascii_lowercase).count() >= 2
        && (stem.contains('-') || digits >= 2)
}

/// What every update to people outside the response needs: what readers experience, what is
/// being done, and (until it is resolved) when they hear more.
fn missing_essentials(
    text: &str,
    tokens: &[Token],
    phase: Option<Phase>,
    found: &mut Vec<Finding>,
) {
    let end = text.chars().count();
    let has = |words: &[&str]| tokens.iter().any(|t| words.contains(&t.lower.as_str()));
    let mut missing = |rule: Rule, reason: &str| {
        found.push(Finding {
            start: end,
            end,
            rule,
            reason: reason.to_string(),
            suggestion: suggestion(rule),
        });
    };
    if !has(IMPACT_WORDS) {
        missing(
            Rule::MissingImpact,
            "it does not say what readers experience",
        );
    }
    if !has(ACTION_WORDS) {
        missing(Rule::MissingAction, "it does not say what is being done");
    }
    if phase != Some(Phase::Resolved) && !names_next_update(tokens) {
        missing(
            Rule::MissingNextUpdate,
            "it does not say when the next update comes",
        );
    }
}

/// `14:30`, `9:05`, `3pm`, `2:30pm`.
fn is_clock_time(word: &str) -> bool {
    let (clock, meridiem) = word
        .strip_suffix("am")
        .or_else(|| word.strip_suffix("pm"))
        .map_or((word, false), |t| (t, true));
    let digits = |s: &str, len: std::ops::RangeInclusive<usize>| {
        len.contains(&s.len()) && s.chars().all(|c| c.is_ascii_digit())
    };
    match clock.split_once(':') {
        Some((h, m)) => digits(h, 1..=2) && digits(m, 2..=2),
        None => meridiem && digits(clock, 1..=2),
    }
}

/// An update, and a time for it: "next update by 14:30 UTC", "another update within 30
/// minutes", "more information in an hour".
fn names_next_update(tokens: &[Token]) -> bool {
    tokens.iter().enumerate().any(|(i, t)| {
        NEXT_UPDATE_WORDS.contains(&t.lower.as_str())
            && tokens[i + 1..]
                .iter()
                .enumerate()
                .take(8)
                .take_while(|(_, n)| n.sentence == t.sentence)
                .any(|(k, n)| {
                    is_clock_time(&n.lower)
                        || matches!(n.lower.as_str(), "am" | "pm")
                        || TIME_UNITS.contains(&n.lower.as_str())
                        || duration_at(tokens, i + 1 + k).is_some()
                })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn findings(text: &str, audience: Audience, phase: Option<Phase>) -> Vec<Finding> {
        check(text, audience, phase, &ToneRules::default())
    }

    fn spanned(text: &str, f: &Finding) -> String {
        f.words(text)
    }

    /// Updates as calm teams write them: none may draw a finding.
    const CALM: &[(&str, Audience, Option<Phase>)] = &[
        (
            "We are investigating reports of slow page loads for some customers in Europe. Our team is working to identify the cause. Next update by 14:30 UTC.",
            Audience::Public,
            Some(Phase::Investigating),
        ),
        (
            "Some users cannot sign in with SSO. We have identified a configuration change as the likely cause and are rolling it back. We will post another update within 30 minutes.",
            Audience::Public,
            Some(Phase::Identified),
        ),
        (
            "Card payments are failing for a portion of checkouts. Engineers are working with our payment provider to restore service. Next update in 20 minutes.",
            Audience::Public,
            Some(Phase::Investigating),
        ),
        (
            "Email notifications are delayed by up to 15 minutes. We are processing the backlog and expect delays to shrink over the next hour. Next update at 11:00 UTC.",
            Audience::Public,
            Some(Phase::Identified),
        ),
        (
            "A fix has been deployed and error rates for API requests are back to normal. We are monitoring the results. Next update in 30 minutes.",
            Audience::Public,
            Some(Phase::Monitoring),
        ),
        (
            "The issue affecting file uploads has been resolved. Uploads have worked normally since 09:42 UTC. We are sorry for the disruption and will publish a review.",
            Audience::Public,
            Some(Phase::Resolved),
        ),
        (
            "Between 13:05 and 13:40 UTC, some API requests returned errors. The cause was a faulty configuration change, which we reverted. Service is operating normally.",
            Audience::Public,
            Some(Phase::Resolved),
        ),
        (
            "Dashboards may load slowly while we add capacity. No data has been lost. We will share an update by 16:00 UTC.",
            Audience::Public,
            Some(Phase::Identified),
        ),
        (
            "Mobile app users may see outdated balances. We are resyncing accounts now. Next update by 10:15 UTC.",
            Audience::Public,
            None,
        ),
        (
            "Search results may be incomplete for some customers in the US. We have found the cause and are rebuilding the index. We will update this page within the hour.",
            Audience::Public,
            Some(Phase::Identified),
        ),
        (
            "Impact: about 8% of checkout attempts fail since 14:02 UTC, mostly in the EU. Response: the team rolled back the 14:00 release and error rates are falling. Next update: 15:00 UTC.",
            Audience::Stakeholders,
            Some(Phase::Identified),
        ),
        (
            "Summary: customers in APAC could not log in for 25 minutes. We restored service at 03:10 UTC and are watching closely. Next update in 2 hours, or sooner if anything changes.",
            Audience::Stakeholders,
            Some(Phase::Monitoring),
        ),
        (
            "Conditions: checkout-api p99 at 8 s, 12% 5xx since 14:02 on edge-lb-2 (10.0.4.12). Actions: rolled back deploy 4411. Needs: a database engineer to check replica lag.",
            Audience::Responders,
            None,
        ),
        (
            "We're seeing elevated error rates on the dashboard. Our engineers are investigating. We'll post an update in 15 minutes.",
            Audience::Public,
            Some(Phase::Investigating),
        ),
        (
            "Scheduled maintenance is taking longer than planned, so reports are unavailable. We are completing the database upgrade. Next update by 06:30 UTC.",
            Audience::Public,
            Some(Phase::Update),
        ),
        (
            "Webhook deliveries to your endpoints are delayed. We are working through the queue, oldest first. Next update in 45 minutes.",
            Audience::Public,
            None,
        ),
        (
            "The problem was due to an expired TLS certificate on our side, which we have renewed. All customers can connect again.",
            Audience::Public,
            Some(Phase::Resolved),
        ),
        (
            "Video calls may drop for some users. We have moved traffic away from the affected region and are monitoring. Next update at 18:00 CET.",
            Audience::Public,
            Some(Phase::Monitoring),
        ),
        (
            "Invoices generated today may show the wrong VAT rate. We have paused invoice generation and are correcting the affected invoices. Next update by 12:00 GMT.",
            Audience::Public,
            Some(Phase::Identified),
        ),
        (
            "Login is slow for customers using two-factor authentication by SMS. We are working with our messaging provider. We will share more information within 30 minutes.",
            Audience::Public,
            Some(Phase::Investigating),
        ),
    ];

    /// More calm updates, each with something a naive rule would trip on.
    const CALM_TOO: &[(&str, Audience, Option<Phase>)] = &[
        (
            "Customers in eu-west-1 may see slower dashboards. We are adding capacity. Next update at 3pm UTC.",
            Audience::Public,
            Some(Phase::Identified),
        ),
        (
            "We moved traffic to our disaster recovery site, so some customers may see slower pages. Next update in 30 minutes.",
            Audience::Public,
            Some(Phase::Monitoring),
        ),
        (
            "Card payments declined between 10:05 and 10:40 UTC must be retried. We have fixed the cause.",
            Audience::Public,
            Some(Phase::Resolved),
        ),
        (
            "Checkout is slower than usual due to Black Friday traffic. We are adding capacity. Next update by 2:30pm EST.",
            Audience::Public,
            Some(Phase::Identified),
        ),
        (
            "Some card payments are declined. We are investigating. Next update by 09:00 AEST.",
            Audience::Public,
            Some(Phase::Investigating),
        ),
        (
            "RESOLVED: Service was restored in 12 minutes and all customers can sign in again.",
            Audience::Public,
            Some(Phase::Resolved),
        ),
        (
            "EU/US customers may see errors. We are investigating. Next update in 20 minutes.",
            Audience::Public,
            Some(Phase::Investigating),
        ),
        (
            "We are sorry: through no fault of your own, some orders were cancelled. We are restoring them. Next update by 16:00 UTC.",
            Audience::Public,
            Some(Phase::Identified),
        ),
        (
            "Some customers see delays. If you contacted support, we will get back to you within the hour. Next update at 12:00 UTC.",
            Audience::Public,
            Some(Phase::Identified),
        ),
    ];

    #[test]
    fn text_without_capitals_never_shouts() {
        let found = findings("一部のお客様が決済できません。", Audience::Public, None);
        assert!(found.iter().all(|f| f.rule != Rule::Shouting), "{found:?}");
    }

    #[test]
    fn calm_updates_draw_no_finding() {
        for (text, audience, phase) in CALM.iter().chain(CALM_TOO) {
            let found = findings(text, *audience, *phase);
            assert!(
                found.is_empty(),
                "{text}\n{:#?}",
                found
                    .iter()
                    .map(|f| (f.rule, spanned(text, f)))
                    .collect::<Vec<_>>()
            );
        }
    }

    /// (update, rule, the text the finding spans), for a public update.
    const ALARMED: &[(&str, Rule, &str)] = &[
        (
            "WE ARE DOWN. Users see errors; we are on it. Next update by 10:00.",
            Rule::Shouting,
            "WE ARE DOWN",
        ),
        (
            "Checkout is failing!!! We are investigating. Next update in 10 minutes.",
            Rule::StackedPunctuation,
            "!!!",
        ),
        (
            "Is checkout down?! We are checking. Next update in 10 minutes.",
            Rule::StackedPunctuation,
            "?!",
        ),
        (
            "This is a total disaster for our customers. We are working on it. Next update in 10 minutes.",
            Rule::PanicWord,
            "disaster",
        ),
        (
            "Everything is down for users. We are investigating. Next update in 10 minutes.",
            Rule::PanicWord,
            "Everything is down",
        ),
        (
            "The outage was caused by Bob's deploy; users see errors. We reverted it. Next update at 10:00.",
            Rule::Blame,
            "caused by Bob's",
        ),
        (
            "Errors for customers are due to our CDN vendor. We are working on it. Next update at 10:00.",
            Rule::Blame,
            "due to our CDN vendor",
        ),
        (
            "It's the network team's fault that users see errors. We are on it. Next update at 10:00.",
            Rule::Blame,
            "team's fault",
        ),
        (
            "Users see errors after a human error in a script. We reverted it. Next update at 10:00.",
            Rule::Blame,
            "human error",
        ),
        (
            "Users see errors. The database is definitely the cause. We are on it. Next update at 10:00.",
            Rule::Speculation,
            "definitely",
        ),
        (
            "Users see errors. It must be the new release. We are on it. Next update at 10:00.",
            Rule::Speculation,
            "must be",
        ),
        (
            "Users see errors. It will be fixed in 5 minutes. Next update at 10:00.",
            Rule::FixTimePromise,
            "fixed in 5 minutes",
        ),
        (
            "Users see errors. We expect service back within the hour. Next update at 10:00.",
            Rule::FixTimePromise,
            "back within the hour",
        ),
        (
            "Users see errors. We will have it resolved in a few minutes. Next update at 10:00.",
            Rule::FixTimePromise,
            "resolved in a few minutes",
        ),
        (
            "Users see errors because db-01.internal is full. We are on it. Next update at 10:00.",
            Rule::InternalDetail,
            "db-01.internal",
        ),
        (
            "Users see errors from 10.0.3.7. We are on it. Next update at 10:00.",
            Rule::InternalDetail,
            "10.0.3.7",
        ),
        (
            "Users see errors: the pods were OOMKilled. We are on it. Next update at 10:00.",
            Rule::InternalDetail,
            "OOMKilled",
        ),
        (
            "Users see errors while web-03 restarts. We are on it. Next update at 10:00.",
            Rule::InternalDetail,
            "web-03",
        ),
        (
            "Users see errors. The Redis cluster lost a shard. We are on it. Next update at 10:00.",
            Rule::InternalDetail,
            "Redis",
        ),
        (
            "This is a massive outage for users. We are investigating. Next update at 10:00.",
            Rule::PanicWord,
            "massive",
        ),
        (
            "Users see errors. We are scrambling to fix it. Next update at 10:00.",
            Rule::PanicWord,
            "scrambling",
        ),
        (
            "Users see errors. It will be fixed by 14:30 UTC. Next update at 10:00.",
            Rule::FixTimePromise,
            "fixed by 14:30",
        ),
        (
            "Users see errors. It will be fixed in about 20 minutes. Next update at 10:00.",
            Rule::FixTimePromise,
            "fixed in about 20 minutes",
        ),
        (
            "Users see errors. Service will be back within minutes. Next update at 10:00.",
            Rule::FixTimePromise,
            "back within minutes",
        ),
        (
            "Users see errors‼ We are on it. Next update at 10:00.",
            Rule::StackedPunctuation,
            "‼",
        ),
        (
            "Users report errors since 09:40 UTC. We are on it.",
            Rule::MissingNextUpdate,
            "",
        ),
    ];

    #[test]
    fn alarmed_updates_are_found_where_they_alarm() {
        for (text, rule, span) in ALARMED {
            let found = findings(text, Audience::Public, Some(Phase::Investigating));
            assert!(
                found
                    .iter()
                    .any(|f| f.rule == *rule && spanned(text, f) == *span),
                "{text}: no {rule} over {span:?} in {:?}",
                found
                    .iter()
                    .map(|f| (f.rule, spanned(text, f)))
                    .collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn missing_essentials_are_named_at_the_end() {
        let text = "We are looking into it.";
        let found = findings(text, Audience::Public, None);
        let rules: Vec<Rule> = found.iter().map(|f| f.rule).collect();
        assert_eq!(rules, vec![Rule::MissingImpact, Rule::MissingNextUpdate]);
        assert!(found.iter().all(|f| (f.start, f.end) == (23, 23)));
        // Resolved: no next update is due. Responders: the Conditions/Actions/Needs form
        // says what it needs to.
        let done = "Service is back to normal for all customers; we restored it at 10:04.";
        assert!(findings(done, Audience::Public, Some(Phase::Resolved)).is_empty());
        assert!(findings("Checking the router.", Audience::Responders, None).is_empty());
    }

    #[test]
    fn internals_are_fine_for_stakeholders_and_responders() {
        let text = "Users see errors from db-01 (10.0.3.7). We are on it. Next update at 10:00.";
        assert!(findings(text, Audience::Stakeholders, None).is_empty());
        assert_eq!(findings(text, Audience::Public, None).len(), 2);
    }

    #[test]
    fn spans_count_characters_not_bytes() {
        let text = "Café users see errors!! We are on it. Next update at 10:00.";
        let found = findings(text, Audience::Public, None);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!((found[0].start, found[0].end), (21, 23));
    }

    #[test]
    fn any_text_is_read_without_a_panic_and_spans_stay_inside_it() {
        const PIECES: &[&str] = &[
            "WE", "ARE", "down", "!", "?", ".", " ", "\n", "db-01", "10.0.0.1", "in", "5",
            "minutes", "fixed", "caused", "by", "Bob's", "fault", "’", "é", "🔥", "-", ":",
            "14:30", "update", "next", "within", "the", "hour", "a", "few", "'", "%", "\u{202e}",
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..2000 {
            let mut text = String::new();
            for _ in 0..(seed % 40) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                text.push_str(PIECES[usize::try_from(seed % PIECES.len() as u64).unwrap()]);
            }
            let length = text.chars().count();
            for audience in Audience::ALL {
                for f in findings(&text, *audience, None) {
                    assert!(f.start <= f.end && f.end <= length, "{text:?}: {f:?}");
                }
            }
        }
    }

    #[test]
    fn the_organisation_tunes_the_words() {
        let mut rules = ToneRules::default();
        rules.panic_words.push("hellfire".into());
        rules.acronyms.push("SAP".into());
        let text = "SAP users face hellfire. We are on it. Next update at 10:00.";
        let found = check(text, Audience::Public, None, &rules);
        let rules: Vec<Rule> = found.iter().map(|f| f.rule).collect();
        assert_eq!(rules, vec![Rule::PanicWord]);
    }
}
