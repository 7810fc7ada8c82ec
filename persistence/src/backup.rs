//! Backups of a podium database and their restore into an empty one.
//!
//! - **SQLite**: `VACUUM INTO` writes a consistent, compacted copy of the live database while
//!   the server keeps running (readers and writers carry on; the copy is one read
//!   transaction). Restoring checks the copy (`PRAGMA integrity_check`, a podium schema) and
//!   puts it in place of a database file that does not exist yet.
//! - **PostgreSQL**: `pg_dump --format=custom` (one consistent snapshot, online) and
//!   `pg_restore` into an empty database, in one transaction. With TimescaleDB in the dump,
//!   the restore is wrapped in `timescaledb_pre_restore()` / `timescaledb_post_restore()` as
//!   TimescaleDB's documentation requires. The client tools must be on `PATH` and of the
//!   server's major version or newer.
//!
//! Either way the restored database is migrated afterwards, so a backup taken by an older
//! podium restores into a newer one. Secrets in the database (podium's signing keys, webhook
//! secrets) stay sealed with the `secrets_key` they were sealed with: restore with the same key.

use anyhow::{bail, Context};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use std::path::{Path, PathBuf};
use std::process::Command;

/// What a backup wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub file: PathBuf,
    pub bytes: u64,
    pub format: &'static str,
}

/// Writes a consistent copy of the database at `url` to `file` (which must not exist).
pub async fn backup(url: &str, file: &Path) -> anyhow::Result<Written> {
    if file.exists() {
        bail!(
            "{} exists: a backup never overwrites a file (choose a new name)",
            file.display()
        );
    }
    let format = if is_sqlite(url) {
        let db = crate::connect(url)
            .await
            .context("connecting to the database")?;
        let target = file
            .to_str()
            .context("the backup file's path is not valid UTF-8")?;
        db.execute(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "VACUUM INTO ?",
            [target.into()],
        ))
        .await
        .with_context(|| format!("writing {}", file.display()))?;
        db.close().await.ok();
        "SQLite database"
    } else {
        run_tool(
            Command::new("pg_dump")
                .arg("--format=custom")
                .arg("--no-owner")
                .arg("--file")
                .arg(file)
                .arg("--dbname")
                .arg(url),
            "pg_dump",
        )?;
        "pg_dump custom archive"
    };
    let bytes = std::fs::metadata(file)
        .with_context(|| format!("reading {}", file.display()))?
        .len();
    Ok(Written {
        file: file.to_owned(),
        bytes,
        format,
    })
}

/// Restores the backup `file` into the database at `url`, which must be empty (a SQLite file
/// that does not exist yet, a PostgreSQL database without podium's tables), then migrates it.
pub async fn restore(file: &Path, url: &str) -> anyhow::Result<()> {
    if !file.is_file() {
        bail!("{}: no such backup file", file.display());
    }
    if is_sqlite(url) {
        restore_sqlite(file, url).await?;
    } else {
        restore_postgres(file, url).await?;
    }
    let db = crate::connect(url)
        .await
        .context("connecting to the restored database")?;
    crate::migrate(&db)
        .await
        .context("migrating the restored database")?;
    db.close().await.ok();
    Ok(())
}

async fn restore_sqlite(file: &Path, url: &str) -> anyhow::Result<()> {
    let target = sqlite_path(url)?;
    if target.exists() && std::fs::metadata(&target)?.len() > 0 {
        bail!(
            "{} exists: restore into a new database file (move the old one away first)",
            target.display()
        );
    }
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    // Copied beside the target and checked there (whole, and podium's), then renamed: the
    // database appears whole or not at all, and the backup file itself is never opened for
    // writing.
    let partial = target.with_extension("restoring");
    std::fs::copy(file, &partial).with_context(|| format!("writing {}", partial.display()))?;
    if let Err(e) = check_sqlite(&partial, file).await {
        std::fs::remove_file(&partial).ok();
        return Err(e);
    }
    std::fs::rename(&partial, &target)
        .with_context(|| format!("moving the copy to {}", target.display()))?;
    Ok(())
}

