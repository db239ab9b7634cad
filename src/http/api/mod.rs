//! The REST API under `/api/v1`, a module per feature. Handlers extract, call `Aplomb`, and
//! shape the answer; the OpenAPI document is generated from each module's annotations.

use axum::Router;
use axum::response::IntoResponse;
use axum::routing::get;
use utoipa::OpenApi;

use crate::http::AppState;
use crate::http::error::ErrorBody;

pub mod accounts;
pub mod action_items;
pub mod alerts;
pub mod backup;
pub mod communication;
pub mod coordination;
pub mod drills;
pub mod incidents;
pub mod investigation;
pub mod maintenance;
pub mod metrics;
pub mod oncall;
pub mod playbooks;
pub mod reports;
pub mod review;
pub mod services;
pub mod status;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(incidents::router())
        .merge(investigation::router())
        .merge(coordination::router())
        .merge(accounts::router())
        .merge(services::router())
        .merge(oncall::router())
        .merge(alerts::router())
        .merge(reports::router())
        .merge(review::router())
        .merge(action_items::router())
        .merge(metrics::router())
        .merge(playbooks::router())
        .merge(drills::router())
        .merge(communication::router())
        .merge(status::router())
        .merge(maintenance::router())
        .merge(backup::router())
        .route("/openapi.json", get(openapi_json))
}

/// The document's frame: what every feature module's paths are merged into.
#[derive(OpenApi)]
#[openapi(
    info(title = "aplomb", description = "Incident response: declare, coordinate, communicate, review."),
    components(schemas(ErrorBody)),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    paths(openapi_json)
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta", security(()),
    responses((status = 200, content_type = "application/json", body = Object, description = "the OpenAPI 3.1 document")))]
async fn openapi_json() -> impl IntoResponse {
    // Built once: it is the same for the life of the process, and not small.
    static DOCUMENT: std::sync::OnceLock<axum::body::Bytes> = std::sync::OnceLock::new();
    let body = DOCUMENT.get_or_init(|| {
        serde_json::to_vec(&document_json())
            .expect("the document serializes")
            .into()
    });
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body.clone(),
    )
}

/// The whole OpenAPI document: every API module's paths, and what any operation may answer.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(incidents::IncidentsDoc::openapi());
    doc.merge(investigation::InvestigationDoc::openapi());
    doc.merge(coordination::CoordinationDoc::openapi());
    doc.merge(accounts::AccountsDoc::openapi());
    doc.merge(services::ServicesDoc::openapi());
    doc.merge(oncall::OncallDoc::openapi());
    doc.merge(alerts::AlertsDoc::openapi());
    doc.merge(reports::ReportsDoc::openapi());
    doc.merge(review::ReviewDoc::openapi());
    doc.merge(action_items::ActionItemsDoc::openapi());
    doc.merge(metrics::MetricsDoc::openapi());
    doc.merge(playbooks::PlaybooksDoc::openapi());
    doc.merge(drills::DrillsDoc::openapi());
    doc.merge(communication::CommunicationDoc::openapi());
    doc.merge(status::StatusDoc::openapi());
    doc.merge(maintenance::MaintenanceDoc::openapi());
    doc.merge(backup::BackupDoc::openapi());
    doc.merge(crate::http::forge::ForgeDoc::openapi());
    doc.merge(crate::http::events::EventsDoc::openapi());
    doc.merge(crate::http::MonitoringDoc::openapi());
    doc.merge(crate::http::public::StatusPageDoc::openapi());
    answers_of_every_operation(&mut doc);
    doc
}

/// The document as served: `document()` with the links between operations.
pub fn document_json() -> serde_json::Value {
    let mut doc = serde_json::to_value(document()).expect("the document serializes");
    links_from_created_things(&mut doc);
    doc
}

