//! One connection type for the three databases, the r2d2 manager that opens
//! them by URL, and the per-connection session settings.

#[cfg(feature = "mysql")]
use diesel::MysqlConnection;
use diesel::connection::SimpleConnection;
use diesel::r2d2::{CustomizeConnection, ManageConnection, R2D2Connection};
use diesel::{Connection, PgConnection, SqliteConnection};
use std::time::Duration;

/// Any of the supported databases. SQLite comes last: it accepts any path.
#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Postgresql(PgConnection),
    #[cfg(feature = "mysql")]
    Mysql(MysqlConnection),
    Sqlite(SqliteConnection),
}

impl std::fmt::Debug for AnyConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self {
            Self::Postgresql(_) => Backend::Postgres,
            #[cfg(feature = "mysql")]
            Self::Mysql(_) => Backend::Mysql,
            Self::Sqlite(_) => Backend::Sqlite,
        };
        f.debug_tuple("AnyConnection").field(&kind).finish()
    }
}

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Mysql,
    Sqlite,
}

/// A database URL split into its backend and what that backend's driver takes.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub backend: Backend,
    /// The URL or path as the driver takes it.
    pub driver_url: String,
    /// MySQL over TCP: what its sockets get (`super::keepalive`); libpq
    /// takes the same in the URL.
    pub mysql_socket: Option<MysqlSocket>,
}

/// A MySQL connection over TCP: the server's port, the keepalive idle time
/// its sockets get, and how long making one may take (libpq's
/// `connect_timeout`, which the MySQL client library does not bound once
/// its TCP connect is made).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MysqlSocket {
    pub port: u16,
    pub keepalive: Duration,
    pub connect_limit: Duration,
}

/// The port of `mysql://[user[:password]@]host[:port][/db][?...]`, or `None`
/// for a Unix socket.
fn mysql_port(url: &str) -> Option<u16> {
    let rest = url.strip_prefix("mysql://")?;
    if rest.contains("unix_socket=") {
        return None;
    }
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let port = match host_port.rsplit_once(']') {
        // [IPv6]:port
        Some((_, tail)) => tail.strip_prefix(':'),
        None => host_port.rsplit_once(':').map(|(_, p)| p),
    };
    match port {
        Some(p) => p.parse().ok(),
        None => Some(3306),
    }
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // URLs can carry passwords: show the backend only.
        f.debug_struct("Target")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Target {
    /// `sqlite://PATH`, `postgres://...` / `postgresql://...`, `mysql://...`.
    /// `keepalive` is the TCP idle time before keepalive probes (zero: the
    /// system's); a parameter the URL sets itself is left as it is.
    pub fn parse(
        url: &str,
        connect_timeout: Duration,
        keepalive: Duration,
    ) -> Result<Self, String> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err("sqlite:// needs a file path, as in sqlite://tenure.db".into());
            }
            return Ok(Self {
                backend: Backend::Sqlite,
                driver_url: path.to_owned(),
                mysql_socket: None,
            });
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            // libpq's own connect timeout, so an unreachable host fails fast;
            // keepalives, so a connection to a host that vanished (no RST,
            // no FIN) fails instead of waiting for ever (T3, M6).
            let idle = keepalive.as_secs();
            let mut params = vec![("connect_timeout", connect_timeout.as_secs().max(1))];
            if idle > 0 {
                params.extend([
                    ("keepalives", 1),
                    ("keepalives_idle", idle),
                    ("keepalives_interval", (idle / 3).max(1)),
                    ("keepalives_count", 3),
                    ("tcp_user_timeout", idle.saturating_mul(2000)),
                ]);
            }
            let mut driver_url = url.to_owned();
            for (name, value) in params {
                if !url.contains(&format!("{name}=")) {
                    let sep = if driver_url.contains('?') { '&' } else { '?' };
                    driver_url = format!("{driver_url}{sep}{name}={value}");
                }
            }
            return Ok(Self {
                backend: Backend::Postgres,
                driver_url,
                mysql_socket: None,
            });
        }
        if url.starts_with("mysql://") {
            if !cfg!(feature = "mysql") {
                return Err("this build has no MySQL support; build it with the \
                     `mysql` cargo feature (docs/operations.md)"
                    .into());
            }
            return Ok(Self {
                backend: Backend::Mysql,
                driver_url: url.to_owned(),
                mysql_socket: mysql_port(url).map(|port| MysqlSocket {
                    port,
                    keepalive,
                    connect_limit: connect_timeout,
                }),
            });
        }
        Err("database URL must start with sqlite://, postgres://, postgresql:// or mysql://".into())
    }
}

/// Creates a SQLite database file that does not exist yet with mode 0600,
/// before SQLite opens it: it holds the license and every host's facts, and
/// SQLite gives its `-wal` and `-shm` files the database file's mode. An
/// existing file is left as it is, with a warning when others may read it.
/// `:memory:` and `file:` URIs are SQLite's to open.
pub(crate) fn private_sqlite_file(path: &str) -> Result<(), String> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    if path == ":memory:" || path.starts_with("file:") {
        return Ok(());
    }
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
    match created {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            if let Ok(meta) = std::fs::metadata(path) {
                let mode = meta.permissions().mode() & 0o7777;
                if mode & 0o077 != 0 {
                    tracing::warn!(
                        path,
                        "the SQLite database is open to other users (mode {mode:04o}); run `chmod 600` on it and its -wal and -shm files"
                    );
                }
            }
            Ok(())
        }
        Err(e) => Err(format!("cannot create the SQLite database {path}: {e}")),
    }
}

