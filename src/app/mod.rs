//! The application services: each user-facing operation once, shared by the REST API and the
//! web UI. Raw input is parsed into domain types here (the edge), access is checked here, and
//! every committed change is announced to live subscribers.

use std::sync::Arc;

use jiff::Timestamp;
use tokio::sync::broadcast;

pub use crate::announce::{Announcer, IncidentChanged};
use crate::clock::Clock;
use crate::config::Settings;
use crate::domain::access::Actor;
use crate::domain::coordination::answers_for_task;
use crate::domain::drills::DrillPaging;
use crate::domain::incident::{
    Declaration, Incident, NoteText, Origin, Patch, RoleKind, ServiceRef, Severity, Status,
    Summary, Title, UserRef,
};
use crate::domain::investigation::change_window;
use crate::domain::timeline::EntryData;
use crate::domain::tone::Finding;
use crate::domain::{FieldError, RuleError, bounded_text};
pub use crate::secret::{hex, new_secret};

mod accounts;
mod action_items;
mod alerts;
mod apply;
mod backup;
mod communication;
mod coordination;
mod drills;
mod forge;
mod investigation;
mod maintenance;
mod metrics;
mod oncall;
mod playbooks;
mod reports;
mod requests;
mod review;
pub mod schema;
mod status;
mod subscribers;
mod templates;

pub use accounts::{IssuedToken, NewUser, SESSION_TTL, hash_token};
pub use action_items::{ActionItemEdit, ActionItemFields, ActionItemQuery};
pub use alerts::{INTEGRATION_KINDS, IntegrationView, SilenceInput};
pub use communication::{
    Briefing, CadenceView, SubscriptionFields, ToneCheckFields, UpdateEdit, UpdateFields, UsersTold,
};
pub use coordination::{ChangeEdit, ChangeFields, CheckInFields, TaskEdit, TaskFields};
use drills::DrillStart;
pub use drills::{DrillFields, DrillView, EXAMPLES as DRILL_EXAMPLES, example as drill_example};
pub use forge::{ForgeDelivery, ForgeOutcome, ForgeRecorded};
pub use investigation::{
    EvidenceEdit, EvidenceFields, HypothesisEdit, HypothesisFields, Investigation, RecentChange,
    TestFields,
};
pub use maintenance::{MaintenanceEdit, MaintenanceFields};
pub use metrics::MetricsQuery;
use oncall::AssemblyPlan;
pub use playbooks::{CheckFields, PlaybookChange, PlaybookFields};
pub use reports::{Filed, ReportFields, Reporter};
pub use review::{BlameCheckFields, CommentFields, MeetingFields, ReviewFields, ReviewView};
pub use status::{
    BrandFields, ComponentChange, ComponentEdit, ComponentFields, ComponentState, HISTORY_DAYS,
    StatusSnapshot,
};
pub use subscribers::SubscriberFields;
pub use templates::{FilledTemplate, TemplateFields, TemplateView};

pub use apply::{
    ApplyPlan, FieldChange, ObjectKind, OrgDocument, Outcome, PlannedObject, ResponderDoc,
    ServiceDoc,
};

pub use oncall::{
    CalendarFeed, ContactMethodInput, EngagementRuleInput, LayerInput, LevelInput,
    NotificationRuleInput, OverrideInput, PolicyInput, PolicySummary, ProfileInput, ScheduleInput,
    ScheduleView, ServiceOncallInput, TargetInput, TeamInput,
};

use crate::store::{
    AlertRecord, IdempotencyKey, IncidentFilter, IncidentPage, Inserted, PageRecord, ServiceRecord,
    StatusUpdateRecord, Store, StoreError, TaskRecord, TimelineEntry, TimelinePage, TimelineWindow,
};

/// Why an operation was refused; the HTTP layer maps each variant to one status code.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("authentication required")]
    Unauthenticated,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error("{0}")]
    Conflict(String),
    /// The change was made from a view older than the incident's current version; the
    /// message says who changed what since, and nothing was changed.
    #[error("{message}")]
    Stale {
        message: String,
        /// The version the incident is at now.
        current: i64,
        /// Whether the client gave the version as a precondition (`If-Match`) rather than
        /// as a field of its request.
        precondition: bool,
    },
    /// Too many failed sign-ins for an account or from an address, or public reports from an
    /// address; nothing was checked.
    #[error("too many {what} {from}; try again in {retry_after} seconds")]
    TooManyAttempts {
        /// "failed sign-ins" or "reports".
        what: &'static str,
        /// "for this account" or "from this address".
        from: &'static str,
        retry_after: u64,
    },
    /// A webhook whose signature or token does not prove it comes from the integration's
    /// owner; the message says what is wrong with it.
    #[error("{0}")]
    BadSignature(&'static str),
    #[error("the Idempotency-Key was already used for a different request")]
    IdempotencyMismatch,
    /// The database is unreachable for now; the client should retry.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(anyhow::Error),
}

