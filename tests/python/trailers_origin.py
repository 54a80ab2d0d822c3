"""An HTTP/1.1 origin that answers every GET with a chunked body and trailer fields.

    python3 trailers_origin.py PORT     # prints "ready" once listening
"""
import socketserver
import sys


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        while True:
            line = self.rfile.readline()
            if not line:
                return
            # Skip the rest of the head.
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            self.wfile.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n"
                b"Trailer: X-Checksum\r\n\r\n"
                b"6\r\nchunk1\r\n6\r\nchunk2\r\n0\r\nX-Checksum: abc123\r\nConnection: close\r\n\r\n"
            )
            self.wfile.flush()


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


if __name__ == "__main__":
    srv = Server(("127.0.0.1", int(sys.argv[1])), Handler)
    print("ready", flush=True)
    srv.serve_forever()
