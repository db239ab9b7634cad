//! PostgreSQL through tokio-postgres, chosen for one requirement: an incident platform must
//! survive its own database's failover. A libpq-style URL with several hosts
//! (`postgres://db1,db2/aplomb?target_session_attrs=read-write`) is tried host by host, and a
//! connection lands only on the one that accepts writes; a connection the old primary drops is
//! discarded, and the next one finds the new primary.
//!
//! The pool is small and ours: at most `MAX_CONNECTIONS` clients, each with its prepared
//! statements; a caller waits at most `ACQUIRE_TIMEOUT` for one (then the request is answered
//! 503, not left hanging while the database is away).

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{AsyncMessage, Client, NoTls, Statement};

use super::{Arg, Row, Value};
use crate::store::{Result, StoreError};

const MAX_CONNECTIONS: usize = 16;
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// Prepared statements kept per connection before the cache starts over.
const STATEMENT_CACHE: usize = 256;

pub(in crate::store) struct Postgres {
    config: tokio_postgres::Config,
    idle: Mutex<Vec<Pooled>>,
    permits: Arc<Semaphore>,
}

/// A client and the statements it has prepared, keyed by SQL text and argument types.
struct Pooled {
    client: Client,
    statements: HashMap<String, Statement>,
}

/// A connection held by one caller, returned to the pool when dropped — unless it is closed or
/// was left inside a transaction (its caller gave up half-way): then it is dropped, which ends
/// the session and rolls the transaction back.
pub(in crate::store) struct Held {
    pooled: Option<Pooled>,
    pool: Arc<Postgres>,
    in_transaction: bool,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(pooled) = self.pooled.take()
            && !self.in_transaction
            && !pooled.client.is_closed()
            && let Ok(mut idle) = self.pool.idle.lock()
        {
            idle.push(pooled);
        }
    }
}

impl Postgres {
    pub fn new(url: &str) -> anyhow::Result<Arc<Self>> {
        let mut config = tokio_postgres::Config::from_str(url)
            .map_err(|e| anyhow::anyhow!("invalid database URL: {e}"))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(ACQUIRE_TIMEOUT);
        }
        Ok(Arc::new(Self {
            config,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
        }))
    }

    pub async fn acquire(self: &Arc<Self>) -> Result<Held> {
        let permit = tokio::time::timeout(ACQUIRE_TIMEOUT, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| {
                StoreError::Unreachable("no database connection came free in time".into())
            })?
            .map_err(|_| StoreError::Unreachable("the database pool is closed".into()))?;
        let idle = loop {
            let next = self.idle.lock().ok().and_then(|mut idle| idle.pop());
            match next {
                Some(pooled) if pooled.client.is_closed() => continue,
                other => break other,
            }
        };
        let pooled = match idle {
            Some(pooled) => pooled,
            None => Pooled {
                client: self.connect().await?,
                statements: HashMap::new(),
            },
        };
        Ok(Held {
            pooled: Some(pooled),
            pool: self.clone(),
            in_transaction: false,
            _permit: permit,
        })
    }

    /// Drops the idle connections (at shutdown).
    pub fn close(&self) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
    }

    async fn connect(&self) -> Result<Client> {
        let (client, connection) =
            self.config.connect(NoTls).await.map_err(|e| {
                StoreError::Unreachable(format!("cannot connect to PostgreSQL: {e}"))
            })?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "a PostgreSQL connection ended");
            }
        });
        Ok(client)
    }

    /// Listens on `channel` on a connection of its own and calls `on_message` with each
    /// notification's payload; reconnects (to whichever host is the primary) when it drops.
    pub async fn listen(
        self: &Arc<Self>,
        channel: &'static str,
        on_message: impl Fn(&str) + Send + 'static,
    ) -> anyhow::Result<()> {
        let first = self.listener(channel).await?;
        let pool = self.clone();
        tokio::spawn(async move {
            let (mut _client, mut messages) = first;
            loop {
                while let Some(message) = messages.recv().await {
                    on_message(&message);
                }
                tracing::warn!("change listener lost its connection; retrying");
                loop {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    match pool.listener(channel).await {
                        Ok(next) => {
                            (_client, messages) = next;
                            break;
                        }
                        Err(e) => tracing::warn!(error = %e, "cannot LISTEN for changes yet"),
                    }
                }
            }
        });
        Ok(())
    }

    /// A new connection that LISTENs on `channel`: its notifications' payloads arrive on the
    /// receiver, which ends when the connection does (the client must be kept meanwhile).
    async fn listener(
        &self,
        channel: &str,
    ) -> anyhow::Result<(Client, tokio::sync::mpsc::UnboundedReceiver<String>)> {
        let (client, mut connection) = self
            .config
            .connect(NoTls)
            .await
            .map_err(|e| anyhow::anyhow!("cannot LISTEN for changes: {e}"))?;
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
            while let Some(message) = futures_util::StreamExt::next(&mut messages).await {
                match message {
                    Ok(AsyncMessage::Notification(n)) => {
                        if sender.send(n.payload().to_string()).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::debug!(error = %e, "the change listener's connection ended");
                        return;
                    }
                }
            }
        });
        client
            .batch_execute(&format!("LISTEN {channel}"))
            .await
            .map_err(|e| anyhow::anyhow!("cannot LISTEN for changes: {e}"))?;
        Ok((client, receiver))
    }
}

impl Held {
    fn pooled(&mut self) -> &mut Pooled {
        self.pooled
            .as_mut()
            .expect("a held connection has its client")
    }

