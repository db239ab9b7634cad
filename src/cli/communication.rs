//! `aplomb tone-check`: the tone check of a draft update, before it goes out.

use std::io::Read;
use std::path::PathBuf;

use reqwest::Method;
use serde_json::{Value, json};

use super::{CliError, Client, text};

/// Where the draft comes from: the argument, a file, or standard input.
#[derive(Debug, clap::Args)]
pub struct ToneCheckArgs {
    /// The draft; leave it out (or give `-`) to read standard input.
    text: Option<String>,
    /// Read the draft from this file.
    #[arg(long, short, conflicts_with = "text")]
    file: Option<PathBuf>,
    /// public, stakeholders or responders.
    #[arg(long, default_value = "public")]
    audience: String,
    /// investigating, identified, monitoring, resolved or update.
    #[arg(long)]
    phase: Option<String>,
}

impl Client {
    pub async fn tone_check(&self, args: ToneCheckArgs) -> Result<(), CliError> {
        let draft = match (args.text, args.file) {
            (Some(text), _) if text != "-" => text,
            (_, Some(file)) => std::fs::read_to_string(&file)
                .map_err(|e| CliError::Usage(format!("reading {}: {e}", file.display())))?,
            _ => {
                let mut text = String::new();
                std::io::stdin()
                    .read_to_string(&mut text)
                    .map_err(|e| CliError::Usage(format!("reading standard input: {e}")))?;
                text
            }
        };
        let body = json!({"text": draft, "audience": args.audience, "phase": args.phase});
        let answer = self.call(Method::POST, "/tone-check", Some(body)).await?;
        self.print(&answer, |v| findings(&draft, v));
        Ok(())
    }
}

/// Each finding: where it is, the words it is about, why, and what to write instead.
fn findings(draft: &str, answer: &Value) -> String {
    let list = answer["findings"].as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        return "no findings: it reads calm and says what readers need\n".into();
    }
    let chars: Vec<char> = draft.chars().collect();
    let mut out = String::new();
    for f in &list {
        let at = |k: &str| {
            f[k].as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or(0)
                .min(chars.len())
        };
        let (start, end) = (at("start"), at("end"));
        let quoted: String = chars[start..end.max(start)].iter().collect();
        let place = if start == end {
            "missing".to_string()
        } else {
            format!("{start}-{end} \"{quoted}\"")
        };
        out.push_str(&format!(
            "{} {place}: {}\n  {}\n",
            text(&f["rule"]),
            text(&f["reason"]),
            text(&f["suggestion"])
        ));
    }
    out
}
