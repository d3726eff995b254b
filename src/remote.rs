//! Sources on another server (postgres_fdw foreign tables): where a run's window may end so
//! that no row committed late on the source is lost, and a source snapshot no older than the
//! run. Both are read through the server itself:
//!
//! - **Late commits.** The bound comes from the source's `pg_stat_activity` (through a foreign
//!   table insync keeps per server): just below the earliest start of a transaction still open
//!   there, never later than the source's clock minus the start margin. Other roles' sessions
//!   are visible only when the mapped remote role may read them (`pg_read_all_stats`); when it
//!   may not, the job is exposed to late commits, and definition says so with both remedies.
//! - **Snapshot age.** postgres_fdw keeps one remote transaction, and one snapshot, for the
//!   whole local transaction. A run must open that remote transaction itself: if this
//!   transaction already used the server (a query, or another job), the snapshot may predate
//!   the window and rows committed since would be skipped for good. A server first read by an
//!   earlier insync run in this transaction is fine — that run recorded where its snapshot
//!   stands, and later windows stop there. Otherwise the run is refused.

use crate::catalog::as_catalog_owner;
use crate::error::{error_with_hint, SpiContext, SyncResult};
use crate::plan::{quote_ident, quote_literal, WatermarkKind};
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;
use std::cell::RefCell;

/// The application name insync's own connections to a source use, so that their (read-only)
/// remote transactions do not hold back other runs' windows.
const APPLICATION_NAME: &str = "insync";
const APPLICATION_NAME_C: &std::ffi::CStr = c"insync";

/// A foreign server a run reads through.
#[derive(Debug, Clone)]
pub struct Server {
    pub oid: pg_sys::Oid,
    pub name: String,
    /// The database its connections open (the `dbname` option), when given.
    pub dbname: Option<String>,
    /// Whether it is a postgres_fdw server (others give no activity to bound by).
    pub postgres_fdw: bool,
}

/// The foreign server behind `relation`, if it is a foreign table.
pub fn server_of(relation: pg_sys::Oid) -> SyncResult<Option<Server>> {
    Spi::connect(|client| {
        let rows = client.select(
            "SELECT s.oid, s.srvname::pg_catalog.text, \
                    (SELECT pg_catalog.substr(o, 8) FROM pg_catalog.unnest(s.srvoptions) o \
                      WHERE o OPERATOR(pg_catalog.^@) 'dbname=' LIMIT 1), \
                    w.fdwname OPERATOR(pg_catalog.=) 'postgres_fdw' \
               FROM pg_catalog.pg_foreign_table t \
               JOIN pg_catalog.pg_foreign_server s ON s.oid OPERATOR(pg_catalog.=) t.ftserver \
               JOIN pg_catalog.pg_foreign_data_wrapper w ON w.oid OPERATOR(pg_catalog.=) s.srvfdw \
              WHERE t.ftrelid OPERATOR(pg_catalog.=) $1",
            None,
            &[relation.into()],
        )?;
        let Some(row) = rows.into_iter().next() else {
            return Ok(None);
        };
        Ok(Some(Server {
            oid: row.get::<pg_sys::Oid>(1)?.unwrap_or(pg_sys::InvalidOid),
            name: row.get::<String>(2)?.unwrap_or_default(),
            dbname: row.get::<String>(3)?,
            postgres_fdw: row.get::<bool>(4)?.unwrap_or(false),
        }))
    })
    .context("reading the foreign server")
}

/// What the source says about its open transactions, read at the start of the run's remote
/// transaction. Instants are ISO UTC text on the source's clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceActivity {
    /// The latest query start among the source's active sessions (this read's own included).
    pub now: String,
    /// The earliest start of a transaction open there, insync's own connections left out.
    pub earliest_open: Option<String>,
    /// Sessions in the source database whose transaction start the mapped role cannot see.
    pub hidden_sessions: i64,
    /// Whether the mapped role sees every process (the source's own background processes
    /// show as `<insufficient privilege>` to a role without `pg_read_all_stats`).
    pub sees_all: bool,
}

