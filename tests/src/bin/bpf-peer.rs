//! Test and bench peer for the eBPF local-hop tests: an echo upstream, a checksumming client,
//! ping-pong and bulk measurements, a minimal forwarding proxy, and `exec` to start any command
//! inside a cgroup. Every subcommand takes `--cgroup DIR` first: the process joins that cgroup v2
//! directory before it opens a socket (sockops only sees sockets created inside the cgroup).
//!
//! Output is one line of `key=value` pairs on stdout, parsed by `sockmesh_tests::bpf`.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--cgroup") && args.len() > 1 {
        let dir = args[1].clone();
        args.drain(..2);
        if let Err(e) = std::fs::write(format!("{dir}/cgroup.procs"), "0") {
            die(&format!("cannot join cgroup {dir}: {e}"));
        }
    }
    let Some(cmd) = args.first().cloned() else {
        die("usage: bpf-peer [--cgroup DIR] echo|sink|check|pingpong|bulk|forward|exec ...");
    };
    let rest = &args[1..];
    let opt = |name: &str| -> Option<String> {
        rest.iter()
            .position(|a| a == name)
            .and_then(|i| rest.get(i + 1))
            .cloned()
    };
    let addr = |name: &str| -> SocketAddr {
        opt(name)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| die(&format!("{cmd}: {name} ADDR required")))
    };
    let num = |name: &str, def: u64| -> u64 {
        opt(name).map_or(def, |v| {
            v.parse()
                .unwrap_or_else(|_| die(&format!("{cmd}: {name} takes a number, not {v:?}")))
        })
    };
    let result = match cmd.as_str() {
        "echo" => serve(addr("--listen"), false, 256 * 1024),
        "sink" => serve(
            addr("--listen"),
            true,
            num("--read-size", 64 * 1024) as usize,
        ),
        "forward" => forward(addr("--listen"), addr("--upstream")),
        "http-serve" => http_serve(addr("--listen"), num("--body", 64) as usize),
        "http-ping" => http_ping(addr("--connect"), num("--iters", 5000)),
        "check" => {
            let sizes: Vec<usize> = opt("--sizes")
                .unwrap_or_else(|| "1,1024,65536,4194304".into())
                .split(',')
                .map(|s| {
                    s.trim().parse().unwrap_or_else(|_| {
                        die(&format!("check: --sizes takes numbers, not {s:?}"))
                    })
                })
                .collect();
            check(
                addr("--connect"),
                opt("--bind").and_then(|b| b.parse().ok()),
                &sizes,
                num("--seed", 1),
                Duration::from_millis(num("--pause-ms", 0)),
            )
        }
        "pingpong" => pingpong(
            addr("--connect"),
            num("--size", 1) as usize,
            num("--iters", 10000),
        ),
        "bulk" => bulk(addr("--connect"), num("--millis", 1000)),
        "exec" => {
            let Some(prog) = rest.first() else {
                die("exec: command required")
            };
            let err = Command::new(prog).args(&rest[1..]).exec();
            die(&format!("exec {prog}: {err}"));
        }
        other => die(&format!("unknown subcommand {other}")),
    };
    if let Err(e) = result {
        die(&format!("{cmd}: {e}"));
    }
}

fn die(msg: &str) -> ! {
    eprintln!("bpf-peer: {msg}");
    std::process::exit(2)
}

/// Accepts forever; each connection echoes until EOF, or (`sink`) drains until EOF and then
/// answers with the number of bytes it received (8 bytes, little-endian). `read_size` is the
/// buffer each `read` offers (the sink's default, 64 KiB, matches the bulk writer's writes).
fn serve(listen: SocketAddr, sink: bool, read_size: usize) -> io::Result<()> {
    let l = TcpListener::bind(listen)?;
    println!("listening={}", l.local_addr()?);
    io::stdout().flush()?;
    for conn in l.incoming() {
        let mut c = conn?;
        std::thread::spawn(move || {
            let _ = c.set_nodelay(true);
            let mut buf = vec![0u8; read_size.max(1)];
            let mut total = 0u64;
            loop {
                match c.read(&mut buf) {
                    Ok(0) => {
                        if sink {
                            let _ = c.write_all(&total.to_le_bytes());
                        }
                        break;
                    }
                    Err(_) => break,
                    Ok(n) => {
                        total += n as u64;
                        if !sink && c.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                }
            }
        });
    }
    Ok(())
}

/// An HTTP/1.1 origin: every request (headers only) gets `200` with a `body`-byte body,
/// keep-alive.
fn http_serve(listen: SocketAddr, body: usize) -> io::Result<()> {
    let l = TcpListener::bind(listen)?;
    println!("listening={}", l.local_addr()?);
    io::stdout().flush()?;
    let resp = format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {body}\r\ncontent-type: text/plain\r\n\r\n{}",
        "x".repeat(body)
    );
    for conn in l.incoming() {
        let mut c = conn?;
        let resp = resp.clone();
        std::thread::spawn(move || {
            let _ = c.set_nodelay(true);
            let mut buf = vec![0u8; 64 * 1024];
            let mut have = Vec::new();
            loop {
                match c.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => have.extend_from_slice(&buf[..n]),
                }
                while let Some(end) = have.windows(4).position(|w| w == b"\r\n\r\n") {
                    have.drain(..end + 4);
                    if c.write_all(resp.as_bytes()).is_err() {
                        return;
                    }
                }
            }
        });
    }
    Ok(())
}

