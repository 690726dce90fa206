//! The HTTP side of `serve`: one task per connection (TLS handshake, hyper's HTTP/1,
//! bounds on time and size, its place in [`Connections`](super::connections)), and the
//! request handler: basic auth, GET/HEAD of `/metrics`, the format and encoding asked.

use std::{convert::Infallible, sync::Arc, time::Duration};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request, Response, StatusCode, body::Incoming, header};
use hyper_util::{rt::TokioIo, server::graceful::Watcher};

use super::{connections::Admitted, scrape::Exporter};

/// How long one connection may live, from accept to close, whatever it does: a client
/// that never reads its reply cannot hold a connection (and its body) for ever.
const CONNECTION_DEADLINE: Duration = Duration::from_secs(60);
/// How long a client has to send its request headers, and to finish a TLS handshake.
const HANDSHAKE_AND_HEADERS: Duration = Duration::from_secs(10);
/// The most of a request (line and headers) read into memory: a scraper's request is a
/// few hundred bytes. Past it, the request is answered 431.
const REQUEST_BUFFER: usize = 16 << 10;

/// Serves one accepted connection in a task of its own, until it closes, its deadline
/// passes or it is evicted to make room for another.
pub(super) fn spawn(
    stream: tokio::net::TcpStream,
    admitted: Admitted,
    exporter: Arc<Exporter>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    watcher: Watcher,
) {
    let admitted = Arc::new(admitted);
    let service = hyper::service::service_fn({
        let admitted = admitted.clone();
        move |req| {
            let busy = admitted.busy();
            let reply = handle(req, exporter.clone());
            async move {
                let reply = reply.await;
                drop(busy);
                reply
            }
        }
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    // A client that never finishes its request headers is let go. One that shuts its
    // side after the request (`printf ... | nc`) still gets the reply.
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HANDSHAKE_AND_HEADERS)
        .half_close(true)
        // A scrape's request is well under 1 KiB; hyper would buffer 400.
        .max_buf_size(REQUEST_BUFFER);
    tokio::spawn(async move {
        let served = async {
            match tls {
                None => {
                    let _ = watcher
                        .watch(http.serve_connection(TokioIo::new(stream), service))
                        .await;
                }
                Some(acceptor) => {
                    // The handshake runs in the connection's task: a slow client holds
                    // up nobody else. Plain HTTP fails it and is closed.
                    let Ok(Ok(stream)) =
                        tokio::time::timeout(HANDSHAKE_AND_HEADERS, acceptor.accept(stream)).await
                    else {
                        return;
                    };
                    let _ = watcher
                        .watch(http.serve_connection(TokioIo::new(stream), service))
                        .await;
                }
            }
        };
        tokio::select! {
            _ = tokio::time::timeout(CONNECTION_DEADLINE, served) => {}
            () = admitted.evicted() => {}
        }
    });
}

async fn handle(
    req: Request<Incoming>,
    exporter: Arc<Exporter>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if exporter.auth.is_some() {
        let header = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let Ok(permit) = exporter.password_checks.clone().try_acquire_owned() else {
            return Ok(Response::builder()
                .status(StatusCode::SERVICE_UNAVAILABLE)
                .header(header::RETRY_AFTER, "1")
                .body(Full::from("too many password checks at once\n"))
                .expect("a valid response"));
        };
        let ex = exporter.clone();
        let allowed = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            ex.auth
                .as_ref()
                .is_some_and(|a| a.allows(header.as_deref()))
        })
        .await
        .unwrap_or(false);
        if !allowed {
            return Ok(Response::builder()
                .status(StatusCode::UNAUTHORIZED)
                .header(header::WWW_AUTHENTICATE, "Basic realm=\"wl\"")
                .body(Full::from("Unauthorized\n"))
                .expect("a valid response"));
        }
    }
    let reply = |status: StatusCode, kind: &str, body: Bytes| {
        Ok(Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, kind)
            .body(Full::new(body))
            .expect("a valid response"))
    };
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "only GET\n".into(),
        );
    }
    match req.uri().path() {
        "/metrics" => {
            let openmetrics = wants_openmetrics(
                req.headers()
                    .get(header::ACCEPT)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or(""),
            );
            let gzip = accepts_gzip(
                req.headers()
                    .get(header::ACCEPT_ENCODING)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or(""),
            );
            // A HEAD shows nothing: it does not use up a removed cgroup's showing.
            let shows = req.method() == Method::GET;
            let ex = exporter.clone();
            let scraped = tokio::task::spawn_blocking(move || {
                let text = ex.scrape(openmetrics, shows, ex.gone_ttl)?;
                Ok::<_, anyhow::Error>(if gzip { compress(&text) } else { text.into() })
            })
            .await;
            match scraped {
                Ok(Ok(body)) => {
                    let mut r = Response::builder().status(StatusCode::OK).header(
                        header::CONTENT_TYPE,
                        if openmetrics {
                            "application/openmetrics-text; version=1.0.0; charset=utf-8"
                        } else {
                            "text/plain; version=0.0.4; charset=utf-8"
                        },
                    );
                    if gzip {
                        r = r.header(header::CONTENT_ENCODING, "gzip");
                    }
                    Ok(r.body(Full::new(body)).expect("a valid response"))
                }
                Ok(Err(e)) => reply(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "text/plain",
                    format!("wl: {e:#}\n").into(),
                ),
                Err(_) => reply(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "text/plain",
                    "wl: the scrape failed\n".into(),
                ),
            }
        }
        "/" => reply(
            StatusCode::OK,
            "text/html; charset=utf-8",
            "<html><head><title>wl exporter</title></head><body><h1>wl exporter</h1>\
             <p>System calls by cgroup and kernel subsystem: <a href=\"/metrics\">/metrics</a></p>\
             </body></html>\n"
                .into(),
        ),
        _ => reply(StatusCode::NOT_FOUND, "text/plain", "not found\n".into()),
    }
}