impl SourceActivity {
    /// The instant no transaction still open on the source can stamp a row before (as far as
    /// the mapped role can see): the earliest open start, else the source's clock minus the
    /// start margin.
    pub fn safe_instant_sql(&self) -> String {
        let now = format!(
            "{}::pg_catalog.timestamptz - interval '{}'",
            quote_literal(&self.now),
            crate::window::START_MARGIN
        );
        match &self.earliest_open {
            Some(open) => format!(
                "LEAST({now}, {}::pg_catalog.timestamptz)",
                quote_literal(open)
            ),
            None => now,
        }
    }
}

thread_local! {
    /// Per server, the safe instant an insync run of this transaction read when it opened the
    /// remote transaction: (transaction start, server, instant). Later runs in the same
    /// transaction share that snapshot, so their windows stop there too.
    static OPENED_HERE: RefCell<Vec<(i64, pg_sys::Oid, String)>> = const { RefCell::new(Vec::new()) };
}

fn transaction_start() -> i64 {
    // SAFETY: reads the current transaction's start timestamp, a plain backend global.
    unsafe { pg_sys::GetCurrentTransactionStartTimestamp() }
}

/// Where the window of a run reading through `server` may end (an instant as ISO UTC text),
/// and how many source sessions that instant could not account for.
pub struct RemoteBound {
    pub instant: String,
    pub hidden_sessions: i64,
    /// Whether the mapped role sees every session there (`None`: not read by this run).
    pub sees_all: Option<bool>,
}

/// Opens (or joins) the run's remote transaction on `server` (a postgres_fdw server) and
/// reads where its window may end. Refuses when this transaction used the server before,
/// outside insync.
pub fn safe_instant(job: &str, server: &Server, relation: &str) -> SyncResult<RemoteBound> {
    if let Some(instant) = opened_here(server) {
        return Ok(RemoteBound {
            instant,
            hidden_sessions: 0,
            sees_all: None,
        });
    }
    let fdw = fdw_schema()?;
    if used_in_this_transaction(&fdw, server)? {
        return Err(error_with_hint(
            PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            format!(
                "sync job \"{job}\" cannot read {relation}: this transaction already used server \"{}\", so the source snapshot may be older than the run's window and rows committed since would be skipped",
                server.name
            ),
            "Run the job in a transaction of its own: COMMIT before it (in a DO block or procedure, between jobs too), and give each job its own pg_cron command.",
        ));
    }
    let (instant, activity) = open_remote_transaction(server)?;
    Ok(RemoteBound {
        instant,
        hidden_sessions: activity.hidden_sessions,
        sees_all: Some(activity.sees_all),
    })
}

/// At definition: opens the remote transaction as a run would (so a run later in this
/// transaction joins it) and says whether the mapped role sees every session on the source.
/// `None` when that cannot be told (not postgres_fdw, or the server was already in use).
pub fn probe_at_definition(server: &Server) -> SyncResult<Option<bool>> {
    if opened_here(server).is_some()
        || !server.postgres_fdw
        || used_in_this_transaction(&fdw_schema()?, server)?
    {
        return Ok(None);
    }
    open_remote_transaction(server).map(|(_, activity)| Some(activity.sees_all))
}

/// The safe instant an insync run of this transaction read when it opened its remote
/// transaction on `server`, if one did.
fn opened_here(server: &Server) -> Option<String> {
    let xact = transaction_start();
    OPENED_HERE.with(|o| {
        let mut o = o.borrow_mut();
        o.retain(|(x, _, _)| *x == xact);
        o.iter()
            .find(|(_, s, _)| *s == server.oid)
            .map(|(_, _, i)| i.clone())
    })
}

