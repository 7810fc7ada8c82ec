//! A throwaway PostgreSQL cluster of a test's own (`initdb` / `pg_ctl` on a free port), for
//! tests that stop the server or need settings the shared one does not have.

use std::path::PathBuf;
use std::process::Command;

/// A PostgreSQL cluster in a temporary directory, stopped and removed on drop.
pub struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    /// Extra `-c name=value` options of every start.
    settings: String,
}

impl Cluster {
    /// Runs a PostgreSQL program as the `postgres` user when we are root (initdb refuses root).
    fn run(&self, program: &str, args: &[&str]) -> std::process::Output {
        let binary = self.bin.join(program);
        let root = Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false);
        let mut command = if root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&binary);
            c
        } else {
            Command::new(&binary)
        };
        command
            .args(args)
            .output()
            .expect("PostgreSQL programs run")
    }

    /// A new cluster, started.
    pub fn create() -> Self {
        Self::create_with(&[])
    }

    /// A new cluster started with extra server settings (`name=value`, as `-c` takes them).
    pub fn create_with(settings: &[&str]) -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL server programs under /usr/lib/postgresql")
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .find(|b| b.join("initdb").exists())
            .expect("initdb");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(format!("podium-pg-{}", uuid::Uuid::new_v4().simple()));
        let settings = settings.iter().map(|s| format!(" -c {s}")).collect();
        let cluster = Self {
            dir,
            bin,
            port,
            settings,
        };
        let out = cluster.run(
            "initdb",
            &[
                "-D",
                cluster.path(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        cluster.start();
        cluster
    }

    fn path(&self) -> &str {
        self.dir.to_str().unwrap()
    }

    pub fn start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off{}",
            self.port,
            self.path(),
            self.settings
        );
        let log = self.dir.join("log");
        let out = self.run(
            "pg_ctl",
            &[
                "-D",
                self.path(),
                "-o",
                &options,
                "-l",
                log.to_str().unwrap(),
                "-w",
                "start",
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Changes the extra settings of the next start.
    pub fn set_settings(&mut self, settings: &[&str]) {
        self.settings = settings.iter().map(|s| format!(" -c {s}")).collect();
    }

    pub fn stop(&self) {
        let out = self.run("pg_ctl", &["-D", self.path(), "-m", "fast", "-w", "stop"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.run("pg_ctl", &["-D", self.path(), "-m", "immediate", "stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
