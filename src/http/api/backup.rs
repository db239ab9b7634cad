//! Backups while aplomb serves: `GET /api/v1/backup` answers a consistent copy of the SQLite
//! database (admins only). PostgreSQL is backed up with pg_dump (see the README).

use std::io::Read;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use utoipa::OpenApi;

use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::ApiActor;

/// How much of the copy each read sends.
const CHUNK: usize = 256 * 1024;

pub fn router() -> Router<AppState> {
    Router::new().route("/backup", get(backup))
}

#[derive(OpenApi)]
#[openapi(paths(backup))]
pub struct BackupDoc;

/// A consistent copy of the SQLite database, taken while aplomb serves (ingestion carries on
/// meanwhile); `aplomb restore FILE` puts it back. Admins only, one copy at a time. A
/// PostgreSQL database answers 409: back it up with pg_dump.
#[utoipa::path(get, path = "/api/v1/backup", tag = "operations",
    responses((status = 200, description = "the SQLite database file", content_type = "application/vnd.sqlite3", body = crate::app::schema::Binary),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody, description = "the database is PostgreSQL (use pg_dump), or a backup is being taken already")))]
async fn backup(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
) -> Result<Response, ApiError> {
    let file = state.backup(&actor).await?;
    let size = file.metadata().map(|m| m.len()).ok();
    let chunks = futures_util::stream::try_unfold(file, |mut file| async move {
        let (file, chunk) = tokio::task::spawn_blocking(move || {
            let mut chunk = vec![0; CHUNK];
            let read = file.read(&mut chunk)?;
            chunk.truncate(read);
            Ok::<_, std::io::Error>((file, chunk))
        })
        .await
        .map_err(std::io::Error::other)??;
        Ok::<_, std::io::Error>((!chunk.is_empty()).then(|| (bytes::Bytes::from(chunk), file)))
    });
    let name = format!(
        "attachment; filename=\"aplomb-{}.db\"",
        state.now().strftime("%Y%m%dT%H%M%SZ")
    );
    let mut response = Body::from_stream(chunks).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.sqlite3"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(name) = HeaderValue::try_from(name) {
        headers.insert(header::CONTENT_DISPOSITION, name);
    }
    if let Some(size) = size {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    }
    Ok(response)
}