/// Opens the remote transaction with the activity read, and records where its snapshot
/// stands for later runs of this transaction.
fn open_remote_transaction(server: &Server) -> SyncResult<(String, SourceActivity)> {
    let activity = read_activity(server)?;
    let instant = Spi::get_one::<String>(&format!(
        "SELECT {}",
        WatermarkKind::Timestamptz.to_text_sql(&activity.safe_instant_sql())
    ))
    .context("computing the source's safe instant")?
    .unwrap_or_default();
    let xact = transaction_start();
    OPENED_HERE.with(|o| o.borrow_mut().push((xact, server.oid, instant.clone())));
    Ok((instant, activity))
}

/// What job_status says when the mapped role cannot see the source's sessions.
pub fn hidden_sessions_risk(server: &Server) -> String {
    format!(
        "the role mapped on server \"{}\" cannot see other sessions there (grant it pg_read_all_stats on the source, or set a lookback)",
        server.name
    )
}

/// What job_status says for a server insync cannot ask about its sessions.
pub fn unknown_server_risk(server: &Server) -> String {
    format!(
        "server \"{}\" is not a postgres_fdw server, so transactions open there cannot be seen (set a lookback)",
        server.name
    )
}

/// The schema postgres_fdw's functions live in (never resolved through search_path).
fn fdw_schema() -> SyncResult<String> {
    Spi::get_one::<String>(
        "SELECT n.nspname::pg_catalog.text FROM pg_catalog.pg_extension e \
           JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) e.extnamespace \
          WHERE e.extname OPERATOR(pg_catalog.=) 'postgres_fdw'",
    )
    .context("finding postgres_fdw")?
    .ok_or_else(|| {
        error_with_hint(
            PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
            "the postgres_fdw extension is not installed in this database",
            "CREATE EXTENSION postgres_fdw;",
        )
    })
}

/// Whether this transaction holds a connection to `server` open: postgres_fdw_disconnect
/// closes the cached connections nobody uses (the run then opens a fresh one, with a fresh
/// snapshot) and leaves, with a warning, one this transaction is using.
fn used_in_this_transaction(fdw: &str, server: &Server) -> SyncResult<bool> {
    let schema = quote_ident(fdw);
    // Its warning about a connection in use is this function's answer, not the user's news.
    let quiet = crate::settings::with_settings(&[(c"client_min_messages", c"error")], || {
        Spi::get_one_with_args::<bool>(
            &format!("SELECT {schema}.postgres_fdw_disconnect($1)"),
            &[server.name.clone().into()],
        )
        .context("closing idle connections to the source")
    });
    quiet?;
    Ok(Spi::get_one_with_args::<bool>(
        &format!(
            "SELECT EXISTS (SELECT FROM {schema}.postgres_fdw_get_connections() c \
              WHERE c.server_name OPERATOR(pg_catalog.=) $1)"
        ),
        &[server.name.clone().into()],
    )
    .context("reading postgres_fdw's connections")?
    .unwrap_or(false))
}

