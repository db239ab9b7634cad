//! User reports on the web: the public "report a problem" form (no sign-in) and the triage
//! queue for responders.

use askama::Template;
use axum::Form;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use super::{Session, Times, When, fail, render};
use crate::app::{AppError, ReportFields, Reporter};
use crate::domain::access::Actor;
use crate::domain::reports::MAX_REPORT_CHARS;
use crate::http::AppState;
use crate::http::extract::ClientAddr;
use crate::store::ReportRecord;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/report", get(report_page).post(send_report))
        .route("/reports", get(triage_page))
}

#[derive(Template)]
#[template(path = "report.html")]
struct ReportPage {
    services: Vec<String>,
    service: String,
    text: String,
    contact: String,
    max_chars: usize,
    /// (field, message) of a report refused.
    error: Option<(String, String)>,
    sent: bool,
}

impl ReportPage {
    fn blank(services: Vec<String>, service: String) -> Self {
        Self {
            services,
            service,
            text: String::new(),
            contact: String::new(),
            max_chars: MAX_REPORT_CHARS,
            error: None,
            sent: false,
        }
    }
}

#[derive(Deserialize)]
struct ReportQuery {
    service: Option<String>,
}

async fn service_names(state: &AppState) -> Result<Vec<String>, AppError> {
    Ok(state
        .list_services()
        .await?
        .into_iter()
        .map(|s| s.name)
        .collect())
}

/// The public form: which service, what is wrong, and how to reach the reporter if they like.
async fn report_page(State(state): State<AppState>, Query(q): Query<ReportQuery>) -> Response {
    match service_names(&state).await {
        Ok(services) => render(&ReportPage::blank(services, q.service.unwrap_or_default())),
        Err(e) => fail(e, "/report"),
    }
}

#[derive(Deserialize)]
struct ReportForm {
    #[serde(default)]
    service: String,
    #[serde(default)]
    text: String,
    contact: Option<String>,
    website: Option<String>,
}

async fn send_report(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    Form(form): Form<ReportForm>,
) -> Response {
    let services = match service_names(&state).await {
        Ok(services) => services,
        Err(e) => return fail(e, "/report"),
    };
    let mut page = ReportPage::blank(services, form.service.clone());
    let fields = ReportFields {
        service: form.service,
        text: form.text.clone(),
        contact: form.contact.clone(),
        website: form.website,
    };
    match state.file_report(Reporter::Public(client), fields).await {
        Ok(_) => {
            page.sent = true;
            render(&page)
        }
        Err(e @ (AppError::Invalid(_) | AppError::TooManyAttempts { .. })) => {
            let status = match &e {
                AppError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
                _ => StatusCode::TOO_MANY_REQUESTS,
            };
            let field = match &e {
                AppError::Invalid(f) => f.field.to_string(),
                _ => String::new(),
            };
            page.error = Some((field, e.to_string()));
            page.text = form.text;
            page.contact = form.contact.unwrap_or_default();
            (status, render(&page)).into_response()
        }
        Err(e) => fail(e, "/report"),
    }
}

#[derive(Template)]
#[template(path = "triage.html")]
struct TriagePage {
    me: Actor,
    csrf: String,
    counts: Vec<(String, i64, When)>,
    reports: Vec<(ReportRecord, When)>,
    zone: String,
}

/// The triage queue: waiting reports by service, then the newest of them.
async fn triage_page(State(state): State<AppState>, session: Session) -> Response {
    let result = async {
        let times = Times::for_actor(&state, &session.actor).await?;
        let queue = state.triage(&session.actor, 200).await?;
        Ok::<_, AppError>((queue, times))
    }
    .await;
    match result {
        Ok(((reports, counts), times)) => render(&TriagePage {
            counts: counts
                .into_iter()
                .map(|c| (c.service, c.waiting, times.when(c.latest_at)))
                .collect(),
            reports: reports
                .into_iter()
                .map(|r| {
                    let at = times.when(r.created_at);
                    (r, at)
                })
                .collect(),
            zone: times.zone_note(),
            me: session.actor,
            csrf: session.csrf,
        }),
        Err(e) => fail(e, "/incidents"),
    }
}
