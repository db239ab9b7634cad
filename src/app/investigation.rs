//! Investigating an incident: evidence, hypotheses and their tests. Each change is checked
//! against who may act on the incident under its row lock, and committed with its timeline
//! entries; reads check who may see it.

use std::collections::BTreeMap;

use jiff::SignedDuration;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{Aplomb, AppError, AppResult};
use crate::domain::access::Actor;
use crate::domain::attachment::{AttachmentInput, AttachmentType, MAX_ATTACHMENTS};
use crate::domain::catalog::dependency_paths;
use crate::domain::incident::Incident;
use crate::domain::investigation::{self, EvidenceInput, HypothesisState, RawEvidence};
use crate::domain::timeline::EntryData;
use crate::domain::{FieldError, optional_text};
use crate::store::{
    AttachmentRecord, ChangeEventRecord, EvidenceRecord, HypothesisRecord, InvestigationTx,
    ResponseChangeRecord, StoreError,
};

/// A piece of evidence, as the API and the board's form give it. Linking an alert or a change
/// event is `{"kind": "alert", "alert_id": 7}` or `{"kind": "change", "change_id": 3}`: its
/// summary and time fill what is left out.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvidenceFields {
    /// `log`, `metric`, `alert`, `change`, `user_report`, `anomaly` or `other`.
    #[schema(example = "metric")]
    #[schema(value_type = crate::app::schema::EvidenceKindName)]
    pub kind: String,
    /// One line, up to 500 characters; required unless an alert or change is linked.
    #[schema(example = "Edge 5xx rate rose from 0.1% to 12% at 14:02")]
    #[schema(value_type = Option<crate::app::schema::Statement>)]
    pub summary: Option<String>,
    /// An extract (log lines, a query's output), up to 20,000 characters.
    #[schema(value_type = Option<crate::app::schema::Excerpt>)]
    pub excerpt: Option<String>,
    /// An http(s) link to where it can be seen.
    pub source_url: Option<String>,
    /// When it was observed (RFC 3339).
    pub observed_at: Option<String>,
    pub alert_id: Option<i64>,
    pub change_id: Option<i64>,
    /// Pinned evidence is listed first.
    #[serde(default)]
    pub pinned: bool,
}

/// Changes to a piece of evidence; a field left out stays as it is, `""` clears an optional one.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvidenceEdit {
    #[schema(value_type = Option<crate::app::schema::Statement>)]
    pub summary: Option<String>,
    #[schema(value_type = Option<crate::app::schema::Excerpt>)]
    pub excerpt: Option<String>,
    pub source_url: Option<String>,
    pub observed_at: Option<String>,
    pub pinned: Option<bool>,
}

/// A hypothesis: one claim about the cause. It starts `open`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HypothesisFields {
    #[schema(example = "The 14:00 config push lowered the edge's upstream timeout")]
    #[schema(value_type = crate::app::schema::Statement)]
    pub statement: String,
    /// A username: who drives its testing.
    pub owner: Option<String>,
    /// Ids of this incident's evidence that speak for it.
    #[serde(default)]
    pub evidence_for: Vec<i64>,
    #[serde(default)]
    pub evidence_against: Vec<i64>,
}

/// Changes to a hypothesis; a field left out stays as it is. `state` moves `open → testing →
/// supported | refuted`; a judged one may be reopened. Evidence lists replace the current
/// ones; `"owner": ""` clears the owner.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HypothesisEdit {
    #[schema(value_type = Option<crate::app::schema::Statement>)]
    pub statement: Option<String>,
    /// `open`, `testing`, `supported` (a finding) or `refuted`.
    #[schema(example = "supported")]
    #[schema(value_type = Option<crate::app::schema::HypothesisStateName>)]
    pub state: Option<String>,
    pub owner: Option<String>,
    pub evidence_for: Option<Vec<i64>>,
    pub evidence_against: Option<Vec<i64>>,
}

/// A test run on a hypothesis: what was tried and how, and what came of it.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestFields {
    #[schema(example = "Replayed the 14:00 config on staging under production load")]
    #[schema(value_type = crate::app::schema::Text4000)]
    pub description: String,
    #[schema(example = "Reproduced: 11% 5xx within a minute")]
    #[schema(value_type = crate::app::schema::Text4000)]
    pub result: String,
}

/// A change event of a service the incident affects, or of one they depend on.
#[derive(Debug, Clone)]
pub struct RecentChange {
    pub change: ChangeEventRecord,
    /// The services it came through: the affected service first, the one it happened on last
    /// (just that one for an affected service).
    pub via: Vec<String>,
}

