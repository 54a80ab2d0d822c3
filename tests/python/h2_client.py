"""An HTTP/2 client (prior knowledge) for what curl cannot do: reset a stream, or frame a body
in a chosen way.

    h2_client.py PORT reset PATH MS         GET PATH, reset the stream (CANCEL) after MS ms, then
                                            keep the connection 3 s more with PINGs; prints
                                            "reset" and, at the end, "connection alive"
    h2_client.py PORT connect AUTHORITY     CONNECT AUTHORITY; prints the status
    h2_client.py PORT post PATH CHUNK...    POST PATH without content-length, one DATA frame
                                            per CHUNK ("" for an empty one), the last ending
                                            the stream; prints the status and the body
"""
import socket
import sys
import time

import h2.config
import h2.connection
import h2.events


def connect(port):
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    return sock, conn


def headers(method, path):
    return [
        (":method", method),
        (":path", path),
        (":scheme", "http"),
        (":authority", "web"),
    ]


def response(sock, conn, stream):
    status, body = None, b""
    while True:
        data = sock.recv(65536)
        if not data:
            raise SystemExit("connection closed before the response ended")
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.ResponseReceived) and event.stream_id == stream:
                status = dict(event.headers)[b":status"].decode()
            elif isinstance(event, h2.events.DataReceived) and event.stream_id == stream:
                body += event.data
                conn.acknowledge_received_data(event.flow_controlled_length, stream)
            elif isinstance(event, h2.events.StreamEnded) and event.stream_id == stream:
                sock.sendall(conn.data_to_send())
                return status, body
            elif isinstance(event, h2.events.StreamReset) and event.stream_id == stream:
                raise SystemExit(f"stream reset: {event.error_code}")
        sock.sendall(conn.data_to_send())


def reset(port, path, ms):
    sock, conn = connect(port)
    conn.send_headers(1, headers("GET", path), end_stream=True)
    sock.sendall(conn.data_to_send())
    time.sleep(ms / 1000)
    conn.reset_stream(1, error_code=h2.errors.ErrorCodes.CANCEL)
    sock.sendall(conn.data_to_send())
    print("reset", flush=True)
    sock.settimeout(0.2)
    end = time.time() + 3
    while time.time() < end:
        conn.ping(b"12345678")
        sock.sendall(conn.data_to_send())
        try:
            data = sock.recv(65536)
        except socket.timeout:
            continue
        if not data:
            raise SystemExit("the proxy closed the connection")
        conn.receive_data(data)
        sock.sendall(conn.data_to_send())
    print("connection alive", flush=True)


def connect_tunnel(port, authority):
    sock, conn = connect(port)
    fields = [(":method", "CONNECT"), (":authority", authority)]
    conn.send_headers(1, fields, end_stream=False)
    sock.sendall(conn.data_to_send())
    status, _ = response(sock, conn, 1)
    print(status)


def post(port, path, chunks):
    sock, conn = connect(port)
    conn.send_headers(1, headers("POST", path), end_stream=False)
    for i, chunk in enumerate(chunks):
        conn.send_data(1, chunk.encode(), end_stream=i == len(chunks) - 1)
        sock.sendall(conn.data_to_send())
        # Separate frames arrive separately.
        time.sleep(0.05)
    status, body = response(sock, conn, 1)
    print(status)
    sys.stdout.write(body.decode())


if __name__ == "__main__":
    port, mode, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    if mode == "reset":
        reset(port, path, int(sys.argv[4]))
    elif mode == "connect":
        connect_tunnel(port, path)
    elif mode == "post":
        post(port, path, sys.argv[4:])
    else:
        raise SystemExit(f"unknown mode {mode}")
