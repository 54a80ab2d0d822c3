"""Length-prefixed frames (Kafka's framing) by hand, for tests that write the bytes themselves.

  frames.py exchange HOST:PORT HEX   send the frame HEX (length prefix included), print the
                                     hex of the one frame that comes back (prefix included)
  frames.py answer HOST:PORT HEX     listen; answer every frame read with the frame HEX, its
                                     correlation id (bytes 4..8 of the payload) replaced by the
                                     request's (bytes 4..8 of its payload); print
                                     "listening" once bound
"""
import socket
import struct
import sys


def addr(text):
    host, port = text.rsplit(":", 1)
    return host, int(port)


def read_exact(conn, n):
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise EOFError("closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf


def read_frame(conn):
    head = read_exact(conn, 4)
    (n,) = struct.unpack(">i", head)
    return head + read_exact(conn, n)


def exchange(to, frame):
    conn = socket.create_connection(to, timeout=10)
    conn.sendall(frame)
    try:
        print(read_frame(conn).hex())
    except (EOFError, OSError) as e:
        print("closed: %s" % e)


def answer(at, frame):
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(at)
    server.listen(16)
    print("listening", flush=True)
    while True:
        conn, _ = server.accept()
        try:
            while True:
                request = read_frame(conn)
                correlation = request[8:12]
                conn.sendall(frame[:4] + correlation + frame[8:])
        except (EOFError, OSError):
            conn.close()


def main():
    mode, where, hexed = sys.argv[1], addr(sys.argv[2]), bytes.fromhex(sys.argv[3])
    if mode == "exchange":
        exchange(where, hexed)
    elif mode == "answer":
        answer(where, hexed)
    else:
        sys.exit("unknown mode %s" % mode)


if __name__ == "__main__":
    main()
