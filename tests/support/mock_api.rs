//! Loopback mock of the Anthropic Messages API, so end-to-end tests can run
//! the real Claude Code client offline (`ANTHROPIC_BASE_URL=mock.base_url()`).
//! std + serde_json only; every request is recorded for later assertions.
#![allow(dead_code)] // not every test uses every helper

use serde_json::{Value, json};
use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Reply text until `set_reply` is called.
pub const DEFAULT_REPLY: &str = "mock reply";

/// One request as the mock received it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    /// Path without the query string, e.g. `/v1/messages`.
    pub path: String,
    /// Query string without the `?` (Claude Code sends `beta=true`).
    pub query: Option<String>,
    /// All headers in arrival order, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The `x-api-key` header.
    pub api_key: Option<String>,
    /// The token of `Authorization: Bearer <token>`.
    pub bearer: Option<String>,
    /// The body parsed as JSON; `Value::Null` when empty or not JSON.
    pub body: Value,
    /// The raw body (lossy UTF-8), for plain `contains` checks.
    pub raw_body: String,
    /// When it had come whole.
    pub at: std::time::Instant,
}

impl Recorded {
    /// First header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The credential the request used: `x-api-key`, else the bearer token.
    /// (With `apiKeyHelper` Claude Code sends its key in both headers.)
    pub fn key(&self) -> Option<&str> {
        self.api_key.as_deref().or(self.bearer.as_deref())
    }

    /// The client's session id (`x-claude-code-session-id`).
    pub fn session_id(&self) -> Option<&str> {
        self.header("x-claude-code-session-id")
    }

    /// Whether the body asked for a server-sent-events reply.
    pub fn is_stream(&self) -> bool {
        self.body["stream"] == Value::Bool(true)
    }
}

/// A running mock server; it stops (listener closed, threads joined) on drop.
pub struct MockApi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

struct Shared {
    requests: Mutex<Vec<Recorded>>,
    reply: Mutex<String>,
    /// Tool calls to answer with, one per request, before text replies resume.
    tool_uses: Mutex<VecDeque<(String, Value)>>,
    limited: Mutex<HashSet<String>>,
    /// Keys answered with a plain, retryable 429.
    retryable: Mutex<HashSet<String>>,
    /// When a limit lifts (epoch seconds); an hour from each 429 when unset.
    reset: Mutex<Option<u64>>,
    /// Per key: the five-hour and seven-day windows' use (fractions) that
    /// its replies announce, as the service does for subscriptions.
    usage: Mutex<HashMap<String, (f64, f64)>>,
    stop: AtomicBool,
    next_id: AtomicU64,
    /// A clone of each accepted stream (to shut it down on drop) and its thread.
    conns: Mutex<Vec<(TcpStream, JoinHandle<()>)>>,
}