/// The first query of the run's remote transaction: the source's sessions, through the
/// server's activity table, on a connection named [`APPLICATION_NAME`].
pub fn read_activity(server: &Server) -> SyncResult<SourceActivity> {
    let table = ensure_activity_table(server)?;
    let in_database = match &server.dbname {
        Some(db) => format!("a.datname OPERATOR(pg_catalog.=) {}", quote_literal(db)),
        None => "true".to_string(),
    };
    let sql = format!(
        "SELECT {now}, {earliest}, \
                pg_catalog.count(*) FILTER (WHERE {in_database} AND a.backend_type OPERATOR(pg_catalog.=) 'client backend' \
                                             AND a.query OPERATOR(pg_catalog.=) '<insufficient privilege>'), \
                pg_catalog.bool_and(a.query IS DISTINCT FROM '<insufficient privilege>') \
           FROM {table} a",
        now = WatermarkKind::Timestamptz.to_text_sql(
            "pg_catalog.max(a.query_start) FILTER (WHERE a.state OPERATOR(pg_catalog.=) 'active')"
        ),
        earliest = WatermarkKind::Timestamptz.to_text_sql(&format!(
            "pg_catalog.min(a.xact_start) FILTER (WHERE {in_database} \
               AND a.application_name IS DISTINCT FROM {app} AND a.backend_type OPERATOR(pg_catalog.<>) 'autovacuum worker')",
            app = quote_literal(APPLICATION_NAME)
        )),
    );
    // The connection opens now (the run closed idle ones): named for insync.
    let row = crate::settings::with_settings(
        &[(c"postgres_fdw.application_name", APPLICATION_NAME_C)],
        || {
            Spi::connect(|client| {
                let rows = client.select(&sql, None, &[])?;
                let row = rows.first();
                Ok::<_, pgrx::spi::Error>((
                    row.get::<String>(1)?,
                    row.get::<String>(2)?,
                    row.get::<i64>(3)?.unwrap_or(0),
                    row.get::<bool>(4)?.unwrap_or(false),
                ))
            })
            .context("reading the source's sessions")
        },
    )?;
    Ok(SourceActivity {
        now: row.0.unwrap_or_default(),
        earliest_open: row.1,
        hidden_sessions: row.2,
        sees_all: row.3,
    })
}

/// The zone the source writes local times in: its TimeZone setting as configured (the value
/// a session there starts with; postgres_fdw's own sessions run in UTC).
pub fn source_timezone(server: &Server) -> SyncResult<String> {
    let table = ensure_mirror(
        server,
        "source_settings",
        "name pg_catalog.text, reset_val pg_catalog.text",
        "pg_settings",
    )?;
    Ok(Spi::get_one::<String>(&format!(
        "SELECT s.reset_val FROM {table} s WHERE s.name OPERATOR(pg_catalog.=) 'TimeZone'"
    ))
    .context("reading the source's TimeZone")?
    .unwrap_or_else(|| "UTC".into()))
}

/// Whether the remote table behind `foreign_table` has a primary key or unique constraint on
/// exactly `keys` (as its information_schema shows it to the mapped role). Then a run needs no
/// latest-row-per-key pass, which for a remote window is a sort of every row it fetched.
pub fn key_unique(
    server: &Server,
    foreign_table: pg_sys::Oid,
    keys: &[String],
) -> SyncResult<bool> {
    let constraints = ensure_mirror(
        server,
        "source_constraints",
        "constraint_schema pg_catalog.text, constraint_name pg_catalog.text, table_schema pg_catalog.text, \
         table_name pg_catalog.text, constraint_type pg_catalog.text",
        "information_schema.table_constraints",
    )?;
    let columns = ensure_mirror(
        server,
        "source_key_columns",
        "constraint_schema pg_catalog.text, constraint_name pg_catalog.text, table_name pg_catalog.text, \
         column_name pg_catalog.text",
        "information_schema.key_column_usage",
    )?;
    let mut sorted = keys.to_vec();
    sorted.sort();
    // The remote name first, so that the filters below are sent to the source as constants.
    let (schema, table) = Spi::get_two_with_args::<String, String>(
        "SELECT coalesce((SELECT pg_catalog.substr(o, 13) FROM pg_catalog.unnest(t.ftoptions) o \
                           WHERE o OPERATOR(pg_catalog.^@) 'schema_name=' LIMIT 1), n.nspname::pg_catalog.text), \
                coalesce((SELECT pg_catalog.substr(o, 12) FROM pg_catalog.unnest(t.ftoptions) o \
                           WHERE o OPERATOR(pg_catalog.^@) 'table_name=' LIMIT 1), c.relname::pg_catalog.text) \
           FROM pg_catalog.pg_foreign_table t \
           JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) t.ftrelid \
           JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace \
          WHERE t.ftrelid OPERATOR(pg_catalog.=) $1",
        &[foreign_table.into()],
    )
    .context("reading the foreign table's options")?;
    let (Some(schema), Some(table)) = (schema, table) else {
        return Ok(false);
    };
    Spi::get_one_with_args::<bool>(
        &format!(
            "SELECT COALESCE(pg_catalog.bool_or(u.columns OPERATOR(pg_catalog.=) $3::pg_catalog.text[]), false) FROM ( \
               SELECT pg_catalog.array_agg(k.column_name ORDER BY k.column_name COLLATE \"C\") AS columns \
                 FROM {constraints} tc JOIN {columns} k \
                   ON k.constraint_schema OPERATOR(pg_catalog.=) tc.constraint_schema \
                  AND k.constraint_name OPERATOR(pg_catalog.=) tc.constraint_name \
                  AND k.table_name OPERATOR(pg_catalog.=) tc.table_name \
                WHERE tc.table_schema OPERATOR(pg_catalog.=) $1 AND tc.table_name OPERATOR(pg_catalog.=) $2 \
                  AND tc.constraint_type OPERATOR(pg_catalog.=) ANY ('{{PRIMARY KEY,UNIQUE}}'::pg_catalog.text[]) \
                GROUP BY tc.constraint_schema, tc.constraint_name) u"
        ),
        &[schema.into(), table.into(), sorted.into()],
    )
    .context("reading the source's unique constraints")
    .map(|unique| unique.unwrap_or(false))
}

