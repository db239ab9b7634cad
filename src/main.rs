//! Command-line parsing only: `aplomb serve` runs the server, everything else is a client.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use aplomb::cli::{
    AlertCommand, BrandingCommand, ChangeCommand, Client, ComponentCommand, Connection,
    ContactCommand, EventArgs, EvidenceCommand, HypothesisCommand, IncidentCommand,
    IntegrationCommand, MaintenanceCommand, ReportCommand, ServiceCommand, StatusSubscriberCommand,
    TaskCommand, TokenCommand, UserCommand,
};
use aplomb::engine::channels::TwilioConfig;
use aplomb::server::{DEFAULT_DATABASE_URL, ServeOptions};

#[derive(Debug, Parser)]
#[command(
    name = "aplomb",
    version,
    about = "Incident response, calmly: declare, coordinate, communicate, review."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server: REST API, web UI, public status page and background work (paging,
    /// escalations, update reminders, maintenance, retention). Set APLOMB_ADMIN_TOKEN to make
    /// the first admin's API token on an empty database; else a setup token is logged.
    Serve {
        /// Address to listen on (HOST:PORT; 0.0.0.0:8080 for every interface).
        #[arg(long, env = "APLOMB_LISTEN", default_value = "127.0.0.1:8080")]
        listen: String,
        /// sqlite://FILE (created when missing) or postgres://USER@HOST[,HOST2]/DB[?target_session_attrs=read-write].
        #[arg(long, env = "APLOMB_DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
        database_url: String,
        /// TOML file of settings: incident types, required roles per severity, update cadence,
        /// tone-check words, the status page's brand, how long resolved alerts and delivery
        /// records are kept (the README lists every key).
        #[arg(long, env = "APLOMB_CONFIG")]
        config: Option<PathBuf>,
        /// Fill an empty database with a demo organisation and one ongoing incident.
        #[arg(long)]
        demo: bool,
        /// PEM certificate chain: serve HTTPS (with --tls-key).
        #[arg(long, env = "APLOMB_TLS_CERT", requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// PEM private key for --tls-cert.
        #[arg(long, env = "APLOMB_TLS_KEY", requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Monitoring events per second one routing key may send (bursts of twice that) before
        /// getting 429 [default: 10000]. Counted per instance: N instances sharing one database
        /// accept up to N times this.
        #[arg(long, env = "APLOMB_EVENTS_PER_SECOND_PER_KEY")]
        events_per_second_per_key: Option<u32>,
        /// URL people reach this server at, for links in pages (default: http://LISTEN).
        #[arg(long, env = "APLOMB_PUBLIC_URL")]
        public_url: Option<String>,
        /// SMTP relay for email pages: smtp://HOST:PORT.
        #[arg(long, env = "APLOMB_SMTP_URL")]
        smtp_url: Option<String>,
        /// PEM file of an extra CA to trust for the SMTP server's certificate.
        #[arg(long, env = "APLOMB_SMTP_CA_FILE")]
        smtp_ca_file: Option<PathBuf>,
        /// Sender address of email pages.
        #[arg(long, env = "APLOMB_SMTP_FROM", default_value = "aplomb@localhost")]
        smtp_from: String,
        /// Base URL of a Twilio-compatible API for SMS and voice pages.
        #[arg(long, env = "APLOMB_TWILIO_URL")]
        twilio_url: Option<String>,
        /// Account of the Twilio-compatible API.
        #[arg(long, env = "APLOMB_TWILIO_ACCOUNT_SID", default_value = "")]
        twilio_account_sid: String,
        /// Its auth token (never printed).
        #[arg(
            long,
            env = "APLOMB_TWILIO_AUTH_TOKEN",
            default_value = "",
            hide_env_values = true
        )]
        twilio_auth_token: String,
        /// Sender number for SMS and voice pages.
        #[arg(long, env = "APLOMB_TWILIO_FROM", default_value = "")]
        twilio_from: String,
    },
    /// Sign in with your password: stores the server's URL and a new API token (in
    /// $APLOMB_CONFIG_DIR, $XDG_CONFIG_HOME/aplomb or ~/.config/aplomb: cli.toml, mode 0600)
    /// for later commands. Asks for what the flags do not give; reads the password from
    /// standard input when it is not a terminal.
    Login {
        #[command(flatten)]
        connection: Connection,
        #[arg(long)]
        username: Option<String>,
        /// Name of the new token, as the Tokens page lists it.
        #[arg(long, default_value = "aplomb login")]
        token_name: String,
    },
    /// Revoke the token `aplomb login` stored and remove it.
    Logout {
        #[command(flatten)]
        connection: Connection,
    },
    /// Status updates to an incident's audiences: draft, publish, correct, list.
    Update {
        #[command(flatten)]
        connection: Connection,
        #[command(subcommand)]
        command: aplomb::cli::communication::UpdateCommand,
    },
    /// Check a draft update's tone before it goes out (shouting, panic, blame, promises,
    /// internals in a public update, missing essentials); it advises and blocks nothing.
    ToneCheck {
        #[command(flatten)]
        connection: Connection,
        #[command(flatten)]
        args: aplomb::cli::communication::ToneCheckArgs,
    },
    /// An incident's post-incident review: its draft (the text, gap analysis pre-filled),
    /// figures, publishing, and export as Markdown.
    Review {
        #[command(flatten)]
        connection: Connection,
        #[command(subcommand)]
        command: aplomb::cli::review::ReviewCommand,
    },
    /// Action items decided in reviews: owners, due dates, priorities, tracked to done.
    ActionItem {
        #[command(flatten)]
        connection: Connection,
        #[command(subcommand)]
        command: aplomb::cli::action_items::ActionItemCommand,
    },
    /// Playbooks per incident type: checklists, roles to fill and guidance, versioned; and an
    /// incident's checklist.
    Playbook {
        #[command(flatten)]
        connection: Connection,
        #[command(subcommand)]
        command: aplomb::cli::playbooks::PlaybookCommand,
    },
    /// Drills: practice incidents played from a scenario, paging only whom they name, kept
    /// off the status page and out of the metrics, scored against the playbook.
    Drill {
        #[command(flatten)]
        connection: Connection,
        #[command(subcommand)]
        command: aplomb::cli::drills::DrillCommand,
    },
    /// Response metrics over a period: key durations (median, 90th percentile), mitigations
    /// on a finding, cadence kept, action items done.
    Metrics {
        #[command(flatten)]
        connection: Connection,
        #[command(flatten)]
        args: aplomb::cli::metrics::MetricsArgs,
    },
    /// Check a review's wording for blame (a person as the cause, "human error", "should
    /// have", hindsight, judgement words); naming who did what passes. It advises only.
    BlameCheck {
        #[command(flatten)]
        connection: Connection,
        #[command(flatten)]
        args: aplomb::cli::review::BlameCheckArgs,
    },
    /// Open incidents, worst first, with what stakeholders were told and when they hear next.
    Briefing {
        #[command(flatten)]
        connection: Connection,
    },
    /// The team's status update templates, per audience and phase: list, set, reset.
    Template {
        #[command(flatten)]
        connection: Connection,
        #[command(subcommand)]
        command: aplomb::cli::communication::TemplateCommand,
    },
    /// Stakeholders' subscriptions to status updates: add, list, remove.
    Subscription {
        #[command(flatten)]
        connection: Connection,
        #[command(subcommand)]
        command: aplomb::cli::communication::SubscriptionCommand,
    },
    /// Acknowledge an incident's pages: escalation stops.
    Ack {
        #[command(flatten)]
        connection: Connection,
        id: i64,
    },
    /// Apply an on-call setup from a file (TOML, or JSON), idempotently.
    Apply {
        #[command(flatten)]
        connection: Connection,
        /// The file: responders, teams, schedules, escalation_policies, services, engagement_rules.
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        /// Print what applying would do (created, changed field by field, unchanged) and write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Save a consistent copy of the server's SQLite database to FILE, while it serves
    /// (admins; a PostgreSQL database is backed up with pg_dump).
    Backup {
        file: PathBuf,
        #[command(flatten)]
        connection: Connection,
    },
    /// Put a backup FILE back as the SQLite database: run it beside the database with every
    /// `aplomb serve` on it stopped, then start aplomb again.
    Restore {
        file: PathBuf,
        /// The database to replace: sqlite://FILE (created when missing).
        #[arg(long, env = "APLOMB_DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
        database_url: String,
    },
    /// Print the current on-call setup as TOML that `aplomb apply` accepts.
    Export {
        #[command(flatten)]
        connection: Connection,
    },
    /// Who is on call now, per schedule.
    Oncall {
        #[command(flatten)]
        connection: Connection,
        /// Only this schedule.
        #[arg(long, conflicts_with = "service")]
        schedule: Option<String>,
        /// Who this service's escalation policy reaches now.
        #[arg(long)]
        service: Option<String>,
        /// Print the calendar feed URL (key included) of --schedule, or of --user's shifts.
        #[arg(long, conflicts_with = "service")]
        calendar: bool,
        /// With --calendar: this responder's feed.
        #[arg(long, requires = "calendar", conflicts_with = "schedule")]
        user: Option<String>,
    },
    /// Declare, list, show and change incidents.
    Incident {
        #[command(flatten)]
        connection: Connection,
        #[command(subcommand)]
        command: IncidentCommand,
    },
    /// An incident's evidence: add, list, pin, attach and download files, and the recent changes to consider.
    Evidence {
        #[command(flatten)]
        connection: Connection,
        #[command(subcommand)]
        command: EvidenceCommand,
    },
    /// An incident's hypotheses: add, test, support, refute, list.
    Hypothesis {
        #[command(flatten)]
        connection: Connection,
        #[command(subcommand)]
        command: HypothesisCommand,
    },
    /// Tasks by domain with check-ins: add, check-in, done, list, mine.
    Task {
        #[command(flatten)]
        connection: Connection,
        #[command(subcommand)]
        command: TaskCommand,
    },
    /// User reports: file one for a user (as a support tool), list the triage queue.
    Report {
        #[command(flatten)]
        connection: Connection,
        #[command(subcommand)]
        command: ReportCommand,
    },
    /// Changes made to production during an incident: record, rollback, list.
    Change {
        #[command(flatten)]
        connection: Connection,
        #[command(subcommand)]
        command: ChangeCommand,
    },
    /// List, show, acknowledge and resolve alerts.
    Alert {
        #[command(flatten)]
        connection: Connection,
        #[command(subcommand)]
        command: AlertCommand,
    },
    /// Manage a service's integrations (routing keys for monitoring and code forges).
    Integration {
        #[command(flatten)]
        connection: Connection,
        #[command(subcommand)]
        command: IntegrationCommand,
    },
    /// Send monitoring events.
    Event {
        #[command(flatten)]
        connection: Connection,
        #[command(subcommand)]
        command: EventCommand,
    },
    /// A responder's contact methods and notification rules (yours, or --user's).
    Contact {
        #[command(flatten)]
        connection: Connection,
        /// Whose (admins may name anyone; default: the token's user).
        #[arg(long, global = true)]
        user: Option<String>,
        #[command(subcommand)]
        command: ContactCommand,
    },
    /// Manage users.
    User {
        #[command(flatten)]
        connection: Connection,
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage API tokens.
    Token {
        #[command(flatten)]
        connection: Connection,
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// The public status page's components: add, list, edit.
    Component {
        #[command(flatten)]
        connection: Connection,
        #[command(subcommand)]
        command: ComponentCommand,
    },
    /// The public status page's subscribers: add (webhooks, or email with a confirmation),
    /// list, remove.
    StatusSubscriber {
        #[command(flatten)]
        connection: Connection,
        #[command(subcommand)]
        command: StatusSubscriberCommand,
    },
    /// How the public status page presents itself: show, set (name, logo, colour).
    Branding {
        #[command(flatten)]
        connection: Connection,
        #[command(subcommand)]
        command: BrandingCommand,
    },
    /// Scheduled maintenance on the public status page: schedule, list, edit, cancel,
    /// complete.
    Maintenance {
        #[command(flatten)]
        connection: Connection,
        #[command(subcommand)]
        command: MaintenanceCommand,
    },
    /// Manage the service catalog.
    Service {
        #[command(flatten)]
        connection: Connection,
        #[command(subcommand)]
        command: ServiceCommand,
    },
}

#[derive(Debug, Subcommand)]
enum EventCommand {
    /// Send a test event (PagerDuty Events API v2) and print its dedup key.
    Send(EventArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("aplomb: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(cli.command))
}

async fn run(command: Command) -> ExitCode {
    let result = match command {
        Command::Serve {
            listen,
            database_url,
            config,
            demo,
            tls_cert,
            tls_key,
            events_per_second_per_key,
            public_url,
            smtp_url,
            smtp_ca_file,
            smtp_from,
            twilio_url,
            twilio_account_sid,
            twilio_auth_token,
            twilio_from,
        } => {
            init_logging();
            let mut options = ServeOptions::new(&listen, &database_url);
            options.config = config;
            options.admin_token = std::env::var("APLOMB_ADMIN_TOKEN")
                .ok()
                .filter(|t| !t.is_empty());
            options.demo = demo;
            options.events_per_second_per_key = events_per_second_per_key;
            if let (Some(cert), Some(key)) = (tls_cert, tls_key) {
                options.outbound.public_url = format!("https://{listen}");
                options.tls = Some((cert, key));
            }
            if let Some(url) = public_url.clone() {
                options.outbound.public_url = url;
            }
            options.outbound.smtp_url = smtp_url;
            options.outbound.smtp_ca_file = smtp_ca_file;
            options.outbound.smtp_from = smtp_from;
            options.outbound.twilio = twilio_url.map(|base_url| TwilioConfig {
                base_url,
                account_sid: twilio_account_sid,
                auth_token: twilio_auth_token,
                from: twilio_from,
            });
            return match aplomb::server::run(options).await {
                Ok(()) => ExitCode::SUCCESS,
                // Said once, plainly (the log goes to the same standard error).
                Err(e) => {
                    eprintln!("aplomb: {e:#}");
                    ExitCode::FAILURE
                }
            };
        }
        Command::Login {
            connection,
            username,
            token_name,
        } => aplomb::cli::auth::login(&connection, username, &token_name).await,
        Command::Logout { connection } => aplomb::cli::auth::logout(&connection).await,
        Command::Ack { connection, id } => Client::new(&connection).ack(id).await,
        Command::Update {
            connection,
            command,
        } => Client::new(&connection).update(command).await,
        Command::ToneCheck { connection, args } => Client::new(&connection).tone_check(args).await,
        Command::Review {
            connection,
            command,
        } => Client::new(&connection).review(command).await,
        Command::ActionItem {
            connection,
            command,
        } => Client::new(&connection).action_item(command).await,
        Command::Playbook {
            connection,
            command,
        } => Client::new(&connection).playbook(command).await,
        Command::Drill {
            connection,
            command,
        } => Client::new(&connection).drill(command).await,
        Command::Metrics { connection, args } => Client::new(&connection).metrics(args).await,
        Command::BlameCheck { connection, args } => {
            Client::new(&connection).blame_check(args).await
        }
        Command::Template {
            connection,
            command,
        } => Client::new(&connection).template(command).await,
        Command::Briefing { connection } => Client::new(&connection).briefing().await,
        Command::Subscription {
            connection,
            command,
        } => Client::new(&connection).subscription(command).await,
        Command::Alert {
            connection,
            command,
        } => Client::new(&connection).alert(command).await,
        Command::Integration {
            connection,
            command,
        } => Client::new(&connection).integration(command).await,
        Command::Event {
            connection,
            command: EventCommand::Send(args),
        } => Client::new(&connection).send_event(args).await,
        Command::Apply {
            connection,
            file,
            dry_run,
        } => Client::new(&connection).apply(&file, dry_run).await,
        Command::Export { connection } => Client::new(&connection).export().await,
        Command::Backup { file, connection } => Client::new(&connection).backup(&file).await,
        Command::Restore { file, database_url } => {
            return match aplomb::store::restore(&file, &database_url) {
                Ok(r) => {
                    println!(
                        "restored {} into {} (schema {}), holding incidents: {}, alerts: {}, \
                         users: {}; start aplomb serve on it",
                        file.display(),
                        r.database.display(),
                        r.schema_version,
                        r.incidents,
                        r.alerts,
                        r.users,
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("aplomb: {e:#}");
                    ExitCode::FAILURE
                }
            };
        }
        Command::Oncall {
            connection,
            schedule,
            calendar: true,
            user,
            ..
        } => {
            Client::new(&connection)
                .calendar_link(schedule.as_deref(), user.as_deref())
                .await
        }
        Command::Oncall {
            connection,
            schedule,
            service: Some(service),
            ..
        } if schedule.is_none() => Client::new(&connection).service_oncall(&service).await,
        Command::Oncall {
            connection,
            schedule,
            ..
        } => Client::new(&connection).oncall(schedule.as_deref()).await,
        Command::Incident {
            connection,
            command,
        } => Client::new(&connection).incident(command).await,
        Command::Evidence {
            connection,
            command,
        } => Client::new(&connection).evidence(command).await,
        Command::Hypothesis {
            connection,
            command,
        } => Client::new(&connection).hypothesis(command).await,
        Command::Task {
            connection,
            command,
        } => Client::new(&connection).task(command).await,
        Command::Report {
            connection,
            command,
        } => Client::new(&connection).report(command).await,
        Command::Change {
            connection,
            command,
        } => Client::new(&connection).change(command).await,
        Command::Contact {
            connection,
            user,
            command,
        } => {
            Client::new(&connection)
                .contact(user.as_deref(), command)
                .await
        }
        Command::User {
            connection,
            command,
        } => Client::new(&connection).user(command).await,
        Command::Token {
            connection,
            command,
        } => Client::new(&connection).token(command).await,
        Command::Service {
            connection,
            command,
        } => Client::new(&connection).service(command).await,
        Command::Component {
            connection,
            command,
        } => Client::new(&connection).component(command).await,
        Command::Maintenance {
            connection,
            command,
        } => Client::new(&connection).maintenance(command).await,
        Command::StatusSubscriber {
            connection,
            command,
        } => Client::new(&connection).status_subscriber(command).await,
        Command::Branding {
            connection,
            command,
        } => Client::new(&connection).branding(command).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("aplomb: {e}");
            e.exit_code()
        }
    }
}

fn init_logging() {
    let filter: tracing_subscriber::filter::Targets = std::env::var("APLOMB_LOG")
        .ok()
        .and_then(|spec| spec.parse().ok())
        .unwrap_or_else(|| "info".parse().expect("a constant filter parses"));
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    // Colour codes only for a person at a terminal, not in files or a journal.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(colour),
        )
        .with(filter)
        .init();
}

#[cfg(test)]
mod tests {
    /// clap's own checks of the whole command line (conflicting definitions, broken
    /// requirements), which otherwise run only when a command is parsed.
    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