/// Most recent changes one request answers.
const RECENT_CHANGES: i64 = 200;

/// Everything the investigation board shows.
#[derive(Debug, Clone, Default)]
pub struct Investigation {
    pub evidence: Vec<EvidenceRecord>,
    pub hypotheses: Vec<HypothesisRecord>,
    /// Changes made to production during the response, newest first.
    pub changes: Vec<ResponseChangeRecord>,
}

impl Aplomb {
    /// The change events of the incident's services and of everything they depend on
    /// (transitively), from `window` before it began until now, newest first.
    pub async fn recent_changes(
        &self,
        actor: &Actor,
        id: i64,
        window: Option<&str>,
    ) -> AppResult<Vec<RecentChange>> {
        let window = investigation::change_window(window)?;
        let view = self.incident(actor, id).await?;
        self.changes_around(&view.incident, window, RECENT_CHANGES)
            .await
    }

    pub(super) async fn changes_around(
        &self,
        incident: &Incident,
        window: SignedDuration,
        limit: i64,
    ) -> AppResult<Vec<RecentChange>> {
        if incident.services.is_empty() {
            return Ok(Vec::new());
        }
        let roots: Vec<i64> = incident.services.iter().map(|s| s.id).collect();
        let edges = self.store.service_dependencies().await?;
        let paths = dependency_paths(&edges, &roots);
        let reached: Vec<i64> = paths.iter().filter_map(|p| p.last().copied()).collect();
        let since = incident
            .declared_at
            .saturating_sub(window)
            .map_err(|e| AppError::Internal(e.into()))?;
        let changes = self
            .store
            .changes_between(&reached, since, self.now(), limit)
            .await?;
        let names: BTreeMap<i64, String> = if paths.iter().any(|p| p.len() > 1) {
            let services = self.store.list_services().await?;
            services.into_iter().map(|s| (s.id, s.name)).collect()
        } else {
            incident
                .services
                .iter()
                .map(|s| (s.id, s.name.clone()))
                .collect()
        };
        let name = |id: &i64| {
            names
                .get(id)
                .cloned()
                .unwrap_or_else(|| format!("service {id}"))
        };
        Ok(changes
            .into_iter()
            .map(|change| {
                let path = paths.iter().find(|p| p.last() == Some(&change.service_id));
                RecentChange {
                    via: path.map_or_else(
                        || vec![change.service.clone()],
                        |p| p.iter().map(name).collect(),
                    ),
                    change,
                }
            })
            .collect())
    }

    /// The investigation of an incident the caller has been let see.
    pub(super) async fn load_investigation(&self, id: i64) -> AppResult<Investigation> {
        Ok(Investigation {
            evidence: self.store.evidence(id).await?,
            hypotheses: self.store.hypotheses(id).await?,
            changes: self.store.response_changes(id).await?,
        })
    }

    pub async fn add_evidence(
        &self,
        actor: &Actor,
        id: i64,
        fields: EvidenceFields,
    ) -> AppResult<EvidenceRecord> {
        self.may_change(actor, id).await?;
        let input = EvidenceInput::parse(RawEvidence {
            kind: &fields.kind,
            summary: fields.summary.as_deref(),
            excerpt: fields.excerpt.as_deref(),
            source_url: fields.source_url.as_deref(),
            observed_at: fields.observed_at.as_deref(),
            alert_id: fields.alert_id,
            change_id: fields.change_id,
            pinned: fields.pinned,
        })?;
        let now = self.now();
        self.investigate(actor, id, async |tx: &mut InvestigationTx| {
            // A linked alert or change lends its summary and time to what was not given.
            let linked = match (input.alert_id, input.change_id) {
                // One answer for an alert that does not exist and one the actor may not see.
                (Some(alert), _) => match tx.alert_source(alert, actor.id).await? {
                    Some((source, private, joined)) if actor.can_view(private, joined) => {
                        Some(source)
                    }
                    _ => {
                        let message = format!("there is no alert {alert}");
                        return Err(FieldError::new("alert_id", message).into());
                    }
                },
                (_, Some(change)) => Some(tx.change_source(change).await?.ok_or_else(|| {
                    FieldError::new("change_id", format!("there is no change event {change}"))
                })?),
                _ => None,
            };
            // An alert or change is one piece of evidence, however many hands link it.
            let link = match (input.alert_id, input.change_id) {
                (Some(alert), _) => Some(format!("alert {alert}")),
                (_, Some(change)) => Some(format!("change event {change}")),
                _ => None,
            };
            if let Some(link) = link
                && let Some(existing) = tx.evidence_linking(input.alert_id, input.change_id).await?
            {
                return Err(AppError::Conflict(format!(
                    "{link} is already evidence {existing} of this incident"
                )));
            }
            let summary = match (&input.summary, &linked) {
                (Some(s), _) => s.clone(),
                (None, Some(l)) => investigation::summary(l.summary.trim())?,
                (None, None) => return Err(FieldError::new("summary", "must not be empty").into()),
            };
            let observed_at = input.observed_at.or(linked.map(|l| l.at));
            let e = tx
                .add_evidence(&input, &summary, observed_at, actor.id, now)
                .await?;
            let entry = EntryData::EvidenceAdded {
                evidence_id: e.id,
                evidence_kind: e.kind,
                summary: e.summary.clone(),
            };
            Ok((e, vec![entry]))
        })
        .await
    }