/// Lock ignoring poison: a panicking test must not cascade into the server.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl MockApi {
    /// Bind a free port on 127.0.0.1 and serve in background threads.
    pub fn start() -> MockApi {
        let listener = TcpListener::bind("127.0.0.1:0").expect("mock API: bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("mock API: local_addr");
        let shared = Arc::new(Shared {
            requests: Mutex::new(Vec::new()),
            reply: Mutex::new(DEFAULT_REPLY.to_string()),
            tool_uses: Mutex::new(VecDeque::new()),
            limited: Mutex::new(HashSet::new()),
            retryable: Mutex::new(HashSet::new()),
            reset: Mutex::new(None),
            usage: Mutex::new(HashMap::new()),
            stop: AtomicBool::new(false),
            next_id: AtomicU64::new(1),
            conns: Mutex::new(Vec::new()),
        });
        let s = Arc::clone(&shared);
        let acceptor = thread::Builder::new()
            .name("mock-api-accept".into())
            .spawn(move || accept_loop(listener, s))
            .expect("mock API: spawn");
        MockApi {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// `http://127.0.0.1:PORT`, for `ANTHROPIC_BASE_URL`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Answers the next Messages request with a call of the tool `name` with
    /// `input` (stop reason `tool_use`); text replies resume after it.
    pub fn push_tool_use(&self, name: impl Into<String>, input: Value) {
        lock(&self.shared.tool_uses).push_back((name.into(), input));
    }

    /// Text of every later assistant reply.
    pub fn set_reply(&self, text: impl Into<String>) {
        *lock(&self.shared.reply) = text.into();
    }

    /// Answer every later request made with this key with a plain 429, as
    /// an API key's rate limit: no usage-limit headers, and the client may
    /// retry it.
    pub fn rate_limit_key_retryable(&self, key: impl Into<String>) {
        lock(&self.shared.retryable).insert(key.into());
    }

    /// The reset time (epoch seconds) every later 429 announces.
    pub fn set_reset(&self, at: u64) {
        *lock(&self.shared.reset) = Some(at);
    }

    /// Answer every later request made with this key (x-api-key or bearer)
    /// with a 429 `rate_limit_error` that Claude Code does not retry.
    pub fn rate_limit_key(&self, key: impl Into<String>) {
        lock(&self.shared.limited).insert(key.into());
    }

    /// Every later reply to this key announces this use of its five-hour
    /// and seven-day windows (fractions: 0.93), which reset in 2 hours and
    /// 3 days: the `anthropic-ratelimit-unified-*` headers.
    pub fn set_usage(&self, key: impl Into<String>, five_hour: f64, seven_day: f64) {
        lock(&self.shared.usage).insert(key.into(), (five_hour, seven_day));
    }

    /// Undo `rate_limit_key`: the key gets normal replies again.
    pub fn clear_rate_limit(&self, key: &str) {
        lock(&self.shared.limited).remove(key);
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.shared.requests).clone()
    }

    /// The `POST /v1/messages` requests so far (any query string).
    pub fn messages_requests(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == "POST" && r.path == "/v1/messages")
            .collect()
    }

    /// Forget the requests recorded so far.
    pub fn clear_requests(&self) {
        lock(&self.shared.requests).clear();
    }
}

impl Drop for MockApi {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept() so the acceptor sees `stop` and exits; if
        // even that fails, leave the thread detached rather than hang the test.
        let woke = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)).is_ok();
        if let Some(h) = self.acceptor.take().filter(|_| woke) {
            let _ = h.join();
        }
        // No more connections can appear now; unblock and join their threads.
        let conns = std::mem::take(&mut *lock(&self.shared.conns));
        for (stream, _) in &conns {
            let _ = stream.shutdown(Shutdown::Both);
        }
        for (_, h) in conns {
            let _ = h.join();
        }
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else {
            thread::sleep(Duration::from_millis(10)); // e.g. EMFILE: don't spin
            continue;
        };
        let Ok(clone) = stream.try_clone() else {
            continue;
        };
        let s = Arc::clone(&shared);
        let Ok(handle) = thread::Builder::new()
            .name("mock-api-conn".into())
            .spawn(move || {
                let _ = serve_conn(stream, &s);
            })
        else {
            continue;
        };
        let mut conns = lock(&shared.conns);
        conns.retain(|(_, h)| !h.is_finished()); // drop closed connections' fds
        conns.push((clone, handle));
    }
}

/// Serve requests on one keep-alive connection until the client closes it.
fn serve_conn(stream: TcpStream, shared: &Shared) -> io::Result<()> {
    // A bound on idle keep-alive connections, so no thread can linger forever.
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    stream.set_write_timeout(Some(Duration::from_secs(30)))?;
    let _ = stream.set_nodelay(true);
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    while let Some((rec, close)) = read_request(&mut reader, &mut out)? {
        let resp = respond(&rec, shared);
        let head_only = rec.method == "HEAD";
        // Record before answering: once the client has its reply, tests see the request.
        lock(&shared.requests).push(rec);
        resp.write_to(&mut out, close, head_only)?;
        if close || shared.stop.load(Ordering::SeqCst) {
            break;
        }
    }
    Ok(())
}