/// Fails unless `copy` (of the backup `file`) is a whole SQLite database of podium's.
async fn check_sqlite(copy: &Path, file: &Path) -> anyhow::Result<()> {
    let not_sqlite = || format!("{} is not a SQLite database", file.display());
    let db = crate::connect(&format!("sqlite://{}?mode=rw", copy.display()))
        .await
        .with_context(not_sqlite)?;
    let check = scalar(&db, DbBackend::Sqlite, "PRAGMA integrity_check")
        .await
        .with_context(not_sqlite)?;
    if check.as_deref() != Some("ok") {
        bail!(
            "{} is damaged: integrity check says {}",
            file.display(),
            check.unwrap_or_default()
        );
    }
    let podium = is_podium(&db, DbBackend::Sqlite, file).await;
    db.close().await.ok();
    podium
}

async fn restore_postgres(file: &Path, url: &str) -> anyhow::Result<()> {
    let db = crate::connect(url)
        .await
        .context("connecting to the database")?;
    let tables = scalar(
        &db,
        DbBackend::Postgres,
        "SELECT count(*)::text FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_name = 'seaql_migrations'",
    )
    .await?;
    if tables.as_deref() != Some("0") {
        bail!("the database already holds podium's tables: restore into a new, empty database");
    }
    let listing = Command::new("pg_restore")
        .arg("--list")
        .arg(file)
        .output()
        .map_err(|e| tool_missing("pg_restore", e))?;
    if !listing.status.success() {
        bail!(
            "{} is not a pg_dump custom archive: {}",
            file.display(),
            String::from_utf8_lossy(&listing.stderr).trim()
        );
    }
    let timescale = String::from_utf8_lossy(&listing.stdout).contains("EXTENSION - timescaledb");
    if timescale {
        db.execute_unprepared(
            "CREATE EXTENSION IF NOT EXISTS timescaledb; SELECT timescaledb_pre_restore();",
        )
        .await
        .context("preparing TimescaleDB for the restore (is the extension installed?)")?;
    }
    let restored = run_tool(
        Command::new("pg_restore")
            .arg("--no-owner")
            .arg("--exit-on-error")
            .arg(if timescale {
                "--jobs=1"
            } else {
                "--single-transaction"
            })
            .arg("--dbname")
            .arg(url)
            .arg(file),
        "pg_restore",
    );
    if timescale {
        db.execute_unprepared("SELECT timescaledb_post_restore();")
            .await
            .context("finishing TimescaleDB's restore")?;
    }
    db.close().await.ok();
    restored
}

/// Fails unless the database has podium's migration table.
async fn is_podium(db: &DatabaseConnection, backend: DbBackend, file: &Path) -> anyhow::Result<()> {
    let found = scalar(
        db,
        backend,
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'seaql_migrations'",
    )
    .await?;
    if found.as_deref() != Some("1") {
        bail!(
            "{} is not a podium database (no migrations table)",
            file.display()
        );
    }
    Ok(())
}

/// The first column of the first row, as text.
async fn scalar(
    db: &DatabaseConnection,
    backend: DbBackend,
    sql: &str,
) -> anyhow::Result<Option<String>> {
    let row = db
        .query_one(Statement::from_string(backend, sql.to_owned()))
        .await?;
    let Some(row) = row else { return Ok(None) };
    if let Ok(text) = row.try_get_by_index::<String>(0) {
        return Ok(Some(text));
    }
    Ok(row.try_get_by_index::<i64>(0).ok().map(|n| n.to_string()))
}

fn is_sqlite(url: &str) -> bool {
    url.starts_with("sqlite:")
}

/// The file a `sqlite://path?…` URL names.
fn sqlite_path(url: &str) -> anyhow::Result<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .context("not a SQLite URL")?;
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        bail!("{url}: restore needs a database file");
    }
    Ok(PathBuf::from(path))
}

fn run_tool(command: &mut Command, name: &str) -> anyhow::Result<()> {
    let output = command.output().map_err(|e| tool_missing(name, e))?;
    if !output.status.success() {
        bail!(
            "{name} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

fn tool_missing(name: &str, e: std::io::Error) -> anyhow::Error {
    anyhow::anyhow!(
        "cannot run {name} ({e}): install PostgreSQL's client tools, of the server's major \
         version or newer (Debian: postgresql-client); see docs/operations.md"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sqlite_url_names_its_file() {
        assert_eq!(
            sqlite_path("sqlite:///var/podium/podium.db?mode=rwc").unwrap(),
            PathBuf::from("/var/podium/podium.db")
        );
        assert_eq!(
            sqlite_path("sqlite:data/p.db").unwrap(),
            PathBuf::from("data/p.db")
        );
        assert!(sqlite_path("sqlite::memory:").is_err());
    }
}