impl From<RuleError> for AppError {
    fn from(e: RuleError) -> Self {
        match e {
            RuleError::Invalid(f) => Self::Invalid(f),
            RuleError::Conflict(m) => Self::Conflict(m),
            stale @ RuleError::Stale { current, .. } => Self::Stale {
                message: stale.to_string(),
                current,
                precondition: false,
            },
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        if e.is_unavailable() {
            return Self::Unavailable(e.to_string());
        }
        match e {
            StoreError::NotFound => Self::NotFound("incident"),
            StoreError::Conflict(m) => Self::Conflict(m),
            StoreError::Unsupported(m) => Self::Conflict(m.into()),
            StoreError::Rule(r) => r.into(),
            StoreError::IdempotencyMismatch => Self::IdempotencyMismatch,
            StoreError::Corrupt(_)
            | StoreError::Injected(_)
            | StoreError::Sqlite(_)
            | StoreError::Postgres(_)
            | StoreError::Io(_)
            | StoreError::Unreachable(_) => Self::Internal(e.into()),
        }
    }
}

pub type AppResult<T> = Result<T, AppError>;

/// Raw fields of a declaration, as they arrive from a form or a JSON body.
#[derive(Debug, Clone, Default)]
pub struct DeclareInput {
    pub title: String,
    pub summary: Option<String>,
    pub severity: String,
    pub incident_type: Option<String>,
    pub private: bool,
    pub services: Vec<String>,
}

/// Raw fields of an incident update; `None` leaves a field unchanged.
#[derive(Debug, Clone, Default)]
pub struct PatchInput {
    pub title: Option<String>,
    pub summary: Option<String>,
    pub severity: Option<String>,
    pub status: Option<String>,
    pub reason: Option<String>,
    /// The version the change was made from; a stale one refuses the change.
    pub seen: Option<SeenVersion>,
}

/// The incident version a client last saw, and how it said so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeenVersion {
    /// A precondition on the request (`If-Match`).
    Precondition(i64),
    /// A field of the request (`version` in a body or a form).
    Field(i64),
}

impl SeenVersion {
    fn version(self) -> i64 {
        match self {
            Self::Precondition(v) | Self::Field(v) => v,
        }
    }
}

/// A full incident as a reader sees it, with the roles its severity still needs.
#[derive(Debug, Clone)]
pub struct IncidentView {
    pub incident: Incident,
    pub unfilled_roles: Vec<RoleKind>,
}

/// Everything an incident's page shows beside its header: a window of the timeline, the paging
/// history, the latest alerts and the recent changes of the affected services.
#[derive(Debug, Clone)]
pub struct IncidentDetail {
    pub view: IncidentView,
    pub timeline: TimelinePage,
    pub pages: Vec<PageRecord>,
    /// The alerts most recently seen, at most `DETAIL_ALERTS`.
    pub alerts: Vec<AlertRecord>,
    /// The incident has more alerts than these.
    pub more_alerts: bool,
    pub changes: Vec<RecentChange>,
    pub investigation: Investigation,
    pub tasks: Vec<TaskRecord>,
    /// The ids of the tasks whose rhythm the viewer answers for (see
    /// `domain::coordination::answers_for_task`): the page offers them its check-in form
    /// and status buttons.
    pub answerable: Vec<i64>,
    /// The updates the viewer may see, newest first, each with what the tone check finds.
    pub updates: Vec<(StatusUpdateRecord, Vec<Finding>)>,
    pub users_told: UsersTold,
    pub cadence: CadenceView,
    /// The status page's component names, for the composer.
    pub components: Vec<String>,
    /// The playbook version the incident runs and its checklist, if one applied.
    pub checklist: Option<crate::store::IncidentPlaybook>,
}

/// How many alerts and recent changes an incident's detail carries: a page stays
/// small however big the incident grows.
const DETAIL_ALERTS: u32 = 20;
const DETAIL_CHANGES: i64 = 10;