/// Whether the client takes a gzip body (Prometheus always does). An exposition of
/// many cgroups runs to megabytes of repetitive text, which gzip shrinks tenfold.
fn accepts_gzip(accept_encoding: &str) -> bool {
    accept_encoding.split(',').any(|coding| {
        let mut parts = coding.split(';').map(str::trim);
        let name = parts.next().unwrap_or("");
        let refused = parts.any(|p| {
            p.strip_prefix("q=")
                .and_then(|q| q.parse::<f64>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        name.eq_ignore_ascii_case("gzip") && !refused
    })
}

/// The body gzipped at a fast level: a scrape should not wait on compression.
fn compress(text: &str) -> Bytes {
    use std::io::Write as _;
    let mut gz = flate2::write::GzEncoder::new(
        Vec::with_capacity(text.len() / 8),
        flate2::Compression::fast(),
    );
    // Writing into a Vec cannot fail.
    gz.write_all(text.as_bytes()).expect("gzip into memory");
    gz.finish().expect("gzip into memory").into()
}

/// Whether the `Accept` header asks for OpenMetrics (with a non-zero weight).
fn wants_openmetrics(accept: &str) -> bool {
    accept.split(',').any(|range| {
        let mut parts = range.split(';').map(str::trim);
        let kind = parts.next().unwrap_or("");
        let refused = parts.any(|p| {
            p.strip_prefix("q=")
                .and_then(|q| q.parse::<f64>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        kind.eq_ignore_ascii_case("application/openmetrics-text") && !refused
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openmetrics_only_when_asked() {
        // Prometheus 2.42's header.
        assert!(wants_openmetrics(
            "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
        ));
        assert!(!wants_openmetrics("*/*"));
        assert!(!wants_openmetrics(""));
        assert!(!wants_openmetrics("application/openmetrics-text;q=0"));
    }

    #[test]
    fn gzip_when_accepted() {
        assert!(accepts_gzip("gzip"));
        assert!(accepts_gzip("deflate, gzip;q=0.5"));
        assert!(!accepts_gzip("gzip;q=0"));
        assert!(!accepts_gzip(""));
        let text = "wl_syscalls_total 1\n".repeat(100);
        let mut back = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::GzDecoder::new(&compress(&text)[..]),
            &mut back,
        )
        .unwrap();
        assert_eq!(back, text);
    }
}
