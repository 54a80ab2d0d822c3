//! An nginx origin in a temp dir: one HTTP/1.1 port and one h2c (prior knowledge) port.
//!
//! [`Nginx::start`] answers every request with `nginx <method> <uri>`; [`Nginx::logged`] does
//! the same and keeps an access log of one line per request served, for tests that check what
//! reached the upstream. [`Nginx::sites`] serves several virtual hosts, as an origin behind a
//! host rule would: `admin.local` and `public.local` by `server_name`, anything else by the
//! default server, each answering with the site, the `Host` it got and the path it decoded (and
//! `/private/` on the default server answering `PRIVATE`), so a test sees which site a request
//! reached. At `/upload`, nginx reads the whole request body first (as it does before proxying
//! to an app) and logs each upload it completed (see [`Nginx::uploads`]).

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::{Child, TempDir, free_port, local, require, wait_until};

pub struct Nginx {
    pub port: u16,
    pub h2c_port: u16,
    child: Child,
    dir: TempDir,
}

/// nginx's workers outlive a killed master (and keep the ports): stop it as nginx expects.
impl Drop for Nginx {
    fn drop(&mut self) {
        self.child.stop(Duration::from_secs(5));
    }
}

const ACCESS_LOG_OFF: &str = "access_log off;";

/// What [`Nginx::start`] serves.
const DEFAULT_SERVER: &str = "  server { listen 127.0.0.1:{port}; listen 127.0.0.1:{h2c} http2;\n\
                 location / { return 200 \"nginx $request_method $request_uri\\n\"; }\n\
                 location = /upload { proxy_pass http://127.0.0.1:{port}/uploaded; }\n\
                 location = /uploaded { access_log uploads.log; return 200 \"uploaded $content_length\\n\"; }\n\
                 location /whoami { return 200 \"host=$http_host uri=$request_uri\\n\"; } }\n";

/// What [`Nginx::sites`] serves on each of its ports: `{port}` and `{h2c}` stand for them.
const SITES: &str = "\
  server { listen 127.0.0.1:{port} default_server; listen 127.0.0.1:{h2c} http2 default_server;\n\
    server_name _;\n\
    location / { return 200 \"site=default host=$http_host uri=$uri raw=$request_uri tenant=$http_x_tenant\\n\"; }\n\
    location /private/ { return 200 \"PRIVATE uri=$uri\\n\"; } }\n\
  server { listen 127.0.0.1:{port}; listen 127.0.0.1:{h2c} http2; server_name admin.local;\n\
    location / { return 200 \"site=admin host=$http_host uri=$uri\\n\"; } }\n\
  server { listen 127.0.0.1:{port}; listen 127.0.0.1:{h2c} http2; server_name public.local;\n\
    location / { return 200 \"site=public host=$http_host uri=$uri tenant=$http_x_tenant\\n\"; } }\n";

impl Nginx {
    /// One line per request body nginx received whole at `/upload`.
    pub fn uploads(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("uploads.log")).unwrap_or_default()
    }

    pub fn start() -> Nginx {
        Nginx::with(ACCESS_LOG_OFF, DEFAULT_SERVER)
    }

    /// As [`Nginx::start`], with an access log of one line per request served: `METHOD URI`.
    pub fn logged() -> Nginx {
        Nginx::with(
            "log_format served '$request_method $request_uri';\n  access_log access.log served;",
            DEFAULT_SERVER,
        )
    }

    /// The requests served so far (with [`Nginx::logged`]), as `METHOD URI` lines.
    pub fn served(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("access.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// nginx with the virtual hosts described in the module docs.
    pub fn sites() -> Nginx {
        Nginx::with(ACCESS_LOG_OFF, SITES)
    }

    /// nginx with `access_log` (http-level directives) and `servers` (server blocks, `{port}` and
    /// `{h2c}` standing for its ports).
    fn with(access_log: &str, servers: &str) -> Nginx {
        require("nginx", "apt-get install -y nginx-light");
        let dir = TempDir::new("nginx");
        let (port, h2c_port) = (free_port(), free_port());
        let d = dir.path().display();
        let servers = servers
            .replace("{port}", &port.to_string())
            .replace("{h2c}", &h2c_port.to_string());
        let conf = format!(
            "daemon off;\nworker_processes 1;\nerror_log {d}/error.log warn;\npid {d}/nginx.pid;\n\
             events {{ worker_connections 4096; }}\n\
             http {{\n  {access_log}\n  sendfile off;\n  keepalive_requests 1000000;\n\
               client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fcgi;\n\
               uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;\n{servers}}}\n"
        );
        let conf_path = dir.write("nginx.conf", &conf);
        let child = Child::spawn(
            Command::new("nginx")
                .args(["-c", &conf_path.display().to_string(), "-p", &d.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        );
        let up = wait_until(Duration::from_secs(10), || {
            std::net::TcpStream::connect(local(port)).is_ok()
                && std::net::TcpStream::connect(local(h2c_port)).is_ok()
        });
        assert!(
            up,
            "nginx did not start: {}",
            std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default()
        );
        Nginx {
            port,
            h2c_port,
            child,
            dir,
        }
    }
}
