//! TLS is a transport, not a path: the HTTP paths (the HTTP/1.1 fast path, hyper's HTTP/1.1,
//! the in-task HTTP/2 to HTTP/1.1 path, and hyper's HTTP/2 to HTTP/2) run unchanged over
//! rustls in user space, on both sides of an in-process sidecar, and policy allows and denies
//! as it does on plain TCP. A throwaway certificate; nothing of the identity work.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use sockmesh::harness::TestSidecar;
use sockmesh::transport::{TlsClient, TlsSettings};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

const HOST: &str = "app.local";

struct Tls {
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
}

/// A self-signed certificate for `localhost`, and configurations that serve and trust it.
fn throwaway_tls() -> Tls {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
    let cert: CertificateDer<'static> = made.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.signing_key.serialize_der()));
    // The workspace's one crypto provider (ring) is the process default.
    let server = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .expect("server config");
    let mut roots = RootCertStore::empty();
    roots.add(cert).expect("root");
    let client = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Tls {
        server: Arc::new(server),
        client: Arc::new(client),
    }
}

/// An upstream over TLS, HTTP/1.1 or HTTP/2: answers with the path and `Host` (or
/// `:authority`) it received, and the request body's length.
async fn upstream(tls: &Tls) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let acceptor = TlsAcceptor::from(Arc::clone(&tls.server));
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(stream).await else {
                    return;
                };
                let svc = hyper::service::service_fn(echo);
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

async fn echo(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let host = req
        .uri()
        .authority()
        .map(|a| a.to_string())
        .or_else(|| {
            req.headers()
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_owned)
        })
        .unwrap_or_default();
    let path = req.uri().path().to_owned();
    let body = req.into_body().collect().await?.to_bytes();
    let text = format!("{path} host={host} body={}", body.len());
    Ok(Response::new(Full::new(Bytes::from(text))))
}

fn policy(dir: &std::path::Path, port: u16) -> std::path::PathBuf {
    let path = dir.join("policy.yaml");
    let yaml = format!(
        r#"apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {{ name: tls-seam, namespace: default }}
spec:
  endpointSelector: {{ matchLabels: {{ app: web }} }}
  ingress:
    - toPorts:
        - ports: [{{ port: "{port}", protocol: TCP }}]
          rules:
            http:
              - {{ method: GET, path: "/public/.*" }}
              - {{ method: POST, path: "/upload" }}
"#
    );
    std::fs::write(&path, yaml).expect("write policy");
    path
}

fn config(policy: &std::path::Path, upstream: SocketAddr) -> String {
    format!(
        "workload: {{ name: web, labels: {{ app: web }} }}\n\
         admin: {{ address: 127.0.0.1:0 }}\n\
         policies: [{policy}]\n\
         listeners:\n\
         - {{ name: a-http1, address: 127.0.0.1:0, direction: inbound, protocol: detect, cluster: h1 }}\n\
         - {{ name: b-auto, address: 127.0.0.1:0, direction: inbound, protocol: detect, cluster: auto }}\n\
         clusters:\n\
         - {{ name: h1, endpoints: [{upstream}], protocol: http1 }}\n\
         - {{ name: auto, endpoints: [{upstream}], protocol: auto }}\n",
        policy = policy.display()
    )
}

async fn connect(addr: SocketAddr, tls: &Tls) -> tokio_rustls::client::TlsStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let name = ServerName::try_from("localhost").expect("name");
    TlsConnector::from(Arc::clone(&tls.client))
        .connect(name, tcp)
        .await
        .expect("TLS handshake with the sidecar")
}

/// Status and body text of one request.
type Answer = (StatusCode, String);