    pub async fn edit_evidence(
        &self,
        actor: &Actor,
        id: i64,
        evidence_id: i64,
        edit: EvidenceEdit,
    ) -> AppResult<EvidenceRecord> {
        self.may_change(actor, id).await?;
        let now = self.now();
        self.investigate(actor, id, async |tx: &mut InvestigationTx| {
            let mut e = found(tx.evidence(evidence_id).await, "evidence")?;
            let before = e.clone();
            if let Some(summary) = &edit.summary {
                e.summary = investigation::summary(summary)?;
            }
            if let Some(excerpt) = &edit.excerpt {
                e.excerpt = optional_text("excerpt", Some(excerpt), investigation::MAX_EXCERPT)?;
            }
            if let Some(url) = &edit.source_url {
                e.source_url = investigation::source_url(url)?;
            }
            if let Some(at) = &edit.observed_at {
                e.observed_at = investigation::observed_at(at)?;
            }
            if let Some(pinned) = edit.pinned {
                e.pinned = pinned;
            }
            let mut entries = Vec::new();
            if e.pinned != before.pinned {
                entries.push(EntryData::EvidencePinned {
                    evidence_id,
                    summary: e.summary.clone(),
                    pinned: e.pinned,
                });
            }
            let edited = (&e.summary, &e.excerpt, &e.source_url, e.observed_at)
                != (
                    &before.summary,
                    &before.excerpt,
                    &before.source_url,
                    before.observed_at,
                );
            if edited {
                entries.push(EntryData::EvidenceEdited {
                    evidence_id,
                    summary: e.summary.clone(),
                });
            }
            if entries.is_empty() {
                return Err(AppError::Conflict("the change changes nothing".into()));
            }
            tx.update_evidence(&e, now).await?;
            Ok((tx.evidence(evidence_id).await?, entries))
        })
        .await
    }

    pub async fn remove_evidence(&self, actor: &Actor, id: i64, evidence_id: i64) -> AppResult<()> {
        self.may_change(actor, id).await?;
        self.investigate(actor, id, async |tx: &mut InvestigationTx| {
            let e = found(tx.evidence(evidence_id).await, "evidence")?;
            tx.remove_evidence(evidence_id).await?;
            let entry = EntryData::EvidenceRemoved {
                evidence_id,
                summary: e.summary,
            };
            Ok(((), vec![entry]))
        })
        .await
    }

    /// Attaches a file (a screenshot, a log) to a piece of evidence.
    pub async fn attach(
        &self,
        actor: &Actor,
        id: i64,
        evidence_id: i64,
        name: &str,
        content_type: AttachmentType,
        content: Vec<u8>,
    ) -> AppResult<AttachmentRecord> {
        self.may_change(actor, id).await?;
        let input = AttachmentInput::parse(name, content_type, content)?;
        let now = self.now();
        self.investigate(actor, id, async move |tx: &mut InvestigationTx| {
            let e = found(tx.evidence(evidence_id).await, "evidence")?;
            if e.attachments.len() >= MAX_ATTACHMENTS {
                return Err(AppError::Conflict(format!(
                    "evidence {evidence_id} already holds {MAX_ATTACHMENTS} files; remove one first"
                )));
            }
            let a = tx.add_attachment(evidence_id, input, actor.id, now).await?;
            let entry = EntryData::AttachmentAdded {
                evidence_id,
                attachment_id: a.id,
                name: a.name.clone(),
                size: a.size,
            };
            Ok((a, vec![entry]))
        })
        .await
    }

