//! aplomb: incident response in one binary. See ARCHITECTURE.md for the map of the code.

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::panic,
        clippy::todo,
        clippy::unimplemented
    )
)]

pub mod announce;
pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod demo;
pub mod domain;
pub mod engine;
pub mod faults;
/// Only in the fuzz build (`cargo fuzz` sets `--cfg fuzzing`) and the unit tests that replay
/// its corpus: not in the binary people run.
#[cfg(any(test, fuzzing))]
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod markup;
pub mod metrics;
pub mod secret;
pub mod server;
pub mod store;

/// The layer rules of ARCHITECTURE.md, checked: each layer imports only from those below it
/// (domain ← store ← announce ← engine ← app ← http/cli).
#[cfg(test)]
mod tidy {
    use std::path::Path;

    fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("a source folder") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    #[test]
    fn no_layer_reaches_up() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let above = |layer: &str| -> &[&str] {
            match layer {
                // The domain may use `secret`'s pure functions (HMAC, constant-time
                // comparison) and nothing else of the crate.
                "domain" => &[
                    "store", "announce", "engine", "app", "http", "cli", "server", "clock",
                    "config", "demo", "faults", "metrics",
                ],
                "store" => &["announce", "engine", "app", "http", "cli", "server"],
                "engine" => &["app", "http", "cli", "server"],
                "app" => &["http", "cli", "server"],
                _ => &[],
            }
        };
        let mut found = Vec::new();
        for layer in ["domain", "store", "engine", "app"] {
            let mut paths = Vec::new();
            files(&src.join(layer), &mut paths);
            for path in paths {
                let text = std::fs::read_to_string(&path).expect("readable");
                for upper in above(layer) {
                    if text.contains(&format!("crate::{upper}::"))
                        || text.contains(&format!("crate::{upper};"))
                        || text.contains(&format!("crate::{upper}::{{"))
                    {
                        found.push(format!("{} uses crate::{upper}", path.display()));
                    }
                }
            }
        }
        assert!(
            found.is_empty(),
            "imports that reach up a layer: {found:#?}"
        );
    }
}