/// What anyone on the Internet may do without signing in (report, subscribe), counted per
/// client address.
struct ClientGuard {
    what: &'static str,
    buckets: std::sync::Mutex<crate::domain::rate::Buckets<std::net::IpAddr>>,
}

impl ClientGuard {
    /// Beyond this many tracked addresses, refilled ones are forgotten.
    const MAX_TRACKED: usize = 10_000;

    fn new(what: &'static str, per_minute: u32) -> Self {
        Self {
            what,
            buckets: std::sync::Mutex::new(crate::domain::rate::Buckets::new(
                crate::domain::rate::Limit::per_minute(per_minute),
                Self::MAX_TRACKED,
            )),
        }
    }

    fn take(&self, client: std::net::IpAddr, now: Timestamp) -> AppResult<()> {
        // The counts stay usable even if a thread panicked holding the lock.
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        buckets
            .take(client, now)
            .map_err(|retry_after| AppError::TooManyAttempts {
                what: self.what,
                from: "from this address",
                retry_after,
            })
    }
}

pub struct Aplomb {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub settings: Settings,
    changes: broadcast::Sender<IncidentChanged>,
    announcer: Announcer,
    /// Wakes the paging engine when new work is committed, so it need not wait for its poll,
    /// and hands it the pages leased in a declaration's transaction.
    pub engine: Arc<crate::engine::EngineLink>,
    /// Stores inbound monitoring events in batches (group commit).
    pub ingest: crate::engine::ingest::IngestWriter,
    /// Password hashing off the runtime, and failed sign-ins counted (see `accounts`).
    sign_in: accounts::SignInGuard,
    /// Public user reports counted per client address (see `reports`).
    reports: ClientGuard,
    /// Status page sign-ups counted per client address (see `subscribers`).
    sign_ups: ClientGuard,
    /// Held while a backup copy is made: one at a time (see `backup`).
    backing_up: tokio::sync::Semaphore,
    /// The exposition's response metrics, read at most once a minute (see `metrics`).
    exposed: metrics::Exposed,
}