    /// An attachment with its content, for someone who may see the incident.
    pub async fn attachment(
        &self,
        actor: &Actor,
        id: i64,
        evidence_id: i64,
        attachment_id: i64,
    ) -> AppResult<(AttachmentRecord, Vec<u8>)> {
        self.incident(actor, id).await?;
        found(
            self.store.attachment(id, evidence_id, attachment_id).await,
            "attachment",
        )
    }

    /// Removes a file from a piece of evidence; the timeline keeps that it was there.
    pub async fn remove_attachment(
        &self,
        actor: &Actor,
        id: i64,
        evidence_id: i64,
        attachment_id: i64,
    ) -> AppResult<()> {
        self.may_change(actor, id).await?;
        self.investigate(actor, id, async |tx: &mut InvestigationTx| {
            let e = found(tx.evidence(evidence_id).await, "evidence")?;
            let name = e
                .attachments
                .iter()
                .find(|a| a.id == attachment_id)
                .map(|a| a.name.clone())
                .ok_or(AppError::NotFound("attachment"))?;
            tx.remove_attachment(evidence_id, attachment_id).await?;
            let entry = EntryData::AttachmentRemoved {
                evidence_id,
                attachment_id,
                name,
            };
            Ok(((), vec![entry]))
        })
        .await
    }

    pub async fn hypotheses(&self, actor: &Actor, id: i64) -> AppResult<Vec<HypothesisRecord>> {
        self.incident(actor, id).await?;
        Ok(self.store.hypotheses(id).await?)
    }

    pub async fn evidence(&self, actor: &Actor, id: i64) -> AppResult<Vec<EvidenceRecord>> {
        self.incident(actor, id).await?;
        Ok(self.store.evidence(id).await?)
    }

    pub async fn add_hypothesis(
        &self,
        actor: &Actor,
        id: i64,
        fields: HypothesisFields,
    ) -> AppResult<HypothesisRecord> {
        self.may_change(actor, id).await?;
        let statement = investigation::statement(&fields.statement)?;
        let owner = match fields
            .owner
            .as_deref()
            .map(str::trim)
            .filter(|o| !o.is_empty())
        {
            Some(name) => Some(self.user_ref("owner", name).await?.id),
            None => None,
        };
        let now = self.now();
        self.investigate(actor, id, async |tx: &mut InvestigationTx| {
            check_links(tx, &fields.evidence_for, &fields.evidence_against).await?;
            let hid = tx.add_hypothesis(&statement, owner, actor.id, now).await?;
            let mut h = tx.hypothesis(hid).await?;
            if !fields.evidence_for.is_empty() || !fields.evidence_against.is_empty() {
                h.evidence_for = fields.evidence_for.clone();
                h.evidence_against = fields.evidence_against.clone();
                tx.update_hypothesis(&h, now).await?;
            }
            let entry = EntryData::HypothesisProposed {
                hypothesis_id: hid,
                statement: statement.clone(),
            };
            Ok((tx.hypothesis(hid).await?, vec![entry]))
        })
        .await
    }

    pub async fn edit_hypothesis(
        &self,
        actor: &Actor,
        id: i64,
        hypothesis_id: i64,
        edit: HypothesisEdit,
    ) -> AppResult<HypothesisRecord> {
        self.may_change(actor, id).await?;
        let statement = edit
            .statement
            .as_deref()
            .map(investigation::statement)
            .transpose()?;
        let state = edit
            .state
            .as_deref()
            .map(str::parse::<HypothesisState>)
            .transpose()?;
        let owner = match edit.owner.as_deref().map(str::trim) {
            Some("") => Some(None),
            Some(name) => Some(Some(self.user_ref("owner", name).await?.id)),
            None => None,
        };
        let now = self.now();
        self.investigate(actor, id, async |tx: &mut InvestigationTx| {
            let mut h = found(tx.hypothesis(hypothesis_id).await, "hypothesis")?;
            let before = h.clone();
            if let Some(statement) = statement {
                h.statement = statement;
            }
            if let Some(owner) = owner {
                h.owner_id = owner;
            }
            if let Some(ids) = &edit.evidence_for {
                h.evidence_for = ids.clone();
            }
            if let Some(ids) = &edit.evidence_against {
                h.evidence_against = ids.clone();
            }
            check_links(tx, &h.evidence_for, &h.evidence_against).await?;
            let mut entries = Vec::new();
            let edited = (
                &h.statement,
                h.owner_id,
                &h.evidence_for,
                &h.evidence_against,
            ) != (
                &before.statement,
                before.owner_id,
                &before.evidence_for,
                &before.evidence_against,
            );
            if edited {
                entries.push(EntryData::HypothesisEdited {
                    hypothesis_id,
                    statement: h.statement.clone(),
                });
            }
            // A state given as it already is goes with other changes; alone it is refused.
            if let Some(to) = state.filter(|to| *to != before.state || entries.is_empty()) {
                before.state.check_move(to, before.tested_since_judged())?;
                h.state = to;
                if to.is_concluded() {
                    h.judged_after_test = h.tests.iter().map(|t| t.id).max().unwrap_or(0);
                }
                entries.push(EntryData::HypothesisStateChanged {
                    hypothesis_id,
                    statement: h.statement.clone(),
                    from: before.state,
                    to,
                });
            }
            if entries.is_empty() {
                return Err(AppError::Conflict("the change changes nothing".into()));
            }
            tx.update_hypothesis(&h, now).await?;
            Ok((tx.hypothesis(hypothesis_id).await?, entries))
        })
        .await
    }

