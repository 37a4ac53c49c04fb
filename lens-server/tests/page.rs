//! The web page in headless Chromium (Debian's chromium and chromium-driver),
//! driven through WebDriver: type a query, see highlighted results, open a file
//! from the keyboard.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{index, lens, write};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Minimal HTTP/1.1 JSON client for the WebDriver protocol on loopback.
fn http(port: u16, method: &str, path: &str, body: Option<&Value>) -> Value {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let payload = body.map(|b| b.to_string()).unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}",
        payload.len()
    )
    .unwrap();
    // chromedriver keeps connections open: read the headers, then Content-Length bytes.
    let mut reader = BufReader::new(s);
    let mut length = 0usize;
    let mut status = String::new();
    reader.read_line(&mut status).unwrap();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((_, value)) = line
            .split_once(':')
            .filter(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        {
            length = value.trim().parse().unwrap();
        }
    }
    let mut raw = vec![0u8; length];
    reader.read_exact(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw);
    let body = text.as_ref();
    serde_json::from_str(body)
        .unwrap_or_else(|e| panic!("{method} {path} ({}): {e}: {text}", status.trim()))
}

fn wait_for(mut f: impl FnMut() -> bool, what: &str) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn page_searches_highlights_and_opens_files_from_the_keyboard() {
    for bin in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
        assert!(
            std::path::Path::new(bin).exists(),
            "{bin} is missing: .ci/run and scripts/test.sh install chromium and chromium-driver"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("web");
    write(
        &src,
        "src/app.rs",
        b"fn main() {\n    let greeting = \"hello\";\n    println!(\"{greeting}\");\n}\n",
    );
    write(
        &src,
        "src/util.rs",
        b"pub fn greeting_len(s: &str) -> usize { s.len() }\n",
    );
    let bundle = dir.path().join("bundle");
    index(&[&src], &bundle, &[]);

    let port = free_port();
    let server = Killed(
        lens()
            .args([
                "serve",
                "--bundle",
                bundle.to_str().unwrap(),
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .arg("--audit-log")
            .arg(dir.path().join("audit.jsonl"))
            .arg("--state")
            .arg(dir.path().join("state"))
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut server = server;
    let mut lines = BufReader::new(server.0.stderr.take().unwrap()).lines();
    wait_for(
        || {
            lines
                .next()
                .is_some_and(|l| l.is_ok_and(|l| l.contains("serving")))
        },
        "lens serve",
    );

    let wd = free_port();
    let _driver = Killed(
        Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={wd}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for(
        || TcpStream::connect(("127.0.0.1", wd)).is_ok(),
        "chromedriver",
    );
    let profile = dir.path().join("chromium-profile");
    let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
        "binary": "/usr/bin/chromium",
        "args": ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", format!("--user-data-dir={}", profile.display())]}}}});
    let session = http(wd, "POST", "/session", Some(&caps));
    let sid = session["value"]["sessionId"]
        .as_str()
        .unwrap_or_else(|| panic!("no session: {session}"))
        .to_string();
    // Closing the session ends Chromium even when an assertion fails; killing
    // chromedriver alone would leave the browser running.
    let _session = SessionGuard {
        port: wd,
        id: sid.clone(),
    };
    let s = |p: &str| format!("/session/{sid}{p}");
    let find_all = |css: &str| -> Vec<Value> {
        let v = http(
            wd,
            "POST",
            &s("/elements"),
            Some(&json!({"using": "css selector", "value": css})),
        );
        v["value"].as_array().cloned().unwrap_or_default()
    };

    http(
        wd,
        "POST",
        &s("/url"),
        Some(&json!({"url": format!("http://127.0.0.1:{port}/")})),
    );
    let q = http(
        wd,
        "POST",
        &s("/element"),
        Some(&json!({"using": "css selector", "value": "#q"})),
    );
    let q = q["value"][ELEMENT].as_str().unwrap().to_string();
    http(
        wd,
        "POST",
        &s(&format!("/element/{q}/value")),
        Some(&json!({"text": "greeting\u{E007}"})),
    );

    let mut marks = Vec::new();
    wait_for(
        || {
            marks = find_all("#results mark");
            marks.len() >= 3
        },
        "highlighted results",
    );
    for m in &marks {
        let id = m[ELEMENT].as_str().unwrap();
        let text = http(wd, "GET", &s(&format!("/element/{id}/text")), None);
        assert_eq!(text["value"], "greeting");
    }
    // Grouped by file: one card per file, its path once, its match count.
    let cards = find_all("#results .hit");
    assert_eq!(cards.len(), 2, "one card per file: {cards:?}");
    let headings: Vec<String> = find_all("#results .hit .loc")
        .iter()
        .map(|e| {
            let id = e[ELEMENT].as_str().unwrap();
            http(wd, "GET", &s(&format!("/element/{id}/text")), None)["value"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let app: Vec<&String> = headings
        .iter()
        .filter(|h| h.contains("src/app.rs"))
        .collect();
    assert_eq!(app.len(), 1, "{headings:?}");
    assert!(app[0].contains("2 matches"), "{headings:?}");
    // Keyboard: ArrowDown selects the first result, Enter opens the file view.
    let keys = json!({"actions": [{"type": "key", "id": "kb", "actions": [
        {"type": "keyDown", "value": "\u{E015}"}, {"type": "keyUp", "value": "\u{E015}"},
        {"type": "keyDown", "value": "\u{E007}"}, {"type": "keyUp", "value": "\u{E007}"}]}]});
    http(wd, "POST", &s("/actions"), Some(&keys));
    wait_for(
        || !find_all("#file tr.focus mark").is_empty(),
        "the file view with the matched line highlighted",
    );
    let anchors = find_all("#file tr[id^='L'] a[href^='#L']");
    assert!(anchors.len() >= 3, "line anchors: {anchors:?}");
}

struct SessionGuard {
    port: u16,
    id: String,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(|| {
            http(self.port, "DELETE", &format!("/session/{}", self.id), None)
        });
    }
}