fn ensure_activity_table(server: &Server) -> SyncResult<String> {
    ensure_mirror(
        server,
        "source_activity",
        "pid pg_catalog.int4, datname pg_catalog.text, application_name pg_catalog.text, \
         backend_type pg_catalog.text, state pg_catalog.text, xact_start pg_catalog.timestamptz, \
         query_start pg_catalog.timestamptz, query pg_catalog.text",
        "pg_stat_activity",
    )
}

/// `insync.<prefix>_<server oid>`: a catalog view of the source (`<remote>`, in pg_catalog
/// unless it names its schema) as a
/// foreign table, kept by the catalog owner as a member of the extension (so pg_dump leaves
/// it out; it is made again when missing). Readable by every role: each reads it through
/// its own user mapping and sees what its remote role may see.
fn ensure_mirror(server: &Server, prefix: &str, columns: &str, remote: &str) -> SyncResult<String> {
    let name = format!("{prefix}_{}", server.oid.to_u32());
    let qualified = format!("insync.{}", quote_ident(&name));
    let exists = Spi::get_one_with_args::<bool>(
        "SELECT EXISTS (SELECT FROM pg_catalog.pg_class c \
           JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace \
          WHERE n.nspname OPERATOR(pg_catalog.=) 'insync' AND c.relname OPERATOR(pg_catalog.=) $1)",
        &[name.clone().into()],
    )
    .context("looking for insync's foreign table over the source's catalog")?
    .unwrap_or(false);
    if !exists {
        let server_name = quote_ident(&server.name);
        as_catalog_owner(|| {
            let (schema, table) = remote.split_once('.').unwrap_or(("pg_catalog", remote));
            Spi::run(&format!(
                "CREATE FOREIGN TABLE {qualified} ({columns}) \
                 SERVER {server_name} OPTIONS (schema_name {}, table_name {})",
                quote_literal(schema),
                quote_literal(table)
            ))
            .and_then(|_| {
                Spi::run(&format!(
                    "ALTER EXTENSION insync ADD FOREIGN TABLE {qualified}"
                ))
            })
            .and_then(|_| Spi::run(&format!("GRANT SELECT ON {qualified} TO PUBLIC")))
            .and_then(|_| {
                Spi::run(&format!(
                    "COMMENT ON FOREIGN TABLE {qualified} IS {}",
                    quote_literal(&format!(
                        "{remote} of server {}: read by insync runs to bound their windows",
                        server.name
                    ))
                ))
            })
            .context("creating a foreign table over the source's catalog")
        })?;
    }
    Ok(qualified)
}
