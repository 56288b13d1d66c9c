//! The HTTP/1.1 plumbing of the fake router and the scripted server: a server on its own thread
//! and tokio runtime, so it serves sync and async tests alike and stops on drop; reading one
//! request (bounded head, `Content-Length` body); writing one response.

use std::fmt::Write as _;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::util::{KitError, Result};

/// Bound on a request's head (request line and headers).
const MAX_HEAD: usize = 64 * 1024;
/// Bound on a request's body.
const MAX_BODY: usize = 1024 * 1024;

/// One request as read off the wire.
pub(crate) struct Request {
    pub(crate) method: String,
    /// The request target: path and query, as sent.
    pub(crate) target: String,
    /// Header names as sent; look them up with [`Request::header`].
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Request {
    /// The first header called `name` (any case).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The target without its query.
    pub(crate) fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// The query of the target (after `?`), still percent-encoded.
    pub(crate) fn raw_query(&self) -> &str {
        self.target.split_once('?').map(|(_, q)| q).unwrap_or("")
    }
}

/// Read one request; `None` when the peer closed the connection before one began. A head over
/// 64 KiB or a body over 1 MiB is an error (the caller closes the connection).
pub(crate) async fn read_request<R: AsyncBufRead + Unpin>(
    r: &mut R,
) -> std::io::Result<Option<Request>> {
    let mut head = Vec::new();
    loop {
        let mut line = Vec::new();
        let n = r.read_until(b'\n', &mut line).await?;
        if n == 0 {
            return Ok(None);
        }
        if line == b"\r\n" || line == b"\n" {
            if head.is_empty() {
                continue; // tolerate stray blank lines between requests
            }
            break;
        }
        head.extend_from_slice(&line);
        if head.len() > MAX_HEAD {
            return Err(std::io::Error::other("header too large"));
        }
    }
    let text = String::from_utf8_lossy(&head);
    let mut lines = text.lines();
    let first = lines.next().unwrap_or_default();
    let mut parts = first.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let target = parts.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let len = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    if len > MAX_BODY {
        return Err(std::io::Error::other("body too large"));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).await?;
    Ok(Some(Request {
        method,
        target,
        headers,
        body,
    }))
}

/// The reason phrase of the statuses the fakes answer with.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        411 => "Length Required",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// Write one response with `Content-Type`, `Content-Length`, then `headers`, and
/// `Connection: close` when `close` (the caller then closes the connection).
pub(crate) async fn write_response<W: AsyncWrite + Unpin>(
    w: &mut W,
    status: u16,
    content_type: &str,
    headers: &[(&str, String)],
    body: &[u8],
    close: bool,
) -> std::io::Result<()> {
    let mut out = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n",
        reason(status),
        body.len()
    );
    for (k, v) in headers {
        let _ = write!(out, "{k}: {v}\r\n");
    }
    out.push_str(if close {
        "Connection: close\r\n\r\n"
    } else {
        "\r\n"
    });
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    w.write_all(&bytes).await
}

/// A loopback HTTP server on its own thread and current-thread tokio runtime: every accepted
/// connection is handed to `serve` on a task of its own. Dropping it stops the accept loop and
/// the runtime (which cancels open connections) and joins the thread.
pub(crate) struct HttpServer {
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HttpServer {
    /// Serve on `listener` (already bound); `name` names the thread and errors.
    pub(crate) fn start<F, Fut>(
        name: &str,
        listener: std::net::TcpListener,
        serve: F,
    ) -> Result<HttpServer>
    where
        F: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<std::result::Result<(), String>>();
        let thread = std::thread::Builder::new()
            .name(format!("{name}-fake"))
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(format!("runtime: {e}")));
                        return;
                    }
                };
                rt.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = ready_tx.send(Err(format!("listener: {e}")));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    let mut rx = rx;
                    loop {
                        tokio::select! {
                            _ = &mut rx => break,
                            accepted = listener.accept() => {
                                if let Ok((stream, _)) = accepted {
                                    tokio::spawn(serve(stream));
                                }
                            }
                        }
                    }
                });
                // Dropping the runtime cancels open connections.
            })
            .map_err(|e| KitError(format!("cannot start the {name} fake's thread: {e}")))?;
        match ready_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(KitError(format!("{name} fake: {e}"))),
            Err(_) => return Err(KitError(format!("the {name} fake did not start in 10 s"))),
        }
        Ok(HttpServer {
            addr,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// The listening address.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_and_writes_one_exchange() {
        let wire = b"\r\nPOST /a/b?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\n\r\n";
        let mut r = tokio::io::BufReader::new(&wire[..]);
        let req = read_request(&mut r)
            .await
            .expect("read")
            .expect("a request");
        assert_eq!(
            (req.method.as_str(), req.path(), req.raw_query()),
            ("POST", "/a/b", "x=1")
        );
        assert_eq!(req.header("content-length"), Some("3"));
        assert_eq!(req.body, b"abc");
        let next = read_request(&mut r)
            .await
            .expect("read")
            .expect("a request");
        assert_eq!(next.target, "/");
        assert!(read_request(&mut r).await.expect("read").is_none());

        let mut out = Vec::new();
        write_response(
            &mut out,
            429,
            "text/xml",
            &[("Retry-After", "1".into())],
            b"x",
            true,
        )
        .await
        .expect("write");
        assert_eq!(
            String::from_utf8_lossy(&out),
            "HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/xml\r\nContent-Length: 1\r\n\
             Retry-After: 1\r\nConnection: close\r\n\r\nx"
        );
    }
}
