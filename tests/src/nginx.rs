//! An nginx origin in a temp dir: one HTTP/1.1 port and one h2c (prior knowledge) port, answering
//! every request with `nginx <method> <uri>`, but `/upload`: nginx reads the whole request body
//! first (as it does before proxying to an app) and logs each upload it completed (see
//! [`Nginx::uploads`]).

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

impl Nginx {
    /// One line per request body nginx received whole at `/upload`.
    pub fn uploads(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("uploads.log")).unwrap_or_default()
    }

    pub fn start() -> Nginx {
        require("nginx", "apt-get install -y nginx-light");
        let dir = TempDir::new("nginx");
        let (port, h2c_port) = (free_port(), free_port());
        let d = dir.path().display();
        let conf = format!(
            "daemon off;\nworker_processes 1;\nerror_log {d}/error.log warn;\npid {d}/nginx.pid;\n\
             events {{ worker_connections 4096; }}\n\
             http {{\n  access_log off;\n  sendfile off;\n  keepalive_requests 1000000;\n\
               client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fcgi;\n\
               uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;\n\
               server {{ listen 127.0.0.1:{port}; listen 127.0.0.1:{h2c_port} http2;\n\
                 location / {{ return 200 \"nginx $request_method $request_uri\\n\"; }}\n\
                 location = /upload {{ proxy_pass http://127.0.0.1:{port}/uploaded; }}\n\
                 location = /uploaded {{ access_log {d}/uploads.log; return 200 \"uploaded $content_length\\n\"; }}\n\
                 location /whoami {{ return 200 \"host=$http_host uri=$request_uri\\n\"; }} }}\n}}\n"
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