/// Sequential keep-alive GETs; microseconds per request.
fn http_ping(to: SocketAddr, iters: u64) -> io::Result<()> {
    let mut s = connect(to, None)?;
    s.set_nodelay(true)?;
    let req = format!("GET /bench HTTP/1.1\r\nhost: {to}\r\n\r\n");
    let mut buf = vec![0u8; 64 * 1024];
    let mut one = |s: &mut TcpStream| -> io::Result<()> {
        s.write_all(req.as_bytes())?;
        let mut have: Vec<u8> = Vec::new();
        loop {
            let n = s.read(&mut buf)?;
            if n == 0 {
                return Err(io::Error::other("connection closed mid-response"));
            }
            have.extend_from_slice(&buf[..n]);
            if let Some(end) = have.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&have[..end]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                if have.len() >= end + 4 + len {
                    return Ok(());
                }
            }
        }
    };
    for _ in 0..iters / 10 {
        one(&mut s)?;
    }
    let mut samples = Vec::with_capacity(iters as usize);
    for _ in 0..iters {
        let t = Instant::now();
        one(&mut s)?;
        samples.push(t.elapsed().as_secs_f64() * 1e6);
    }
    report("http_us", samples);
    Ok(())
}

/// A minimal forwarding proxy: one thread per direction, plain read/write.
fn forward(listen: SocketAddr, upstream: SocketAddr) -> io::Result<()> {
    let l = TcpListener::bind(listen)?;
    println!("listening={}", l.local_addr()?);
    io::stdout().flush()?;
    for conn in l.incoming() {
        let down = conn?;
        let up = TcpStream::connect(upstream)?;
        for s in [&down, &up] {
            s.set_nodelay(true)?;
        }
        let (mut d2, mut u2) = (down.try_clone()?, up.try_clone()?);
        let (mut d1, mut u1) = (down, up);
        std::thread::spawn(move || pump(&mut d1, &mut u1));
        std::thread::spawn(move || pump(&mut u2, &mut d2));
    }
    Ok(())
}

