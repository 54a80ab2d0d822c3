//! The demo's upstream: one port answering HTTP/1.1, HTTP/2 and gRPC (`demo.Greeter`).

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Request, Response, header};
use http_body_util::{BodyExt, Either, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

type GrpcBody =
    StreamBody<futures_util::stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, Infallible>>>>;
type Body = Either<Full<Bytes>, GrpcBody>;

/// Serves until the process exits.
pub async fn serve(listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let svc = service_fn(handle);
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

async fn handle(req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let grpc = req
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
    if grpc {
        let path = req.uri().path().to_owned();
        let body = req
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        return Ok(grpc_reply(&path, &body));
    }
    let text = format!(
        "hello from upstream: {} {}\n",
        req.method(),
        req.uri().path()
    );
    Ok(Response::new(Either::Left(Full::new(Bytes::from(text)))))
}

/// Answers `SayHello{name}` with `HelloReply{"Hello " + name}` (field 1, length-delimited).
fn grpc_reply(path: &str, body: &[u8]) -> Response<Body> {
    let name = decode_string_field(body.get(5..).unwrap_or_default()).unwrap_or_default();
    let message = format!("Hello {name} (via {path})");
    let mut msg = BytesMut::new();
    msg.put_u8(0x0a);
    msg.put_u8(message.len().min(127) as u8);
    msg.put_slice(&message.as_bytes()[..message.len().min(127)]);
    let mut frame = BytesMut::new();
    frame.put_u8(0);
    frame.put_u32(msg.len() as u32);
    frame.put_slice(&msg);
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from_static("0"));
    let frames = vec![
        Ok(Frame::data(frame.freeze())),
        Ok(Frame::trailers(trailers)),
    ];
    let mut resp = Response::new(Either::Right(StreamBody::new(futures_util::stream::iter(
        frames,
    ))));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    resp
}

/// Field 1 of a protobuf message, when it is a short length-delimited string.
pub fn decode_string_field(msg: &[u8]) -> Option<String> {
    if msg.first() != Some(&0x0a) {
        return None;
    }
    let len = *msg.get(1)? as usize;
    let bytes = msg.get(2..2 + len)?;
    String::from_utf8(bytes.to_vec()).ok()
}
