//! A loopback HTTP server that answers from a script: each request takes the next scripted
//! reply (or the fallback once the script is used up), and every request is recorded with the
//! time it arrived — for tests of retry policies, which count attempts at the server.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use tokio::io::BufReader;

use crate::http::{HttpServer, read_request, write_response};
use crate::util::Result;

/// One scripted reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptedReply {
    /// Answer with this status, extra headers and body.
    Answer {
        /// HTTP status.
        status: u16,
        /// Extra headers (`Content-Type` is `application/json`, `Content-Length` is set).
        headers: Vec<(String, String)>,
        /// Body.
        body: Vec<u8>,
    },
    /// Read the request, then close the connection without a word (a transport error).
    HangUp,
}

impl ScriptedReply {
    /// Status and body, no extra header.
    pub fn status(status: u16, body: &str) -> Self {
        ScriptedReply::Answer {
            status,
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
        }
    }

    /// Status, one extra header, body.
    pub fn with_header(status: u16, name: &str, value: &str, body: &str) -> Self {
        ScriptedReply::Answer {
            status,
            headers: vec![(name.to_string(), value.to_string())],
            body: body.as_bytes().to_vec(),
        }
    }
}

/// One request the server saw.
#[derive(Debug, Clone)]
pub struct ScriptedRequest {
    /// Method.
    pub method: String,
    /// Path and query as sent.
    pub target: String,
    /// Headers as sent.
    pub headers: Vec<(String, String)>,
    /// When it arrived.
    pub at: Instant,
}

struct State {
    script: VecDeque<ScriptedReply>,
    fallback: ScriptedReply,
    seen: Vec<ScriptedRequest>,
}

/// The running server; stopped on drop.
pub struct ScriptedHttp {
    server: HttpServer,
    state: Arc<Mutex<State>>,
}

impl ScriptedHttp {
    /// Start on a free loopback port; `fallback` answers once the script is used up.
    pub fn start(fallback: ScriptedReply) -> Result<ScriptedHttp> {
        let state = Arc::new(Mutex::new(State {
            script: VecDeque::new(),
            fallback,
            seen: Vec::new(),
        }));
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let shared = state.clone();
        let server = HttpServer::start("scripted", listener, move |stream| {
            let state = shared.clone();
            async move {
                let (r, mut w) = stream.into_split();
                let mut r = BufReader::new(r);
                while let Ok(Some(req)) = read_request(&mut r).await {
                    let reply = {
                        let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
                        st.seen.push(ScriptedRequest {
                            method: req.method.clone(),
                            target: req.target.clone(),
                            headers: req.headers.clone(),
                            at: Instant::now(),
                        });
                        let fallback = st.fallback.clone();
                        st.script.pop_front().unwrap_or(fallback)
                    };
                    match reply {
                        ScriptedReply::HangUp => return,
                        ScriptedReply::Answer {
                            status,
                            headers,
                            body,
                        } => {
                            let h: Vec<(&str, String)> = headers
                                .iter()
                                .map(|(k, v)| (k.as_str(), v.clone()))
                                .collect();
                            if write_response(&mut w, status, "application/json", &h, &body, false)
                                .await
                                .is_err()
                            {
                                return;
                            }
                        }
                    }
                }
            }
        })?;
        Ok(ScriptedHttp { server, state })
    }

    /// Queue replies for the next requests.
    pub fn push(&self, replies: impl IntoIterator<Item = ScriptedReply>) {
        self.lock().script.extend(replies);
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<ScriptedRequest> {
        self.lock().seen.clone()
    }

    /// How many requests came.
    pub fn count(&self) -> usize {
        self.lock().seen.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// `t` as an HTTP date (IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`), for `Retry-After`.
pub fn http_date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // civil_from_days (H. Hinnant)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let wd = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][days.rem_euclid(7) as usize];
    let mon = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][(m - 1) as usize];
    format!(
        "{wd}, {d:02} {mon} {y} {:02}:{:02}:{:02} GMT",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}