/// Links from what a POST creates to the operations on it: where a `201` answer has an `id`,
/// each operation on the path below the POST's, with the next path parameter, gets it from
/// the answer (its field of the parameter's name, such as `name`, or else `id`; the POST's own
/// path parameters come from its request), so a client
/// or a stateful test goes from `POST /incidents` to `GET /incidents/{id}/timeline`. Written
/// on the JSON: utoipa's `Link` serializes its fields in snake case, which no reader knows.
fn links_from_created_things(doc: &mut serde_json::Value) {
    use serde_json::{Value, json};
    let parameters = |path: &str| -> Vec<String> {
        path.split('{')
            .skip(1)
            .filter_map(|rest| rest.split_once('}').map(|(name, _)| name.to_string()))
            .collect()
    };
    let mut operations = Vec::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for operation in item.as_object().into_iter().flatten().map(|(_, op)| op) {
            if let Some(id) = operation["operationId"].as_str() {
                operations.push((path.clone(), id.to_string()));
            }
        }
    }
    let properties = |content: &Value| {
        let mut schema = &content["application/json"]["schema"];
        if let Some(name) = schema["$ref"].as_str().and_then(|r| r.rsplit('/').next()) {
            schema = &doc["components"]["schemas"][name];
        }
        schema["properties"].clone()
    };
    let mut links = Vec::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        let created = properties(&item["post"]["responses"]["201"]["content"]);
        if created["id"].is_null() {
            continue;
        }
        let own = parameters(path);
        let below = format!("{path}/{{");
        for (target, operation_id) in &operations {
            let wanted = parameters(target);
            if !target.starts_with(&below) || wanted.len() != own.len() + 1 {
                continue;
            }
            let mut given = serde_json::Map::new();
            for (name, from) in wanted.iter().zip(&own) {
                given.insert(name.clone(), json!(format!("$request.path.{from}")));
            }
            // A thing named in its path (`{name}`, `{username}`) by that field, else its id.
            let next = &wanted[own.len()];
            let field = if created[next].is_null() { "id" } else { next };
            given.insert(next.clone(), json!(format!("$response.body#/{field}")));
            links.push((path.clone(), operation_id.clone(), given));
        }
    }
    for (path, operation_id, given) in links {
        doc["paths"][&path]["post"]["responses"]["201"]["links"][&operation_id] =
            json!({"operationId": operation_id, "parameters": given});
    }
}

/// What any operation may answer besides its own statuses: 500, and 503 while the database
/// is unreachable, both in the error shape. Under /api/v1 an operation that takes a token
/// may answer 401, one with path parameters 400 (malformed) and 404, one with a body 400
/// (malformed JSON), 413, 415 and 422, one with query parameters 422. Every POST under
/// /api/v1 also takes an `Idempotency-Key` (`http::idempotency`), which may answer 409 (a
/// request with the key is still running) or 422 (the key was used for a different request).
fn answers_of_every_operation(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    use utoipa::openapi::schema::{Schema, SchemaType};
    use utoipa::openapi::{
        ContentBuilder, ObjectBuilder, Ref, RefOr, Required, ResponseBuilder, Type,
    };
    let error = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build()
    };
    let idempotency_key = ParameterBuilder::new()
        .name("Idempotency-Key")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "Makes a retried request return the first answer (marked `Idempotent-Replayed: true`) \
             instead of having its effect twice (answers are kept 24 hours); 1 to 255 visible ASCII characters",
        ))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(255))
                .pattern(Some("^[!-~]+$")),
        ))
        .build();
    for (path, item) in doc.paths.paths.iter_mut() {
        // Idempotency keys are the API's; the forge webhook deduplicates by delivery instead.
        if let Some(post) = item.post.as_mut().filter(|_| path.starts_with("/api/v1/")) {
            let parameters = post.parameters.get_or_insert_with(Vec::new);
            parameters.retain(|p| p.name != "Idempotency-Key");
            parameters.push(idempotency_key.clone());
            let responses = &mut post.responses.responses;
            responses.entry("409".into()).or_insert_with(|| {
                error("conflict, e.g. a request with this Idempotency-Key is still running").into()
            });
            responses.entry("422".into()).or_insert_with(|| {
                error("invalid input, or the Idempotency-Key was used for a different request")
                    .into()
            });
        }
        for operation in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            let api = path.starts_with("/api/v1/");
            let open = operation.security.as_ref().is_some_and(|all| {
                all.iter()
                    .all(|r| serde_json::to_value(r).is_ok_and(|v| v == serde_json::json!({})))
            });
            let has_query = operation
                .parameters
                .iter()
                .flatten()
                .any(|p| matches!(p.parameter_in, ParameterIn::Query));
            let has_body = operation.request_body.is_some();
            // A header or a query string cannot carry JSON's null: an optional one is absent.
            for parameter in operation.parameters.iter_mut().flatten() {
                if let Some(RefOr::T(Schema::Object(schema))) = parameter.schema.as_mut()
                    && let SchemaType::Array(types) = &schema.schema_type
                    && let [one] = types
                        .iter()
                        .filter(|t| !matches!(t, Type::Null))
                        .collect::<Vec<_>>()[..]
                {
                    schema.schema_type = SchemaType::Type(one.clone());
                }
            }
            let responses = &mut operation.responses.responses;
            let mut answers = |status: &str, description: &str| {
                responses
                    .entry(status.into())
                    .or_insert_with(|| error(description).into());
            };
            if api && !open {
                answers("401", "no API token or session, or one that is not valid");
            }
            if api && path.contains('{') {
                answers(
                    "400",
                    "a malformed path parameter, such as an id that is not a number",
                );
                answers("404", "nothing found at this path");
            }
            if api && has_body {
                answers("400", "the body is not well-formed JSON");
                answers("413", "the body is too large");
                answers(
                    "415",
                    "the body's Content-Type is not one this operation takes",
                );
                answers("422", "invalid input; the error names the field");
            }
            if api && has_query {
                answers("422", "a query parameter is invalid; the error names it");
            }
            answers("500", "internal error; the server log has details");
            answers("503", "the database is unavailable; retry shortly");
        }
    }
}