/// Read one request; `None` on a clean EOF. Returns the request and whether
/// the connection must be closed after the response.
fn read_request(
    r: &mut BufReader<TcpStream>,
    out: &mut TcpStream,
) -> io::Result<Option<(Recorded, bool)>> {
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        if !line.trim().is_empty() {
            break; // tolerate stray CRLFs between requests
        }
    }
    let mut parts = line.split_whitespace();
    let (method, target, version) = match (parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(t), Some(v)) => (m.to_string(), t.to_string(), v.to_string()),
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "bad request line",
            ));
        }
    };
    let mut headers = Vec::new();
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let l = line.trim_end_matches(['\r', '\n']);
        if l.is_empty() {
            break;
        }
        if let Some((n, v)) = l.split_once(':') {
            headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let has_token = |name: &str, token: &str| {
        get(name).is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    };
    if has_token("expect", "100-continue") {
        out.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    }
    let body = if has_token("transfer-encoding", "chunked") {
        read_chunked(r)?
    } else if let Some(len) = get("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad content-length"))?;
        let mut buf = vec![0; len];
        r.read_exact(&mut buf)?;
        buf
    } else {
        Vec::new()
    };
    let close = has_token("connection", "close")
        || (version == "HTTP/1.0" && !has_token("connection", "keep-alive"));
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (target, None),
    };
    let api_key = get("x-api-key").map(str::to_string);
    let bearer = get("authorization").and_then(|v| {
        let (scheme, token) = v.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_string())
    });
    let rec = Recorded {
        method,
        path,
        query,
        api_key,
        bearer,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        raw_body: String::from_utf8_lossy(&body).into_owned(),
        headers,
        at: std::time::Instant::now(),
    };
    Ok(Some((rec, close)))
}

fn read_chunked(r: &mut BufReader<TcpStream>) -> io::Result<Vec<u8>> {
    let bad = |m: &str| io::Error::new(io::ErrorKind::InvalidData, m.to_string());
    let mut body = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        // "SIZE[;extensions]\r\n"
        let size = line.trim().split(';').next().unwrap_or("");
        let size = usize::from_str_radix(size.trim(), 16).map_err(|_| bad("bad chunk size"))?;
        if size == 0 {
            break;
        }
        let start = body.len();
        body.resize(start + size, 0);
        r.read_exact(&mut body[start..])?;
        let mut crlf = [0; 2];
        r.read_exact(&mut crlf)?;
        if &crlf != b"\r\n" {
            return Err(bad("chunk not followed by CRLF"));
        }
    }
    // Trailer fields, up to the blank line.
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 || line.trim().is_empty() {
            return Ok(body);
        }
    }
}

struct Response {
    status: u16,
    content_type: &'static str,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

impl Response {
    fn json(status: u16, v: Value) -> Response {
        Response {
            status,
            content_type: "application/json",
            headers: Vec::new(),
            body: v.to_string().into_bytes(),
        }
    }

    /// `head_only` for HEAD requests: a body there would corrupt the next
    /// response on a kept-alive connection (the client sends `HEAD /` at startup).
    fn write_to(&self, out: &mut TcpStream, close: bool, head_only: bool) -> io::Result<()> {
        let reason = match self.status {
            200 => "OK",
            404 => "Not Found",
            429 => "Too Many Requests",
            _ => "Unknown",
        };
        let mut head = format!(
            "HTTP/1.1 {} {reason}\r\ncontent-type: {}\r\ncontent-length: {}\r\nconnection: {}\r\n",
            self.status,
            self.content_type,
            self.body.len(),
            if close { "close" } else { "keep-alive" },
        );
        for (n, v) in &self.headers {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
        head.push_str("\r\n");
        out.write_all(head.as_bytes())?;
        if !head_only {
            out.write_all(&self.body)?;
        }
        out.flush()
    }
}

fn respond(rec: &Recorded, shared: &Shared) -> Response {
    let n = shared.next_id.fetch_add(1, Ordering::SeqCst);
    // Either credential counts: with ANTHROPIC_API_KEY or ANTHROPIC_AUTH_TOKEN in
    // the environment the client sends that in one header and apiKeyHelper's key
    // in the other.
    let made_with = |keys: &Mutex<HashSet<String>>| {
        let set = lock(keys);
        [&rec.api_key, &rec.bearer]
            .into_iter()
            .flatten()
            .any(|k| set.contains(k))
    };
    let (limited, retryable) = (made_with(&shared.limited), made_with(&shared.retryable));
    let mut resp = if retryable {
        Response::json(
            429,
            json!({"type": "error", "error": {
                "type": "rate_limit_error",
                "message": "mock API: too many requests",
            }}),
        )
    } else if limited {
        rate_limited(*lock(&shared.reset))
    } else if rec.method == "POST" && rec.path == "/v1/messages" {
        let block = match lock(&shared.tool_uses).pop_front() {
            Some((name, input)) => Block::ToolUse(name, input),
            None => Block::Text(lock(&shared.reply).clone()),
        };
        message(rec, n, &block)
    } else {
        let msg = format!("mock API: no route for {} {}", rec.method, rec.path);
        Response::json(
            404,
            json!({"type": "error", "error": {"type": "not_found_error", "message": msg}}),
        )
    };
    resp.headers.push(("request-id", format!("req_mock_{n}")));
    let key = [&rec.api_key, &rec.bearer].into_iter().flatten().next();
    if let Some((five, seven)) = key.and_then(|k| lock(&shared.usage).get(k).copied()) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        resp.headers.extend([
            ("anthropic-ratelimit-unified-status", "allowed".into()),
            (
                "anthropic-ratelimit-unified-5h-utilization",
                five.to_string(),
            ),
            (
                "anthropic-ratelimit-unified-5h-reset",
                (now + 7200).to_string(),
            ),
            (
                "anthropic-ratelimit-unified-7d-utilization",
                seven.to_string(),
            ),
            (
                "anthropic-ratelimit-unified-7d-reset",
                (now + 3 * 86400).to_string(),
            ),
        ]);
    }
    resp
}

/// A 429 shaped like a subscription usage limit. `x-should-retry: false`
/// makes the client give up at once instead of retrying with backoff.
fn rate_limited(reset: Option<u64>) -> Response {
    let reset = reset.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            + 3600
    });
    let mut resp = Response::json(
        429,
        json!({"type": "error", "error": {
            "type": "rate_limit_error",
            "message": "mock API: rate limited",
        }}),
    );
    resp.headers = vec![
        ("anthropic-ratelimit-unified-status", "rejected".into()),
        ("anthropic-ratelimit-unified-reset", reset.to_string()),
        // Subscription (OAuth) clients then say "You've hit your session limit".
        (
            "anthropic-ratelimit-unified-representative-claim",
            "five_hour".into(),
        ),
        ("retry-after", "3600".into()),
        ("x-should-retry", "false".into()),
    ];
    resp
}

