//! Test support: a fresh, migrated database per test. With `TEST_DATABASE_URL` set to a
//! PostgreSQL URL, each call creates a new database on that server (named `podium_test_…`);
//! otherwise a new SQLite file under `$TMPDIR/podium-tests/`, configured like the default
//! deployment (WAL, a pool of connections). Not `sqlite::memory:`: an in-memory database lives
//! in its one connection, and the pool drops a connection whose query was cancelled (an aborted
//! subscription does that), which would silently replace the database with an empty one.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};

/// The database URL for one test: a new PostgreSQL database or a new SQLite file.
pub async fn fresh_database_url() -> anyhow::Result<String> {
    let Some(admin_url) = std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        let dir = std::env::temp_dir().join("podium-tests");
        std::fs::create_dir_all(&dir)?;
        let file = dir.join(format!("{}.db", uuid::Uuid::new_v4().simple()));
        return Ok(format!("sqlite://{}?mode=rwc", file.display()));
    };
    if admin_url.starts_with("sqlite") {
        return Ok(admin_url);
    }
    create_database(&admin_url, "podium_test").await
}

/// Creates a new, empty PostgreSQL database named `<prefix>_<random>` on the server of
/// `admin_url` and returns its URL.
pub async fn create_database(admin_url: &str, prefix: &str) -> anyhow::Result<String> {
    let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
    let admin = crate::connect(admin_url).await?;
    admin
        .execute(Statement::from_string(
            DbBackend::Postgres,
            format!("CREATE DATABASE {name}"),
        ))
        .await?;
    admin.close().await?;
    Ok(with_database(admin_url, &name))
}

/// Drops the database `url` names, on the server of `admin_url` (closing its connections).
pub async fn drop_database(admin_url: &str, url: &str) -> anyhow::Result<()> {
    let path = url.split('?').next().unwrap_or(url);
    let name = path.rsplit('/').next().unwrap_or_default();
    anyhow::ensure!(
        !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
        "not a database created by create_database: {url}"
    );
    let admin = crate::connect(admin_url).await?;
    admin
        .execute(Statement::from_string(
            DbBackend::Postgres,
            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        ))
        .await?;
    admin.close().await?;
    Ok(())
}

/// The `timescaledb` setting the suite runs with: `PODIUM_TIMESCALEDB` (`auto` when unset),
/// so one run of the suite covers TimescaleDB and another plain PostgreSQL on one server.
pub fn timescale_mode() -> crate::timescale::Mode {
    std::env::var("PODIUM_TIMESCALEDB")
        .ok()
        .filter(|v| !v.is_empty())
        .map(|v| v.parse().expect("PODIUM_TIMESCALEDB is auto or off"))
        .unwrap_or_default()
}

/// Whether this run must find TimescaleDB in use on its PostgreSQL databases
/// (`TEST_TIMESCALEDB=required`, which scripts/test sets where the server has it preloaded and
/// `PODIUM_TIMESCALEDB` is not `off`): tests that would otherwise print that they skipped
/// their TimescaleDB part fail instead.
pub fn timescale_required() -> bool {
    std::env::var("TEST_TIMESCALEDB").is_ok_and(|v| v == "required")
}

/// For a test's TimescaleDB-only part: whether `db` is on TimescaleDB. When it is not, says so
/// on standard error (the test's output names what it skipped), or fails where this run
/// requires TimescaleDB.
pub async fn on_timescale(db: &DatabaseConnection, what: &str) -> bool {
    let on = crate::timescale::detections_is_hypertable(db)
        .await
        .expect("asking the database about TimescaleDB");
    if !on {
        assert!(
            !timescale_required(),
            "{what}: this run requires TimescaleDB (TEST_TIMESCALEDB=required) but the database does not use it"
        );
        eprintln!("SKIPPED on this database (no TimescaleDB): {what}");
    }
    on
}

/// A fresh, migrated database connection (TimescaleDB as [`timescale_mode`] says).
pub async fn fresh_database() -> anyhow::Result<DatabaseConnection> {
    let url = fresh_database_url().await?;
    let db = crate::connect(&url).await?;
    crate::prepare_and_migrate(&db, timescale_mode(), Default::default()).await?;
    Ok(db)
}

/// Replaces the database name in a PostgreSQL URL.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map(|i| i + 3).unwrap_or(0);
    let root = match base[authority_start..].find('/') {
        Some(i) => &base[..authority_start + i],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{name}?{q}"),
        None => format!("{root}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_database_name_is_replaced_and_the_query_kept() {
        assert_eq!(
            super::with_database(
                "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable",
                "x"
            ),
            "postgres://postgres@127.0.0.1:5432/x?sslmode=disable"
        );
        assert_eq!(super::with_database("postgres://h", "x"), "postgres://h/x");
    }
}