    /// Records a test of a hypothesis; an open hypothesis is then being tested.
    pub async fn test_hypothesis(
        &self,
        actor: &Actor,
        id: i64,
        hypothesis_id: i64,
        test: TestFields,
    ) -> AppResult<HypothesisRecord> {
        self.may_change(actor, id).await?;
        let description = investigation::test_text("description", &test.description)?;
        let result = investigation::test_text("result", &test.result)?;
        let now = self.now();
        self.investigate(actor, id, async |tx: &mut InvestigationTx| {
            let mut h = found(tx.hypothesis(hypothesis_id).await, "hypothesis")?;
            tx.add_test(hypothesis_id, &description, &result, actor.id, now)
                .await?;
            let mut entries = vec![EntryData::HypothesisTested {
                hypothesis_id,
                statement: h.statement.clone(),
                description: description.clone(),
                result: result.clone(),
            }];
            let to = h.state.after_test();
            if to != h.state {
                entries.push(EntryData::HypothesisStateChanged {
                    hypothesis_id,
                    statement: h.statement.clone(),
                    from: h.state,
                    to,
                });
                h.state = to;
                tx.update_hypothesis(&h, now).await?;
            }
            Ok((tx.hypothesis(hypothesis_id).await?, entries))
        })
        .await
    }

    /// Runs one change to an incident's investigation in a transaction holding the incident's
    /// row lock, after checking the actor may act on the incident as it is then; commits the
    /// entries `work` returns and announces them.
    pub(super) async fn investigate<T>(
        &self,
        actor: &Actor,
        id: i64,
        work: impl AsyncFnOnce(&mut InvestigationTx) -> AppResult<(T, Vec<EntryData>)>,
    ) -> AppResult<T> {
        self.may_change(actor, id).await?;
        let mut tx = self.store.begin_investigation(id).await?;
        let incident = &tx.incident;
        if !actor.can_view(incident.private, incident.is_participant(actor.id)) {
            return Err(AppError::NotFound("incident"));
        }
        let (value, entries) = work(&mut tx).await?;
        tx.commit(actor.id, self.now(), &entries).await?;
        self.announce(id).await;
        Ok(value)
    }
}

/// A lookup within the incident: "not found" names what was looked for.
pub(super) fn found<T>(result: Result<T, StoreError>, what: &'static str) -> AppResult<T> {
    result.map_err(|e| match e {
        StoreError::NotFound => AppError::NotFound(what),
        e => e.into(),
    })
}

/// A lookup of something a request field names: "not found" is that field's error (422).
pub(super) fn named<T>(
    result: Result<T, StoreError>,
    field: &'static str,
    missing: impl FnOnce() -> String,
) -> AppResult<T> {
    result.map_err(|e| match e {
        StoreError::NotFound => FieldError::new(field, missing()).into(),
        e => e.into(),
    })
}

/// Evidence for and against a hypothesis is this incident's, and none is on both sides.
async fn check_links(
    tx: &mut InvestigationTx,
    evidence_for: &[i64],
    evidence_against: &[i64],
) -> AppResult<()> {
    for (field, ids) in [
        ("evidence_for", evidence_for),
        ("evidence_against", evidence_against),
    ] {
        for (i, id) in ids.iter().enumerate() {
            if ids[..i].contains(id) {
                return Err(FieldError::new(field, format!("lists evidence {id} twice")).into());
            }
            named(tx.evidence(*id).await, field, || {
                format!("this incident has no evidence {id}")
            })?;
        }
    }
    if let Some(both) = evidence_for.iter().find(|id| evidence_against.contains(id)) {
        return Err(FieldError::new(
            "evidence_against",
            format!("evidence {both} cannot be both for and against"),
        )
        .into());
    }
    Ok(())
}