    pub async fn batch(&mut self, sql: &str) -> Result<()> {
        self.pooled().client.batch_execute(sql).await?;
        match sql {
            "BEGIN" => self.in_transaction = true,
            "COMMIT" | "ROLLBACK" => self.in_transaction = false,
            _ => {}
        }
        Ok(())
    }

    pub async fn execute(&mut self, sql: &str, args: &[Arg]) -> Result<u64> {
        let statement = self.prepared(sql, args).await?;
        let params = params(args);
        Ok(self.pooled().client.execute(&statement, &params).await?)
    }

    pub async fn fetch_all(&mut self, sql: &str, args: &[Arg]) -> Result<Vec<Row>> {
        let statement = self.prepared(sql, args).await?;
        let params = params(args);
        let rows = self.pooled().client.query(&statement, &params).await?;
        let columns: Arc<[String]> = statement
            .columns()
            .iter()
            .map(|c| c.name().to_string())
            .collect();
        rows.iter()
            .map(|row| {
                let values = (0..columns.len())
                    .map(|i| value(row, i, &columns[i]))
                    .collect::<Result<_>>()?;
                Ok(Row {
                    columns: columns.clone(),
                    values,
                })
            })
            .collect()
    }

    /// The statement for `sql` prepared on this connection for arguments of these kinds. Like
    /// libpq's, parameters are declared by kind: integers as bigint, text as text, and a NULL
    /// left for the server to infer.
    async fn prepared(&mut self, sql: &str, args: &[Arg]) -> Result<Statement> {
        let kinds: String = args
            .iter()
            .map(|a| match a {
                Arg::Int(_) => 'i',
                Arg::Text(_) => 't',
                Arg::Bytes(_) => 'b',
                Arg::Null => 'n',
            })
            .collect();
        let key = format!("{kinds}:{sql}");
        let pooled = self.pooled();
        if let Some(statement) = pooled.statements.get(&key) {
            return Ok(statement.clone());
        }
        let types: Vec<Type> = args
            .iter()
            .map(|a| match a {
                Arg::Int(_) => Type::INT8,
                Arg::Text(_) => Type::TEXT,
                Arg::Bytes(_) => Type::BYTEA,
                Arg::Null => Type::UNKNOWN,
            })
            .collect();
        let statement = pooled.client.prepare_typed(sql, &types).await?;
        if pooled.statements.len() >= STATEMENT_CACHE {
            pooled.statements.clear();
        }
        pooled.statements.insert(key, statement.clone());
        Ok(statement)
    }
}

fn params(args: &[Arg]) -> Vec<&(dyn ToSql + Sync)> {
    args.iter().map(|a| a as &(dyn ToSql + Sync)).collect()
}

/// One column of a row, by the type the server answered with.
fn value(row: &tokio_postgres::Row, i: usize, name: &str) -> Result<Value> {
    let ty = row.columns()[i].type_();
    let value = match *ty {
        Type::INT8 => row.try_get::<_, Option<i64>>(i)?.map(Value::Int),
        Type::INT4 => row
            .try_get::<_, Option<i32>>(i)?
            .map(|v| Value::Int(v.into())),
        Type::INT2 => row
            .try_get::<_, Option<i16>>(i)?
            .map(|v| Value::Int(v.into())),
        Type::BOOL => row
            .try_get::<_, Option<bool>>(i)?
            .map(|v| Value::Int(v.into())),
        Type::FLOAT8 => row.try_get::<_, Option<f64>>(i)?.map(Value::Real),
        Type::FLOAT4 => row
            .try_get::<_, Option<f32>>(i)?
            .map(|v| Value::Real(v.into())),
        Type::BYTEA => row.try_get::<_, Option<Vec<u8>>>(i)?.map(Value::Bytes),
        // What a function called for its effect answers (`pg_notify`, `pg_advisory_xact_lock`).
        Type::VOID => None,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
            row.try_get::<_, Option<String>>(i)?.map(Value::Text)
        }
        _ => {
            return Err(StoreError::Corrupt(format!(
                "{name} has the type {ty}, which the store does not read"
            )));
        }
    };
    Ok(value.unwrap_or(Value::Null))
}

impl ToSql for Arg {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Arg::Null => Ok(IsNull::Yes),
            Arg::Int(v) => match *ty {
                Type::INT8 => v.to_sql(ty, out),
                Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*v)?.to_sql(ty, out),
                Type::BOOL => (*v != 0).to_sql(ty, out),
                _ => Err(format!("an integer cannot be sent as {ty}").into()),
            },
            Arg::Text(v) => v.as_str().to_sql(ty, out),
            Arg::Bytes(v) => v.as_slice().to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// The error's SQLSTATE, when the server answered with one.
pub(in crate::store) fn sqlstate(e: &tokio_postgres::Error) -> Option<&str> {
    e.as_db_error().map(|db| db.code().code())
}

/// The database is unreachable or dropped the session (a restart, a failover, an administrator
/// ending sessions): worth retrying on a new connection.
pub(in crate::store) fn is_unavailable(e: &tokio_postgres::Error) -> bool {
    match e.as_db_error() {
        // Class 08: connection exception; 53300: too many connections; 57P01–57P03: the server
        // is shutting down or starting; 55000 on connecting: the database is closed to
        // connections (`ALLOW_CONNECTIONS false`, as during maintenance).
        Some(db) => {
            let code = db.code().code();
            code.starts_with("08")
                || code.starts_with("57P0")
                || code == "53300"
                || (code == "55000" && db.message().contains("accepting connections"))
        }
        None => {
            e.is_closed() || std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>())
        }
    }
}