/// Opens connections of one backend for r2d2. Unlike diesel's generic
/// `ConnectionManager` it never tries the wrong driver on a URL.
#[derive(Debug)]
pub(crate) struct AnyManager {
    pub target: Target,
}

/// A pooled connection, and whether a statement on it found the database
/// gone: the pool then closes it rather than hand it out again. The pool
/// does not test connections on checkout (a round trip per transaction);
/// a transaction whose BEGIN finds its connection dead runs again on
/// another (`DieselStore::transaction`).
pub(crate) struct Pooled {
    pub(crate) conn: AnyConnection,
    pub(crate) gone: bool,
}

impl ManageConnection for AnyManager {
    type Connection = Pooled;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<Pooled, Self::Error> {
        let url = &self.target.driver_url;
        let conn = match self.target.backend {
            Backend::Postgres => PgConnection::establish(url).map(AnyConnection::Postgresql),
            #[cfg(feature = "mysql")]
            Backend::Mysql => match self.target.mysql_socket {
                Some(socket) => {
                    super::keepalive::connect_bounded(socket, || MysqlConnection::establish(url))
                }
                None => MysqlConnection::establish(url),
            }
            .map(AnyConnection::Mysql),
            // `Target::parse` refuses mysql:// URLs in a build without MySQL.
            #[cfg(not(feature = "mysql"))]
            Backend::Mysql => Err(diesel::ConnectionError::BadConnection(
                "this build has no MySQL support".into(),
            )),
            Backend::Sqlite => SqliteConnection::establish(url).map(AnyConnection::Sqlite),
        };
        let conn = conn.map_err(diesel::r2d2::Error::ConnectionError)?;
        Ok(Pooled { conn, gone: false })
    }

    fn is_valid(&self, pooled: &mut Pooled) -> Result<(), Self::Error> {
        pooled.conn.ping().map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, pooled: &mut Pooled) -> bool {
        std::thread::panicking() || pooled.gone || pooled.conn.is_broken()
    }
}

/// Session settings every new connection gets before first use.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SessionSetup {
    /// SQLite's wait for the write lock before it answers BUSY.
    pub sqlite_busy_timeout: Duration,
    /// The server's bound on each statement; zero leaves its default.
    pub statement_timeout: Duration,
}

/// How long the server lets a session sit idle (in a transaction, or at
/// all) before it ends it, for a statement timeout `t`. A connection whose
/// query the network lost waits for an answer that never comes; the
/// server ending the session is what tells it (its FIN), so it fails and
/// the pool replaces it. The pool's own idle connections pay for this
/// with a reconnect now and then.
fn idle_limits(t: Duration) -> (Duration, Duration) {
    (t * 2, t * 6)
}

impl SessionSetup {
    fn sql(&self, backend: Backend) -> String {
        match backend {
            // Epoch milliseconds do not depend on the zone; UTC keeps
            // timestamps in logs and ad-hoc queries unambiguous.
            // Custom plans: a generic plan cannot see that a deadline bound
            // leaves few rows, and planned a parallel sort of a large pool.
            Backend::Postgres => {
                let mut sql =
                    "SET TIME ZONE 'UTC'; SET plan_cache_mode = force_custom_plan".to_owned();
                let t = self.statement_timeout;
                if !t.is_zero() {
                    let (in_tx, _) = idle_limits(t);
                    sql.push_str(&format!(
                        "; SET statement_timeout = {}; SET idle_in_transaction_session_timeout = {}",
                        t.as_millis(),
                        in_tx.as_millis()
                    ));
                }
                sql
            }
            // InnoDB's REPEATABLE READ would give a transaction that waited
            // for the pool row a snapshot older than the grants it must count.
            Backend::Mysql => {
                let mut sql = "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED; \
                     SET SESSION time_zone = '+00:00'"
                    .to_owned();
                let t = self.statement_timeout;
                if !t.is_zero() {
                    let (_, idle) = idle_limits(t);
                    sql.push_str(&format!(
                        "; SET SESSION innodb_lock_wait_timeout = {}; SET SESSION wait_timeout = {}",
                        t.as_secs().max(1),
                        idle.as_secs().max(1)
                    ));
                }
                sql
            }
            // A busy timeout so writers queue instead of failing, FULL so a
            // commit survives power loss (M4); WAL follows (`sqlite_wal`).
            Backend::Sqlite => format!(
                "PRAGMA busy_timeout = {}; PRAGMA synchronous = FULL;",
                self.sqlite_busy_timeout.as_millis()
            ),
        }
    }
}