/// The one content block of a reply.
enum Block {
    Text(String),
    /// A tool call: the tool's name and its input.
    ToolUse(String, Value),
}

/// An assistant message with one block: SSE when the request streams, else JSON.
fn message(rec: &Recorded, n: u64, block: &Block) -> Response {
    let model = rec.body["model"].as_str().unwrap_or("claude-mock");
    let id = format!("msg_mock_{n}");
    // Rough token counts; the client only displays them.
    let input_tokens = rec.raw_body.len() / 4 + 1;
    let (full, start, delta, stop_reason) = match block {
        Block::Text(text) => (
            json!({"type": "text", "text": text}),
            json!({"type": "text", "text": ""}),
            json!({"type": "text_delta", "text": text}),
            "end_turn",
        ),
        Block::ToolUse(name, input) => {
            let tool_id = format!("toolu_mock_{n}");
            (
                json!({"type": "tool_use", "id": tool_id, "name": name, "input": input}),
                json!({"type": "tool_use", "id": tool_id, "name": name, "input": {}}),
                json!({"type": "input_json_delta", "partial_json": input.to_string()}),
                "tool_use",
            )
        }
    };
    let output_tokens = full.to_string().len() / 4 + 1;
    if !rec.is_stream() {
        return Response::json(
            200,
            json!({
                "id": id, "type": "message", "role": "assistant", "model": model,
                "content": [full],
                "stop_reason": stop_reason, "stop_sequence": null,
                "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
            }),
        );
    }
    let events = [
        (
            "message_start",
            json!({"type": "message_start", "message": {
                "id": id, "type": "message", "role": "assistant", "model": model,
                "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": input_tokens, "output_tokens": 1},
            }}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": start}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": delta}),
        ),
        (
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ),
        (
            "message_delta",
            json!({"type": "message_delta",
                   "delta": {"stop_reason": stop_reason, "stop_sequence": null},
                   "usage": {"output_tokens": output_tokens}}),
        ),
        ("message_stop", json!({"type": "message_stop"})),
    ];
    let mut body = String::new();
    for (event, data) in events {
        body.push_str(&format!("event: {event}\ndata: {data}\n\n"));
    }
    Response {
        status: 200,
        content_type: "text/event-stream",
        headers: vec![("cache-control", "no-cache".into())],
        body: body.into_bytes(),
    }
}
