//! The demo's client calls: HTTP/1.1 and HTTP/2 requests and gRPC unary calls, each on a fresh
//! connection to the sidecar, reporting what the caller saw.

use std::net::SocketAddr;

use bytes::{BufMut, Bytes, BytesMut};
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};

/// One call of the demo.
pub struct Call {
    pub name: &'static str,
    pub kind: Kind,
    pub method: Method,
    pub path: &'static str,
    pub headers: &'static [(&'static str, &'static str)],
    pub expect: &'static str,
}

#[derive(Clone, Copy)]
pub enum Kind {
    Http1,
    Http2,
    Grpc,
}

/// What the client saw: `200`, `403`, `grpc OK`, `grpc PERMISSION_DENIED`, or an error.
pub async fn perform(sidecar: SocketAddr, call: &Call) -> String {
    match run(sidecar, call).await {
        Ok(s) => s,
        Err(e) => format!("error: {e}"),
    }
}

async fn run(
    sidecar: SocketAddr,
    call: &Call,
) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    let stream = TokioIo::new(tokio::net::TcpStream::connect(sidecar).await?);
    let mut builder = Request::builder()
        .method(call.method.clone())
        .header("host", "demo.local");
    for (k, v) in call.headers {
        builder = builder.header(*k, *v);
    }
    match call.kind {
        Kind::Http1 => {
            let (mut tx, conn) = http1::handshake(stream).await?;
            tokio::spawn(conn);
            let req = builder.uri(call.path).body(Full::new(Bytes::new()))?;
            let resp = tx.send_request(req).await?;
            let status = resp.status().as_u16();
            resp.into_body().collect().await?;
            Ok(status.to_string())
        }
        Kind::Http2 => {
            let (mut tx, conn) = http2::handshake(TokioExecutor::new(), stream).await?;
            tokio::spawn(conn);
            let uri = format!("http://demo.local{}", call.path);
            let req = builder.uri(uri).body(Full::new(Bytes::new()))?;
            let resp = tx.send_request(req).await?;
            let status = resp.status().as_u16();
            resp.into_body().collect().await?;
            Ok(status.to_string())
        }
        Kind::Grpc => {
            let (mut tx, conn) = http2::handshake(TokioExecutor::new(), stream).await?;
            tokio::spawn(conn);
            let uri = format!("http://demo.local{}", call.path);
            let req = builder
                .uri(uri)
                .header("content-type", "application/grpc")
                .header("te", "trailers")
                .body(Full::new(hello_request("sockmesh")))?;
            let resp = tx.send_request(req).await?;
            let head_status = resp.headers().get("grpc-status").cloned();
            let collected = resp.into_body().collect().await?;
            let code = head_status
                .or_else(|| {
                    collected
                        .trailers()
                        .and_then(|t| t.get("grpc-status").cloned())
                })
                .and_then(|v| v.to_str().ok().and_then(|s| s.parse::<u32>().ok()));
            Ok(match code {
                Some(0) => "grpc OK".into(),
                Some(7) => "grpc PERMISSION_DENIED".into(),
                Some(c) => format!("grpc status {c}"),
                None => "grpc: no status".into(),
            })
        }
    }
}

/// A length-prefixed gRPC message carrying `HelloRequest{name}`.
fn hello_request(name: &str) -> Bytes {
    let mut msg = BytesMut::new();
    msg.put_u8(0x0a);
    msg.put_u8(name.len() as u8);
    msg.put_slice(name.as_bytes());
    let mut frame = BytesMut::new();
    frame.put_u8(0);
    frame.put_u32(msg.len() as u32);
    frame.put_slice(&msg);
    frame.freeze()
}