impl CustomizeConnection<Pooled, diesel::r2d2::Error> for SessionSetup {
    fn on_acquire(&self, pooled: &mut Pooled) -> Result<(), diesel::r2d2::Error> {
        let conn = &mut pooled.conn;
        let backend = match conn {
            AnyConnection::Postgresql(_) => Backend::Postgres,
            #[cfg(feature = "mysql")]
            AnyConnection::Mysql(_) => Backend::Mysql,
            AnyConnection::Sqlite(_) => Backend::Sqlite,
        };
        conn.batch_execute(&self.sql(backend))
            .map_err(diesel::r2d2::Error::QueryError)?;
        if backend == Backend::Sqlite {
            sqlite_wal(conn, self.sqlite_busy_timeout).map_err(diesel::r2d2::Error::QueryError)?;
        }
        let t = self.statement_timeout;
        if !t.is_zero() {
            // Each of these exists on some servers only (PostgreSQL 14+,
            // MariaDB, MySQL 5.7.8+): one that is missing is skipped.
            let (_, idle) = idle_limits(t);
            let optional = match backend {
                Backend::Postgres => {
                    vec![format!("SET idle_session_timeout = {}", idle.as_millis())]
                }
                Backend::Mysql => vec![
                    format!("SET SESSION max_statement_time = {}", t.as_secs_f64()),
                    format!("SET SESSION max_execution_time = {}", t.as_millis()),
                ],
                Backend::Sqlite => Vec::new(),
            };
            for sql in optional {
                if let Err(e) = conn.batch_execute(&sql) {
                    tracing::debug!(%sql, error = %e, "session setting not supported; skipped");
                }
            }
        }
        Ok(())
    }
}

/// Puts the database in WAL mode, for concurrent readers. The mode is kept
/// in the file, so only the first connection to a new database switches
/// it, and switching takes the file's lock: SQLite answers BUSY at once,
/// without waiting its busy timeout, to a connection that could otherwise
/// deadlock with another switching at the same time (every connection a
/// pool opens at once on a new database). Such an answer is retried, with
/// pauses that add up to the busy timeout (counted, not read from a clock:
/// the store reads none).
fn sqlite_wal(conn: &mut AnyConnection, patience: Duration) -> diesel::QueryResult<()> {
    const PAUSE: Duration = Duration::from_millis(5);
    let mut left = patience.as_millis() / PAUSE.as_millis();
    loop {
        match conn.batch_execute("PRAGMA journal_mode = WAL;") {
            Err(e) if super::errors::classify(&e) == super::errors::Class::Retry && left > 0 => {
                left -= 1;
                std::thread::sleep(PAUSE);
            }
            done => return done,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Barrier};

    /// Connections that a pool opens at once on a new database each get
    /// their session: the first to switch it to WAL holds its lock, and the
    /// others wait for it instead of failing with "database is locked".
    /// Each then runs in WAL with FULL sync, so a commit survives power
    /// loss (M4).
    #[test]
    fn sqlite_sessions_opened_at_once_wait_for_the_wal_switch() {
        const AT_ONCE: usize = 8;
        let setup = SessionSetup {
            sqlite_busy_timeout: Duration::from_secs(10),
            statement_timeout: Duration::ZERO,
        };
        for _ in 0..5 {
            let dir = tempfile::tempdir().expect("a temporary directory");
            let url = dir.path().join("new.db").to_string_lossy().into_owned();
            let start = Arc::new(Barrier::new(AT_ONCE));
            let sessions: Vec<_> = (0..AT_ONCE)
                .map(|_| {
                    let (url, start) = (url.clone(), Arc::clone(&start));
                    std::thread::spawn(move || {
                        let conn =
                            SqliteConnection::establish(&url).map_err(|e| format!("open: {e}"))?;
                        let mut pooled = Pooled {
                            conn: AnyConnection::Sqlite(conn),
                            gone: false,
                        };
                        start.wait();
                        setup
                            .on_acquire(&mut pooled)
                            .map_err(|e| format!("setup: {e}"))?;
                        let AnyConnection::Sqlite(conn) = &mut pooled.conn else {
                            return Err("not SQLite".to_owned());
                        };
                        Ok(pragmas(conn))
                    })
                })
                .collect();
            for session in sessions {
                let set_up = session.join().expect("the session's thread");
                // synchronous 2 is FULL.
                assert_eq!(set_up, Ok(("wal".to_owned(), 2)));
            }
        }
    }

    /// The session's journal mode and synchronous level, as SQLite reports them.
    fn pragmas(conn: &mut SqliteConnection) -> (String, i32) {
        use diesel::RunQueryDsl;
        use diesel::sql_types::{Integer, Text};
        #[derive(diesel::QueryableByName)]
        struct Mode {
            #[diesel(sql_type = Text)]
            journal_mode: String,
        }
        #[derive(diesel::QueryableByName)]
        struct Sync {
            #[diesel(sql_type = Integer)]
            synchronous: i32,
        }
        let mode: Mode = diesel::sql_query("PRAGMA journal_mode")
            .get_result(conn)
            .expect("the journal mode");
        let sync: Sync = diesel::sql_query("PRAGMA synchronous")
            .get_result(conn)
            .expect("the synchronous level");
        (mode.journal_mode, sync.synchronous)
    }
}
