//! Signing in from the command line. `aplomb login` trades a password for a new API token
//! and keeps it, with the server's URL, in a file only the user can read; later commands use
//! them when no `--url`/`--token` (or `APLOMB_URL`/`APLOMB_TOKEN`) is given. `aplomb logout`
//! revokes that token on the server and removes the file.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{CliError, Client, Connection, DEFAULT_URL};

/// What `aplomb login` stores.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredLogin {
    pub url: String,
    pub username: String,
    pub token: String,
    /// The token's id on the server, for revoking it at `aplomb logout`.
    pub token_id: i64,
    /// The private CA given at login (`--ca-file`), trusted for this server from then on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
}

/// `$APLOMB_CONFIG_DIR/cli.toml`, else `$XDG_CONFIG_HOME/aplomb/cli.toml`, else
/// `~/.config/aplomb/cli.toml`; `None` when no directory is known.
pub fn config_path() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = var("APLOMB_CONFIG_DIR") {
        return Some(PathBuf::from(dir).join("cli.toml"));
    }
    if let Some(dir) = var("XDG_CONFIG_HOME") {
        return Some(PathBuf::from(dir).join("aplomb").join("cli.toml"));
    }
    var("HOME").map(|home| PathBuf::from(home).join(".config/aplomb/cli.toml"))
}

/// The stored login, if there is one; an unreadable or malformed file is an error naming it.
pub fn load() -> Result<Option<StoredLogin>, String> {
    let Some(path) = config_path() else {
        return Ok(None);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("reading {}: {e}", path.display())),
    };
    toml::from_str(&text)
        .map(Some)
        .map_err(|e| format!("{}: {e} (run `aplomb login` again)", path.display()))
}

/// Writes the login readable by this user only (0600): it holds a credential.
fn save(login: &StoredLogin) -> Result<PathBuf, CliError> {
    let path = config_path().ok_or_else(|| {
        CliError::Usage("no place for the login: set APLOMB_CONFIG_DIR or HOME".into())
    })?;
    let failed = |e: std::io::Error| CliError::Usage(format!("writing {}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        create_private_dir(dir).map_err(failed)?;
    }
    let text =
        toml::to_string(login).map_err(|e| CliError::Usage(format!("encoding the login: {e}")))?;
    write_private(&path, text.as_bytes()).map_err(failed)?;
    Ok(path)
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    // A file left from before may be readable by others; narrow it before the token goes in.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

/// Reads one line from standard input, after `prompt` on the terminal when there is one.
fn ask(prompt: &str) -> Result<String, CliError> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("{prompt}");
        let _ = std::io::stderr().flush();
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::Usage(format!("reading standard input: {e}")))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// The password: typed at the terminal without echo, or the first line of standard input
/// when it is not a terminal (scripts and tests).
fn ask_password() -> Result<String, CliError> {
    if !std::io::stdin().is_terminal() {
        return ask("");
    }
    // `stty` turns echo off and back on: no terminal crate for one prompt.
    let stty = |arg: &str| {
        std::process::Command::new("stty")
            .arg(arg)
            .stdin(std::process::Stdio::inherit())
            .status()
            .is_ok_and(|s| s.success())
    };
    let hidden = stty("-echo");
    let password = ask("Password: ");
    if hidden {
        stty("echo");
        eprintln!();
    }
    password
}

/// `aplomb login`: asks for what the flags did not give, signs in, stores URL and token.
pub async fn login(
    connection: &Connection,
    username: Option<String>,
    token_name: &str,
) -> Result<(), CliError> {
    let interactive = std::io::stdin().is_terminal();
    let url = match &connection.url {
        Some(url) => url.clone(),
        None if interactive => {
            let typed = ask(&format!("Server URL [{DEFAULT_URL}]: "))?;
            if typed.trim().is_empty() {
                DEFAULT_URL.to_string()
            } else {
                typed.trim().to_string()
            }
        }
        None => DEFAULT_URL.to_string(),
    };
    let username = match username {
        Some(name) => name,
        None if interactive => ask("Username: ")?,
        None => {
            return Err(CliError::Usage(
                "--username is needed when standard input is not a terminal".into(),
            ));
        }
    };
    let password = ask_password()?;
    let previous = load().ok().flatten();
    let client = Client::new(&Connection {
        url: Some(url),
        token: None,
        ..connection.clone()
    });
    let answer = client
        .call_without_token(
            "/login",
            json!({"username": username.trim(), "password": password, "token_name": token_name}),
        )
        .await?;
    let (Some(token), Some(token_id), Some(username)) = (
        answer["token"].as_str(),
        answer["id"].as_i64(),
        answer["username"].as_str(),
    ) else {
        return Err(CliError::Usage(format!(
            "unexpected answer from the server: {answer}"
        )));
    };
    let stored = StoredLogin {
        url: client.base.clone(),
        username: username.to_string(),
        token: token.to_string(),
        token_id,
        // Absolute, so later commands find it from any directory. Without `--ca-file`, the CA
        // this sign-in went through is the one stored before: keep it.
        ca_file: match &connection.ca_file {
            Some(f) => Some(std::fs::canonicalize(f).unwrap_or_else(|_| f.clone())),
            None => previous.as_ref().and_then(|s| s.ca_file.clone()),
        },
    };
    let path = save(&stored)?;
    println!(
        "signed in to {} as {}; the token is in {}",
        stored.url,
        stored.username,
        path.display()
    );
    // The token this one replaces is no one's any more: revoke it, so signing in again leaves
    // no live token behind. (One for another server is not ours to reach with these flags.)
    if let Some(old) = previous.filter(|p| p.url == stored.url && p.token_id != token_id) {
        let revoked = revoke(connection, &old).await;
        if revoked.is_ok() {
            println!("the token stored before is revoked");
        }
    }
    Ok(())
}

/// Revokes a stored token with itself; one revoked already counts as done.
async fn revoke(connection: &Connection, stored: &StoredLogin) -> Result<(), CliError> {
    let client = Client::new(&Connection {
        url: Some(stored.url.clone()),
        token: Some(stored.token.clone()),
        ..connection.clone()
    });
    let revoked = client
        .call(
            reqwest::Method::DELETE,
            &format!("/users/{}/tokens/{}", stored.username, stored.token_id),
            None,
        )
        .await;
    match revoked {
        Ok(_) => Ok(()),
        // Revoked already (on the Tokens page, or by an admin): nothing left to undo there.
        Err(CliError::Api { status, .. })
            if status == StatusCode::UNAUTHORIZED || status == StatusCode::NOT_FOUND =>
        {
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// `aplomb logout`: revokes the stored token on its server and removes the file.
pub async fn logout(connection: &Connection) -> Result<(), CliError> {
    let (Some(path), Some(stored)) = (config_path(), load().map_err(CliError::Usage)?) else {
        return Err(CliError::Usage(
            "not signed in: `aplomb login` stores nothing here yet".into(),
        ));
    };
    revoke(connection, &stored).await?;
    std::fs::remove_file(&path)
        .map_err(|e| CliError::Usage(format!("removing {}: {e}", path.display())))?;
    println!("signed out of {}; the token is revoked", stored.url);
    Ok(())
}