impl Aplomb {
    /// Fails only when the ingestion writer's thread cannot be started.
    pub fn new(store: Store, clock: Arc<dyn Clock>, settings: Settings) -> std::io::Result<Self> {
        let (changes, _) = broadcast::channel(1024);
        let announcer = Announcer::new(store.clone(), changes.clone());
        let engine: Arc<crate::engine::EngineLink> = Arc::default();
        let alert_type = settings.incident_types.automatic();
        let ingest = crate::engine::ingest::IngestWriter::spawn(
            store.clone(),
            clock.clone(),
            announcer.clone(),
            engine.clone(),
            alert_type,
            settings.events_per_second_per_key,
        )?;
        Ok(Self {
            store,
            clock,
            settings,
            changes,
            announcer,
            engine,
            ingest,
            sign_in: accounts::SignInGuard::default(),
            reports: ClientGuard::new("reports", reports::PUBLIC_REPORTS_PER_MINUTE),
            sign_ups: ClientGuard::new("sign-ups", subscribers::SIGN_UPS_PER_MINUTE),
            backing_up: tokio::sync::Semaphore::new(1),
            exposed: metrics::Exposed::default(),
        })
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<IncidentChanged> {
        self.changes.subscribe()
    }

    /// Feeds changes announced by every instance (PostgreSQL) into this one's subscribers.
    pub async fn start_listening(&self) -> anyhow::Result<()> {
        self.announcer.start_listening().await
    }

    /// The key that signs acknowledgement links, created on first use and shared by instances.
    pub async fn signing_key(&self) -> AppResult<String> {
        Ok(self
            .store
            .setting_or_insert("signing_key", &new_secret())
            .await?)
    }

    pub fn announcer(&self) -> Announcer {
        self.announcer.clone()
    }

    async fn announce(&self, incident_id: i64) {
        self.announcer.announce(incident_id).await;
    }

    // ----- service catalog -----

    pub async fn create_service(
        &self,
        actor: &Actor,
        name: &str,
        description: &str,
        owner_team: &str,
    ) -> AppResult<ServiceRecord> {
        require_admin(actor)?;
        let name = bounded_text("name", name, 1, 100)?;
        let description = bounded_text("description", description, 0, 2000)?;
        let owner_team = bounded_text("owner_team", owner_team, 0, 100)?;
        Ok(self
            .store
            .insert_service(&name, &description, &owner_team, self.now())
            .await?)
    }

    pub async fn list_services(&self) -> AppResult<Vec<ServiceRecord>> {
        Ok(self.store.list_services().await?)
    }

    // ----- incidents -----

    /// Declares an incident. Returns it and whether this was a replay of an earlier request
    /// with the same idempotency key.
    pub async fn declare(
        &self,
        actor: &Actor,
        input: DeclareInput,
        idempotency: Option<IdempotencyKey>,
    ) -> AppResult<(IncidentView, bool)> {
        require_responder(actor)?;
        let declaration = self.parse_declaration(input).await?;
        self.open_incident(actor, declaration, None, idempotency)
            .await
    }

    /// Declares an incident and assembles its team in one transaction, applying its playbook;
    /// a drill also records its scenario and queues its script there, and pages as it says.
    async fn open_incident(
        &self,
        actor: &Actor,
        declaration: Declaration,
        drill: Option<&DrillStart>,
        idempotency: Option<IdempotencyKey>,
    ) -> AppResult<(IncidentView, bool)> {
        let declared_by = UserRef {
            id: actor.id,
            username: actor.username.clone(),
        };
        let now = self.now();
        let (incident, entry) = Incident::declare(declaration, declared_by, now);
        let plan = match drill {
            Some(d) if d.scenario.paging == DrillPaging::Participants => {
                AssemblyPlan::only(d.participants.clone())
            }
            _ => self.assembly_plan(&incident).await?,
        };
        let playbook = self.playbook_for(&incident).await?;
        // The declaration and its assembly commit together: no crash leaves an incident that
        // was declared but never paged. A lost race for the idempotency key is run again.
        for _ in 0..2 {
            let mut tx = self.store.begin_paging().await?;
            let id = match tx.declare(&incident, &entry, idempotency.as_ref()).await? {
                Inserted::Raced => continue,
                Inserted::Replayed(id) => {
                    tx.commit().await?;
                    return Ok((self.incident(actor, id).await?, true));
                }
                Inserted::Created(id) => id,
            };
            let declared = Incident {
                id,
                ..incident.clone()
            };
            if let Some(d) = drill {
                tx.start_drill(id, &d.text, &d.scenario, actor.id, now)
                    .await?;
                let started = EntryData::DrillStarted {
                    paging: d.scenario.paging,
                    events: d.scenario.events.len(),
                };
                tx.record(id, now, &[started]).await?;
            }
            self.assemble(&mut tx, &declared, &plan, now).await?;
            if let Some(p) = &playbook {
                tx.apply_playbook(id, p, now).await?;
            }
            let deliveries = self.engine.fire_opened(&mut tx, &[id], now).await?;
            self.store
                .faults()
                .check("declare.before_commit")
                .map_err(AppError::Internal)?;
            tx.commit().await?;
            self.engine.hand_over(deliveries);
            self.engine.wake();
            self.announce(id).await;
            return Ok((self.incident(actor, id).await?, false));
        }
        Err(AppError::Conflict(
            "a concurrent request with the same Idempotency-Key is in progress".into(),
        ))
    }

    async fn parse_declaration(&self, input: DeclareInput) -> AppResult<Declaration> {
        let title = Title::parse(&input.title)?;
        let summary = Summary::parse(input.summary.as_deref().unwrap_or(""))?;
        let severity: Severity = input.severity.parse()?;
        let types = &self.settings.incident_types;
        let incident_type = match input.incident_type.as_deref().map(str::trim) {
            Some(t) if !t.is_empty() => types.parse(t)?,
            _ => types.fallback().to_string(),
        };
        let catalog = self.store.list_services().await?;
        let mut services = Vec::new();
        for name in input
            .services
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
        {
            let found = catalog
                .iter()
                .find(|s| s.name == name)
                .ok_or_else(|| FieldError::new("services", format!("no service named {name:?}")))?;
            if !services.iter().any(|s: &ServiceRef| s.id == found.id) {
                services.push(ServiceRef {
                    id: found.id,
                    name: found.name.clone(),
                });
            }
        }
        Ok(Declaration {
            title,
            summary,
            severity,
            incident_type,
            private: input.private,
            services,
            origin: Origin::Declared,
        })
    }

    /// The incident, if `actor` may see it. A private incident is "not found" to outsiders,
    /// so its existence does not leak.
    pub async fn incident(&self, actor: &Actor, id: i64) -> AppResult<IncidentView> {
        let incident = self
            .store
            .incident(id)
            .await?
            .ok_or(AppError::NotFound("incident"))?;
        if !actor.can_view(incident.private, incident.is_participant(actor.id)) {
            return Err(AppError::NotFound("incident"));
        }
        Ok(self.view(incident))
    }

    fn view(&self, incident: Incident) -> IncidentView {
        IncidentView {
            unfilled_roles: incident.unfilled_roles(&self.settings.role_policy),
            incident,
        }
    }

    pub async fn can_view(&self, actor: &Actor, id: i64) -> AppResult<bool> {
        match self.incident(actor, id).await {
            Ok(_) => Ok(true),
            Err(AppError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    pub async fn list(&self, actor: &Actor, filter: &IncidentFilter) -> AppResult<IncidentPage> {
        Ok(self.store.list_incidents(filter, actor).await?)
    }

    pub async fn timeline(
        &self,
        actor: &Actor,
        id: i64,
        window: TimelineWindow,
    ) -> AppResult<TimelinePage> {
        self.incident(actor, id).await?;
        Ok(self.store.timeline(id, window).await?)
    }

    /// What an incident's page shows, if `actor` may see the incident.
    pub async fn incident_detail(
        &self,
        actor: &Actor,
        id: i64,
        window: TimelineWindow,
    ) -> AppResult<IncidentDetail> {
        let view = self.incident(actor, id).await?;
        let timeline = self.store.timeline(id, window).await?;
        let pages = self.store.paging_history(id).await?;
        let (alerts, more_alerts) = self.store.incident_alerts(id, DETAIL_ALERTS).await?;
        let changes = self
            .changes_around(&view.incident, change_window(None)?, DETAIL_CHANGES)
            .await?;
        let tasks = self.store.tasks(id).await?;
        let lead = view.incident.holder(RoleKind::IncidentLead).map(|u| u.id);
        let answerable = tasks
            .iter()
            .filter(|t| answers_for_task(actor, t.assignee_id, lead))
            .map(|t| t.id)
            .collect();
        let updates = self.status_updates(actor, id).await?;
        let users_told = UsersTold::of(view.incident.private, &updates);
        let cadence = self.cadence_of(&view.incident, &updates).await?;
        let updates = updates
            .into_iter()
            .map(|u| {
                let tone = self.update_tone(&u);
                (u, tone)
            })
            .collect();
        let checklist = self.store.incident_playbook(id).await?;
        Ok(IncidentDetail {
            checklist,
            updates,
            users_told,
            cadence,
            components: self
                .store
                .components()
                .await?
                .into_iter()
                .map(|c| c.name)
                .collect(),
            investigation: self.load_investigation(id).await?,
            tasks,
            answerable,
            view,
            timeline,
            pages,
            alerts,
            more_alerts,
            changes,
        })
    }

    pub async fn update(
        &self,
        actor: &Actor,
        id: i64,
        input: PatchInput,
    ) -> AppResult<IncidentView> {
        self.may_change(actor, id).await?;
        let patch = Patch {
            title: input.title.as_deref().map(Title::parse).transpose()?,
            summary: input.summary.as_deref().map(Summary::parse).transpose()?,
            severity: input.severity.as_deref().map(str::parse).transpose()?,
            status: input
                .status
                .as_deref()
                .map(str::parse::<Status>)
                .transpose()?,
            reason: crate::domain::optional_text("reason", input.reason.as_deref(), 2000)?,
        };
        let now = self.now();
        let seen = input.seen;
        let changed = self
            .change(actor, id, |incident| {
                if let Some(seen) = seen {
                    incident.check_version(seen.version())?;
                }
                Ok(incident.apply(patch, now)?)
            })
            .await;
        match changed {
            Ok((view, _)) => Ok(view),
            Err(AppError::Stale { current, .. }) => Err(AppError::Stale {
                message: self.what_changed(actor, id).await?,
                current,
                precondition: matches!(seen, Some(SeenVersion::Precondition(_))),
            }),
            Err(e) => Err(e),
        }
    }

    /// Says who last changed the incident, what, when, and how it stands now, for someone
    /// whose change was refused because they had not seen it.
    async fn what_changed(&self, actor: &Actor, id: i64) -> AppResult<String> {
        let now = self.incident(actor, id).await?.incident;
        let change = match self.latest_change(id).await? {
            Some(e) => format!(
                "changed by {} at {} ({})",
                e.actor.as_deref().unwrap_or("aplomb"),
                e.at.strftime("%Y-%m-%d %H:%M:%S UTC"),
                e.data.describe()
            ),
            None => "changed".to_string(),
        };
        Ok(format!(
            "Not applied: this incident was {change} after your page was loaded \u{2014} \
             now {}, {}; reload to see it.",
            now.severity, now.status
        ))
    }

    /// The incident's latest timeline entry that changed it, read back a window at a time: it
    /// is usually among the latest, but an alert storm can bury it under alerts joining.
    async fn latest_change(&self, id: i64) -> AppResult<Option<TimelineEntry>> {
        const WINDOW: u32 = 200;
        let mut window = TimelineWindow::Latest { limit: WINDOW };
        loop {
            let page = self.store.timeline(id, window).await?;
            if let Some(e) = page
                .entries
                .iter()
                .rev()
                .find(|e| e.data.changes_incident())
            {
                return Ok(Some(e.clone()));
            }
            match page.entries.first() {
                Some(first) if page.more => {
                    window = TimelineWindow::Before {
                        id: first.id,
                        limit: WINDOW,
                    }
                }
                _ => return Ok(None),
            }
        }
    }

    pub async fn assign_role(
        &self,
        actor: &Actor,
        id: i64,
        role: &str,
        username: &str,
        note: Option<&str>,
    ) -> AppResult<IncidentView> {
        self.may_change(actor, id).await?;
        let role: RoleKind = role.parse()?;
        let note = crate::domain::optional_text("note", note, NoteText::MAX_CHARS)?
            .map(|n| NoteText::parse(&n))
            .transpose()?;
        let user = self.user_ref("user", username).await?;
        let now = self.now();
        self.change(actor, id, |incident| {
            Ok(incident.assign(role, user, note, now))
        })
        .await?;
        self.check_team_assembled(id).await?;
        self.incident(actor, id).await
    }

    /// Posts a note and returns its timeline entry.
    pub async fn add_note(&self, actor: &Actor, id: i64, text: &str) -> AppResult<TimelineEntry> {
        self.may_change(actor, id).await?;
        let text = NoteText::parse(text)?;
        let author = UserRef {
            id: actor.id,
            username: actor.username.clone(),
        };
        let now = self.now();
        let (_, written) = self
            .change(actor, id, |incident| Ok(incident.note(&author, text, now)))
            .await?;
        written
            .into_iter()
            .rfind(|e| e.data.kind() == "note")
            .ok_or_else(|| {
                AppError::Internal(anyhow::anyhow!("a note was committed without its entry"))
            })
    }

    pub async fn add_participant(
        &self,
        actor: &Actor,
        id: i64,
        username: &str,
    ) -> AppResult<IncidentView> {
        self.may_change(actor, id).await?;
        let user = self.user_ref("user", username).await?;
        let now = self.now();
        Ok(self
            .change(actor, id, |incident| {
                Ok(vec![incident.add_participant(&user, now)?])
            })
            .await?
            .0)
    }

    /// Runs one domain change under the store's row lock, after checking the actor may act on
    /// this incident as it is at that moment.
    async fn change<F>(
        &self,
        actor: &Actor,
        id: i64,
        change: F,
    ) -> AppResult<(IncidentView, Vec<TimelineEntry>)>
    where
        F: FnOnce(&mut Incident) -> Result<Vec<EntryData>, StoreError>,
    {
        self.may_change(actor, id).await?;
        let result = self
            .store
            .modify_incident(id, Some(actor.id), self.now(), |incident| {
                if !actor.can_view(incident.private, incident.is_participant(actor.id)) {
                    return Err(StoreError::NotFound);
                }
                change(incident)
            })
            .await;
        let (incident, mut written) = result?;
        if !written.is_empty() {
            self.announce(id).await;
        }
        for entry in &mut written {
            entry.actor = Some(actor.username.clone());
        }
        Ok((self.view(incident), written))
    }
}

impl Aplomb {
    /// The gate of a change to an incident, checked before its input is: "not found" when
    /// `actor` may not see the incident (so a private one's existence does not leak), then
    /// forbidden to a viewer. The change itself checks visibility again, in its transaction.
    pub(super) async fn may_change(&self, actor: &Actor, id: i64) -> AppResult<()> {
        self.incident(actor, id).await?;
        require_responder(actor)
    }
}

fn require_admin(actor: &Actor) -> AppResult<()> {
    if actor.is_admin() {
        Ok(())
    } else {
        Err(AppError::Forbidden("this needs the admin role".into()))
    }
}

fn require_responder(actor: &Actor) -> AppResult<()> {
    if actor.can_act() {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "viewers cannot change incidents".into(),
        ))
    }
}
