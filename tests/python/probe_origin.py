"""An HTTP/1.1 origin that shows what a proxy sends it and how it treats the connection.

    python3 probe_origin.py PORT [--close-on-preface]
                                     # prints "ready" once listening, then one line per event

The HTTP/2 connection preface (`PRI * HTTP/2.0`) is read as a request, printed as "preface",
and answered 200 as any other path, as HTTP/1.1 servers do; with --close-on-preface the
connection is closed instead, without a word.

Paths:
  /echo   answers 200 with the request head it received (lower-cased names), then each
          trailer field of a chunked body as "trailer: name: value", then the body length it
          read, as "body=N"
  /stall  never answers; prints "stalled" when the request came and "closed" when the proxy
          closes the connection
  /early  answers 403 "early" at once, without reading the request body, and never reads it
  /slow-early  answers 200 at once, without reading the request body, and sends its chunked
          body one "tick" line every 0.5 s for 8 s
  /trailers  answers 200 with a chunked body ("chunk1chunk2") and trailer fields, one of them
          hop-by-hop (X-Checksum: abc123, Connection: close)
"""
import socketserver
import sys
import time


def say(line):
    print(line, flush=True)


def read_body(rfile, head):
    """The body's length and its trailer section's lines (lower-cased)."""
    fields = {}
    for line in head.split(b"\r\n")[1:]:
        if b":" in line:
            name, value = line.split(b":", 1)
            fields[name.strip().lower()] = value.strip()
    if b"content-length" in fields:
        return len(rfile.read(int(fields[b"content-length"]))), []
    if fields.get(b"transfer-encoding", b"").lower() == b"chunked":
        total = 0
        while True:
            size = int(rfile.readline().split(b";")[0], 16)
            if size == 0:
                trailers = []
                while True:
                    line = rfile.readline()
                    if line == b"":
                        raise ValueError("no end of the trailer section")
                    if line == b"\r\n":
                        return total, trailers
                    trailers.append(line.strip().lower())
            total += len(rfile.read(size))
            rfile.readline()
    return 0, []


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        while True:
            head = b""
            while True:
                line = self.rfile.readline()
                if not line:
                    return
                head += line
                if line in (b"\r\n", b"\n"):
                    break
            path = head.split(b" ")[1]
            if head.startswith(b"PRI * HTTP/2.0"):
                say("preface")
                if CLOSE_ON_PREFACE:
                    return
            if path == b"/stall":
                say("stalled")
                # Waits for the proxy to give up on the exchange: EOF or a reset.
                try:
                    while self.rfile.read(1):
                        pass
                except OSError:
                    pass
                say("closed")
                return
            if path == b"/early":
                self.wfile.write(
                    b"HTTP/1.1 403 Forbidden\r\nContent-Length: 5\r\n\r\nearly"
                )
                self.wfile.flush()
                say("answered early")
                time.sleep(60)
                return
            if path == b"/slow-early":
                self.wfile.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                self.wfile.flush()
                say("answered early")
                for _ in range(16):
                    self.wfile.write(b"5\r\ntick\n\r\n")
                    self.wfile.flush()
                    time.sleep(0.5)
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
                return
            if path == b"/trailers":
                self.wfile.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                    b"Transfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n"
                    b"6\r\nchunk1\r\n6\r\nchunk2\r\n0\r\n"
                    b"X-Checksum: abc123\r\nConnection: close\r\n\r\n"
                )
                self.wfile.flush()
                continue
            try:
                n, trailers = read_body(self.rfile, head)
            except ValueError:
                # The proxy gave up on the request mid-body (over its limit, say).
                say("request cut off")
                return
            body = head.lower()
            body += b"".join(b"trailer: %s\n" % t for t in trailers)
            body += b"body=%d\n" % n
            self.wfile.write(
                b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body
            )
            self.wfile.flush()


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


CLOSE_ON_PREFACE = "--close-on-preface" in sys.argv[2:]

if __name__ == "__main__":
    srv = Server(("127.0.0.1", int(sys.argv[1])), Handler)
    say("ready")
    srv.serve_forever()
