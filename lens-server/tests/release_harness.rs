//! What the release tests share: a small real tree and its bundle, a state
//! store with a candidate cut, a server process, and HTTP/1.1 by hand.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use lens_core::release::{StateRead, read};

use crate::common::{index, lens, run, write};

/// A small real tree, its bundle, a store with a candidate cut at 0%.
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub bundle: PathBuf,
}

impl Setup {
    pub fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("proj");
        for i in 0..30 {
            write(
                &src,
                &format!("src/m{i}.rs"),
                format!(
                    "pub fn handler_{i}() -> u32 {{ needle_{}() + {i} }}\npub fn needle_{i}() -> u32 {{ {i} }}\n",
                    (i + 1) % 30
                )
                .as_bytes(),
            );
        }
        let bundle = dir.path().join("bundle");
        index(&[&src], &bundle, &["--bundle-version", "1.0.0"]);
        Setup { dir, bundle }
    }

    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn config(&self, port: u16) -> PathBuf {
        let p = self.dir.path().join("lens.toml");
        std::fs::write(
            &p,
            format!(
                "listen = \"127.0.0.1:{port}\"\npolicy = \"permissive\"\naudit_log = \"{}\"\n\
                 [limits]\nrequests_per_second = 100000\nburst = 100000\n\
                 [canary]\nsoak_seconds = [0, 0, 0]\nauto_progress = [false, false, false]\n\
                 [validation]\nnightly_at = \"\"\n",
                self.dir.path().join("audit.jsonl").display()
            ),
        )
        .unwrap();
        p
    }

    pub fn serve(&self) -> Server {
        let port = free_port();
        serve_with(self, &self.config(port), port)
    }

    /// A server whose candidate 1.1.0-rc.1 (cut by the CLI) serves its first stage.
    pub fn serve_candidate_at_first_stage(&self) -> Server {
        let server = self.serve();
        let o = self.cli(&["cut-rc", "--version", "1.1.0-rc.1"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        // The server notices the new candidate within a second.
        std::thread::sleep(Duration::from_millis(1500));
        let (status, body) = http(server.port, "POST", "/canary/progress", "", &[]);
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["canary_deployment"]["candidate_loaded"], true, "{body}");
        server
    }

    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        let state = self.state();
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--state", state.to_str().unwrap()]);
        run(&all)
    }
}

pub struct Server {
    pub child: Child,
    pub port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP/1.1 request; (status, body). Status 0 when the server is gone.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    if s.write_all(req.as_bytes()).is_err() {
        return (0, String::new());
    }
    let mut out = String::new();
    if s.read_to_string(&mut out).is_err() {
        return (0, String::new());
    }
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or(("", ""));
    let chunked = head
        .lines()
        .any(|l| l.eq_ignore_ascii_case("transfer-encoding: chunked"));
    (
        status,
        if chunked {
            dechunk(body)
        } else {
            body.to_string()
        },
    )
}

/// The body of a chunked HTTP/1.1 response.
pub fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].strip_prefix("\r\n").unwrap_or(&after[n..]);
    }
    out
}

pub fn generation_of(body: &str) -> Option<u64> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    v["canary_deployment"]["generation"].as_u64()
}

pub fn file_state(state: &Path) -> lens_core::release::RolloutState {
    match read(&state.join("rollout.json")) {
        StateRead::Ok(s) => *s,
        other => panic!("the state file is not a whole state: {other:?}"),
    }
}

pub fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

pub fn serve_with(s: &Setup, config: &Path, port: u16) -> Server {
    let child = lens()
        .args(["serve", "--model", "none", "--bundle"])
        .arg(&s.bundle)
        .arg("--config")
        .arg(config)
        .arg("--state")
        .arg(s.state())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server { child, port };
    let t = Instant::now();
    while http(port, "GET", "/health", "", &[]).0 != 200 {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "server did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    server
}
