//! `aplomb backup FILE`: a consistent copy of the server's SQLite database, written to FILE.
//! (`aplomb restore` puts one back; it runs beside the database, not through the API.)

use std::io::Write;
use std::path::Path;

use reqwest::Method;

use super::{CliError, Client};

impl Client {
    pub async fn backup(&self, file: &Path) -> Result<(), CliError> {
        let mut response = self.send(self.authorized(Method::GET, "/backup")?).await?;
        let status = response.status();
        if !status.is_success() {
            let value: serde_json::Value = response.json().await.unwrap_or_default();
            let message = value["error"]["message"]
                .as_str()
                .unwrap_or("the server refused the backup")
                .to_string();
            return Err(CliError::Api { status, message });
        }
        // Written beside FILE and renamed once complete: FILE is never half a backup, and
        // whatever goes wrong on the way, the partial copy is removed.
        let partial = std::path::PathBuf::from(format!("{}.partial", file.display()));
        let written = match self.write_backup(&mut response, &partial, file).await {
            Ok(written) => written,
            Err(e) => {
                let _ = std::fs::remove_file(&partial);
                return Err(e);
            }
        };
        println!(
            "backed up {written} bytes to {}; restore with: aplomb restore {}",
            file.display(),
            file.display()
        );
        Ok(())
    }

    /// Streams the answer into `partial`, checks it is whole, and renames it to `file`.
    async fn write_backup(
        &self,
        response: &mut reqwest::Response,
        partial: &Path,
        file: &Path,
    ) -> Result<u64, CliError> {
        let failed = |e: std::io::Error| CliError::Usage(format!("{}: {e}", partial.display()));
        let mut out = std::fs::File::create(partial).map_err(failed)?;
        // Read before the body: what reqwest reports shrinks as the body is read.
        let expected = response.content_length();
        let mut written: u64 = 0;
        while let Some(chunk) = response.chunk().await.map_err(|e| self.unreadable(&e))? {
            out.write_all(&chunk).map_err(failed)?;
            written += chunk.len() as u64;
        }
        if let Some(expected) = expected
            && expected != written
        {
            return Err(CliError::Connection(format!(
                "the backup was cut short ({written} of {expected} bytes); try again"
            )));
        }
        out.sync_all().map_err(failed)?;
        std::fs::rename(partial, file)
            .map_err(|e| CliError::Usage(format!("{}: {e}", file.display())))?;
        Ok(written)
    }
}