async fn read(resp: Response<Incoming>) -> Answer {
    let status = resp.status();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// HTTP/1.1 requests on one TLS connection to the sidecar, in order.
async fn http1(addr: SocketAddr, tls: &Tls, reqs: Vec<Request<BoxBody>>) -> Vec<Answer> {
    let io = TokioIo::new(connect(addr, tls).await);
    let (mut send, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let mut out = Vec::new();
    for req in reqs {
        out.push(read(send.send_request(req).await.expect("response")).await);
    }
    out
}

/// HTTP/2 (prior knowledge) requests on one TLS connection to the sidecar.
async fn http2(addr: SocketAddr, tls: &Tls, paths: &[&str]) -> Vec<Answer> {
    let io = TokioIo::new(connect(addr, tls).await);
    let (mut send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let mut out = Vec::new();
    for path in paths {
        let req = Request::get(format!("https://{HOST}{path}"))
            .body(body(b""))
            .expect("request");
        out.push(read(send.send_request(req).await.expect("response")).await);
    }
    out
}

type BoxBody = http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>;

fn body(bytes: &'static [u8]) -> BoxBody {
    Full::new(Bytes::from_static(bytes)).boxed()
}

/// A body of two frames and no length: sent chunked, which the fast path hands to hyper.
fn chunked_body() -> BoxBody {
    let frames = futures_util::stream::iter([
        Ok::<_, std::convert::Infallible>(Frame::data(Bytes::from_static(b"abc"))),
        Ok(Frame::data(Bytes::from_static(b"defg"))),
    ]);
    StreamBody::new(frames).boxed()
}

fn get(path: &str) -> Request<BoxBody> {
    Request::get(path)
        .header(http::header::HOST, HOST)
        .body(body(b""))
        .expect("request")
}

#[tokio::test(flavor = "current_thread")]
async fn http_paths_run_over_user_space_tls_with_policy() {
    let tls = throwaway_tls();
    let up = upstream(&tls).await;
    let dir = tempdir();
    let policy = policy(&dir, up.port());
    let settings = TlsSettings {
        server: Some(Arc::clone(&tls.server)),
        client: Some(TlsClient {
            config: Arc::clone(&tls.client),
            server_name: ServerName::try_from("localhost").expect("name"),
        }),
    };
    let sidecar = TestSidecar::start(&config(&policy, up), settings)
        .await
        .expect("sidecar starts");
    let (a, b) = (sidecar.listeners[0], sidecar.listeners[1]);

    // HTTP/1.1: the fast path (GET with Host), a denial, and hyper's path (a chunked body).
    let upload = Request::post("/upload")
        .header(http::header::HOST, HOST)
        .body(chunked_body())
        .expect("request");
    let got = http1(
        a,
        &tls,
        vec![get("/public/a"), get("/private"), upload, get("/public/z")],
    )
    .await;
    assert_eq!(
        got[0],
        (StatusCode::OK, format!("/public/a host={HOST} body=0"))
    );
    assert_eq!(got[1], (StatusCode::FORBIDDEN, "Access denied".to_owned()));
    assert_eq!(
        got[2],
        (StatusCode::OK, format!("/upload host={HOST} body=7"))
    );
    assert_eq!(
        got[3],
        (StatusCode::OK, format!("/public/z host={HOST} body=0"))
    );

    // HTTP/2 to an HTTP/1.1 upstream: the in-task path.
    let got = http2(a, &tls, &["/public/b", "/private"]).await;
    assert_eq!(
        got[0],
        (StatusCode::OK, format!("/public/b host={HOST} body=0"))
    );
    assert_eq!(got[1].0, StatusCode::FORBIDDEN);

    // HTTP/2 to an HTTP/2 upstream: hyper on both sides, TLS on both sides.
    let got = http2(b, &tls, &["/public/c", "/private"]).await;
    assert_eq!(
        got[0],
        (StatusCode::OK, format!("/public/c host={HOST} body=0"))
    );
    assert_eq!(got[1].0, StatusCode::FORBIDDEN);

    // Plain text on a listener that terminates TLS is not served.
    let mut plain = TcpStream::connect(a).await.expect("connect");
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    plain
        .write_all(b"GET /public/a HTTP/1.1\r\nhost: app.local\r\n\r\n")
        .await
        .expect("write");
    let mut buf = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        plain.read_to_end(&mut buf),
    )
    .await;
    assert!(
        !String::from_utf8_lossy(&buf).contains("host=app.local"),
        "plain text reached the upstream: {read:?} {buf:?}"
    );

    sidecar.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sockmesh-tls-seam-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}