fn pump(from: &mut TcpStream, to: &mut TcpStream) {
    let mut buf = vec![0u8; 256 * 1024];
    while let Ok(n) = from.read(&mut buf) {
        if n == 0 || to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
}

/// xorshift64*: deterministic payloads without a dependency.
fn fill(buf: &mut [u8], seed: &mut u64) {
    for chunk in buf.chunks_mut(8) {
        *seed ^= *seed >> 12;
        *seed ^= *seed << 25;
        *seed ^= *seed >> 27;
        let v = seed.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
}

/// FNV-1a 64.
fn checksum(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn connect(to: SocketAddr, bind: Option<SocketAddr>) -> io::Result<TcpStream> {
    let Some(bind) = bind else {
        return TcpStream::connect_timeout(&to, Duration::from_secs(5));
    };
    // A fixed client port (two pods with identical 4-tuples): bind before connect.
    let fam = if to.is_ipv4() {
        libc_af::INET
    } else {
        libc_af::INET6
    };
    let s = socket2_free::bind_connect(fam, bind, to)?;
    Ok(s)
}

/// Sends each size as one message through an echo peer and checks what comes back, writing
/// and reading concurrently (large messages exceed the socket buffers).
/// `pause` holds the connection open before the first message (to make connections overlap).
fn check(
    to: SocketAddr,
    bind: Option<SocketAddr>,
    sizes: &[usize],
    seed: u64,
    pause: Duration,
) -> io::Result<()> {
    let s = connect(to, bind)?;
    std::thread::sleep(pause);
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    let mut seed = seed.max(1);
    let mut total = 0usize;
    for &size in sizes {
        let mut out = vec![0u8; size];
        fill(&mut out, &mut seed);
        let want = checksum(&out);
        let mut w = s.try_clone()?;
        let writer = std::thread::spawn(move || w.write_all(&out));
        let mut got = vec![0u8; size];
        (&s).read_exact(&mut got)?;
        writer
            .join()
            .map_err(|_| io::Error::other("writer panicked"))??;
        if checksum(&got) != want {
            return Err(io::Error::other(format!(
                "checksum mismatch on a {size} B message"
            )));
        }
        total += size;
    }
    println!(
        "ok=1 messages={} bytes={total} local={}",
        sizes.len(),
        s.local_addr()?
    );
    Ok(())
}

fn report(name: &str, mut samples: Vec<f64>) {
    samples.sort_by(f64::total_cmp);
    let q = |p: f64| samples[((samples.len() - 1) as f64 * p) as usize];
    println!(
        "{name} median={:.3} p10={:.3} p90={:.3} n={}",
        q(0.5),
        q(0.1),
        q(0.9),
        samples.len()
    );
}

/// Round trips of `size` bytes through an echo peer; microseconds per round trip.
fn pingpong(to: SocketAddr, size: usize, iters: u64) -> io::Result<()> {
    let mut s = connect(to, None)?;
    s.set_nodelay(true)?;
    let msg = vec![7u8; size];
    let mut back = vec![0u8; size];
    for _ in 0..iters / 10 {
        s.write_all(&msg)?;
        s.read_exact(&mut back)?;
    }
    let mut samples = Vec::with_capacity(iters as usize);
    for _ in 0..iters {
        let t = Instant::now();
        s.write_all(&msg)?;
        s.read_exact(&mut back)?;
        samples.push(t.elapsed().as_secs_f64() * 1e6);
    }
    report("pingpong_us", samples);
    Ok(())
}

/// 64 KiB writes into a sink for `millis`; Gbit/s per 100 ms window.
fn bulk(to: SocketAddr, millis: u64) -> io::Result<()> {
    let mut s = connect(to, None)?;
    let buf = vec![1u8; 64 * 1024];
    let start = Instant::now();
    let end = start + Duration::from_millis(millis);
    let mut sent = 0u64;
    while Instant::now() < end {
        s.write_all(&buf)?;
        sent += buf.len() as u64;
    }
    // Throughput as the sink saw it: a spliced receiver queues without a window, so the rate
    // counts only once the sink has read everything and confirmed the total.
    let sending = start.elapsed().as_secs_f64();
    s.shutdown(std::net::Shutdown::Write)?;
    let mut confirm = [0u8; 8];
    s.read_exact(&mut confirm)?;
    let elapsed = start.elapsed().as_secs_f64();
    let received = u64::from_le_bytes(confirm);
    if received != sent {
        return Err(io::Error::other(format!(
            "sink received {received} of {sent} bytes"
        )));
    }
    // Also the sender-side rate (what a sender-paced measurement reports), for comparison.
    println!(
        "bulk_gbps median={:.3} p10=0 p90=0 n=1 sender_gbps={:.3}",
        received as f64 * 8.0 / elapsed / 1e9,
        sent as f64 * 8.0 / sending / 1e9
    );
    Ok(())
}

mod libc_af {
    pub const INET: i32 = 2;
    pub const INET6: i32 = 10;
}

/// bind-then-connect (std has no API for binding a client socket), through the C library.
mod socket2_free {
    use std::io;
    use std::net::{SocketAddr, TcpStream};
    use std::os::fd::FromRawFd;

    unsafe extern "C" {
        fn socket(domain: i32, ty: i32, proto: i32) -> i32;
        fn bind(fd: i32, addr: *const u8, len: u32) -> i32;
        fn connect(fd: i32, addr: *const u8, len: u32) -> i32;
        fn setsockopt(fd: i32, level: i32, name: i32, val: *const i32, len: u32) -> i32;
        fn close(fd: i32) -> i32;
    }

    fn sockaddr(a: SocketAddr) -> Vec<u8> {
        match a {
            SocketAddr::V4(v4) => {
                let mut b = vec![0u8; 16];
                b[0..2].copy_from_slice(&2u16.to_ne_bytes());
                b[2..4].copy_from_slice(&v4.port().to_be_bytes());
                b[4..8].copy_from_slice(&v4.ip().octets());
                b
            }
            SocketAddr::V6(v6) => {
                let mut b = vec![0u8; 28];
                b[0..2].copy_from_slice(&10u16.to_ne_bytes());
                b[2..4].copy_from_slice(&v6.port().to_be_bytes());
                b[8..24].copy_from_slice(&v6.ip().octets());
                b
            }
        }
    }

    pub fn bind_connect(fam: i32, local: SocketAddr, to: SocketAddr) -> io::Result<TcpStream> {
        // SAFETY: plain socket syscalls on a descriptor we own; buffers outlive the calls.
        unsafe {
            let fd = socket(fam, 1 | 0o2000000, 0);
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            let one = 1i32;
            // SO_REUSEADDR (SOL_SOCKET=1, 2): rebinding the same client port in quick succession.
            setsockopt(fd, 1, 2, &one, 4);
            let l = sockaddr(local);
            let r = sockaddr(to);
            if bind(fd, l.as_ptr(), l.len() as u32) != 0
                || connect(fd, r.as_ptr(), r.len() as u32) != 0
            {
                let e = io::Error::last_os_error();
                close(fd);
                return Err(e);
            }
            Ok(TcpStream::from_raw_fd(fd))
        }
    }
}