#[cfg(test)]
mod tests {
    /// What a POST creates links to the operations on it, the path's own parameters carried.
    #[test]
    fn created_things_link_to_their_operations() {
        let doc = super::document_json();
        let paths = &doc["paths"];
        let declared = &paths["/api/v1/incidents"]["post"]["responses"]["201"]["links"];
        let timeline = paths["/api/v1/incidents/{id}/timeline"]["get"]["operationId"]
            .as_str()
            .expect("an operation id");
        assert_eq!(
            declared[timeline]["parameters"]["id"], "$response.body#/id",
            "{declared}"
        );
        let task = &paths["/api/v1/incidents/{id}/tasks"]["post"]["responses"]["201"]["links"];
        let edit = paths["/api/v1/incidents/{id}/tasks/{tid}"]["patch"]["operationId"]
            .as_str()
            .expect("an operation id");
        assert_eq!(task[edit]["parameters"]["id"], "$request.path.id", "{task}");
        assert_eq!(
            task[edit]["parameters"]["tid"], "$response.body#/id",
            "{task}"
        );
        let service = &paths["/api/v1/services"]["post"]["responses"]["201"]["links"];
        let oncall = paths["/api/v1/services/{name}/oncall"]["put"]["operationId"]
            .as_str()
            .expect("an operation id");
        assert_eq!(
            service[oncall]["parameters"]["name"], "$response.body#/name",
            "{service}"
        );
    }

    /// Every route of the API's modules (under `/api/v1`), of the receivers of monitoring
    /// events and forge webhooks, and the monitoring endpoints, method by method, is in the
    /// OpenAPI document: read from
    /// their `.route(…)` lines, so a new endpoint cannot be left out of it.
    #[test]
    fn every_api_route_is_in_the_openapi_document() {
        let doc = super::document_json();
        let http = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http");
        let mut files: Vec<(std::path::PathBuf, &str)> = std::fs::read_dir(http.join("api"))
            .expect("src/http/api")
            .map(|e| (e.expect("a directory entry").path(), "/api/v1"))
            .collect();
        files.push((http.join("events.rs"), ""));
        files.push((http.join("forge.rs"), ""));
        files.push((http.join("mod.rs"), ""));
        files.push((http.join("public/mod.rs"), ""));
        let mut missing = Vec::new();
        let mut routes = 0;
        for (path, prefix) in files {
            let file = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let text = std::fs::read_to_string(&path).expect("readable");
            for (path, methods) in crate::http::routes_declared_in(&text) {
                routes += 1;
                let full = format!("{prefix}{path}");
                for method in methods {
                    if doc["paths"][&full][method].is_null() {
                        missing.push(format!("{} {full} ({file})", method.to_uppercase()));
                    }
                }
            }
        }
        assert!(
            routes > 40,
            "only {routes} routes found: is the parsing right?"
        );
        assert!(
            missing.is_empty(),
            "not in the OpenAPI document: {missing:#?}"
        );
    }
}
