"""An HTTP/2 client (prior knowledge) for what curl cannot do: reset a stream, or frame a body
in a chosen way.

    h2_client.py PORT reset PATH MS         GET PATH, reset the stream (CANCEL) after MS ms, then
                                            keep the connection 3 s more with PINGs; prints
                                            "reset" and, at the end, "connection alive"
    h2_client.py PORT connect AUTHORITY     CONNECT AUTHORITY; prints the status
    h2_client.py PORT early-then-post PATH  on one connection: POST 4 MiB to PATH (answered
                                            before its body is read), as much of it as the
                                            windows allow; once its response head is in,
                                            POST 200 KiB to /echo, which must go up within
                                            3 s; prints both statuses and the second body's
                                            last line
    h2_client.py PORT post PATH CHUNK...    POST PATH without content-length, one DATA frame
                                            per CHUNK ("" for an empty one), the last ending
                                            the stream; prints the status and the body
    h2_client.py PORT staggered PATH N MS   on one connection: N GETs of PATH, MS ms apart;
                                            prints, for each as it ends, "stream K: STATUS
                                            after T ms" (T from its own start)
    h2_client.py PORT get PATH AUTHORITY [NAME=VALUE...]
                                            GET PATH with exactly this :authority and these
                                            fields; prints the status and the body, or
                                            "reset CODE" when the stream is reset
    h2_client.py PORT trailers PATH NAME=VALUE...
                                            POST PATH with a body ("hello") and then a
                                            trailers block of these fields; prints the status
                                            and the body, or "reset CODE"
    h2_client.py PORT hold PATH C N SECS    on each of C connections, N POSTs of PATH with a
                                            content-length and no body, as fast as the
                                            server's SETTINGS allow; prints "ready" once all
                                            are sent, then after SECS s "STATUS: COUNT" for
                                            the responses (and "none: COUNT" for the rest)
    h2_client.py PORT trickle PATH LEN MS   POST PATH with content-length LEN, its body one
                                            byte every MS ms; prints "STATUS after T ms" at
                                            the response head, "reset after T ms" or "closed
                                            after T ms", or "still open after T ms" at 10 s
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


# Response statuses seen by `pump`, by stream.
STATUSES = {}


def pump(sock, conn, timeout):
    """Reads and handles one batch of frames; returns the events."""
    sock.settimeout(timeout)
    data = sock.recv(65536)
    if not data:
        raise SystemExit("connection closed")
    events = conn.receive_data(data)
    for event in events:
        if isinstance(event, h2.events.ResponseReceived):
            STATUSES[event.stream_id] = dict(event.headers)[b":status"].decode()
        if isinstance(event, h2.events.DataReceived):
            conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
    sock.sendall(conn.data_to_send())
    return events


def response(sock, conn, stream):
    body = b""
    while True:
        for event in pump(sock, conn, 10):
            if isinstance(event, h2.events.DataReceived) and event.stream_id == stream:
                body += event.data
            elif isinstance(event, h2.events.StreamEnded) and event.stream_id == stream:
                return STATUSES.get(stream), body
            elif isinstance(event, h2.events.StreamReset) and event.stream_id == stream:
                raise SystemExit(f"stream reset: {event.error_code}")


def reset(port, path, ms):
    sock, conn = connect(port)
    conn.send_headers(1, headers("GET", path), end_stream=True)
    sock.sendall(conn.data_to_send())
    time.sleep(ms / 1000)
    conn.reset_stream(1, error_code=h2.errors.ErrorCodes.CANCEL)
    sock.sendall(conn.data_to_send())
    print("reset", flush=True)
    end = time.time() + 3
    while time.time() < end:
        conn.ping(b"12345678")
        sock.sendall(conn.data_to_send())
        try:
            pump(sock, conn, 0.2)
        except socket.timeout:
            pass
    print("connection alive", flush=True)


def send_body(sock, conn, stream, size, deadline):
    """Sends `size` bytes on `stream` as the flow-control windows allow, until `deadline`."""
    left = size
    while left and time.time() < deadline:
        window = min(conn.local_flow_control_window(stream), conn.max_outbound_frame_size, left)
        if window <= 0:
            try:
                pump(sock, conn, 0.2)
            except socket.timeout:
                pass
            continue
        conn.send_data(stream, b"x" * window, end_stream=left == window)
        sock.sendall(conn.data_to_send())
        left -= window
    return left


def early_then_post(port, path):
    sock, conn = connect(port)
    first = headers("POST", path) + [("content-length", str(4 << 20))]
    conn.send_headers(1, first, end_stream=False)
    sock.sendall(conn.data_to_send())
    # As much of the 4 MiB as the windows allow (the origin never reads it).
    send_body(sock, conn, 1, 4 << 20, time.time() + 2)
    end = time.time() + 10
    while 1 not in STATUSES and time.time() < end:
        pump(sock, conn, 10)
    status1 = STATUSES.get(1)
    second = headers("POST", "/echo") + [("content-length", str(200 << 10))]
    conn.send_headers(3, second, end_stream=False)
    sock.sendall(conn.data_to_send())
    if send_body(sock, conn, 3, 200 << 10, time.time() + 3):
        raise SystemExit(f"first: {status1}; the second body could not be sent: no window")
    status, body = response(sock, conn, 3)
    print(status1)
    print(status)
    print(body.decode().strip().splitlines()[-1])


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


def staggered(port, path, n, ms):
    sock, conn = connect(port)
    started = {}
    ended = {}
    for k in range(n):
        stream = 1 + 2 * k
        conn.send_headers(stream, headers("GET", path), end_stream=True)
        sock.sendall(conn.data_to_send())
        started[stream] = time.time()
        next_start = time.time() + ms / 1000 if k + 1 < n else None
        # Read what comes until the next request is due (or, after the last, until all ended,
        # for 15 s at most: the caller sees which did not).
        give_up = time.time() + 15
        while (next_start and time.time() < next_start) or (
            not next_start and len(ended) < n and time.time() < give_up
        ):
            wait = max(0.01, (next_start or give_up) - time.time())
            try:
                events = pump(sock, conn, wait)
            except socket.timeout:
                continue
            for event in events:
                if isinstance(event, (h2.events.StreamEnded, h2.events.StreamReset)):
                    s = event.stream_id
                    ended[s] = time.time()
                    status = STATUSES.get(s, "reset")
                    took = round((ended[s] - started[s]) * 1000)
                    print(f"stream {(s + 1) // 2}: {status} after {took} ms", flush=True)


def fields(pairs):
    return [tuple(p.split("=", 1)) for p in pairs]


def answer(sock, conn, stream):
    """Prints the response on `stream`: status and body, or how the stream was reset."""
    try:
        status, body = response(sock, conn, stream)
    except SystemExit as e:
        print(str(e).replace("stream reset:", "reset"))
        return
    print(status)
    sys.stdout.write(body.decode())


def get(port, path, authority, extra):
    sock, conn = connect(port)
    head = [(":method", "GET"), (":path", path), (":scheme", "http"), (":authority", authority)]
    conn.send_headers(1, head + fields(extra), end_stream=True)
    sock.sendall(conn.data_to_send())
    answer(sock, conn, 1)


def trailers(port, path, extra):
    sock, conn = connect(port)
    conn.send_headers(1, headers("POST", path), end_stream=False)
    conn.send_data(1, b"hello", end_stream=False)
    conn.send_headers(1, fields(extra), end_stream=True)
    sock.sendall(conn.data_to_send())
    answer(sock, conn, 1)


def hold(port, path, conns, streams, secs):
    import selectors

    sel = selectors.DefaultSelector()
    statuses = {}
    for _ in range(conns):
        sock, conn = connect(port)
        # The server's SETTINGS first: how many streams it takes at once.
        while not any(
            isinstance(e, h2.events.RemoteSettingsChanged) for e in pump(sock, conn, 10)
        ):
            pass
        for k in range(streams):
            stream = 1 + 2 * k
            fields = headers("POST", path) + [("content-length", "1000")]
            conn.send_headers(stream, fields, end_stream=False)
            statuses[(sock.fileno(), stream)] = None
        sock.sendall(conn.data_to_send())
        sel.register(sock, selectors.EVENT_READ, conn)
    print("ready", flush=True)
    end = time.time() + secs
    while time.time() < end:
        for key, _ in sel.select(timeout=max(0.01, end - time.time())):
            sock, conn = key.fileobj, key.data
            try:
                data = sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                sel.unregister(sock)
                continue
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    status = dict(event.headers)[b":status"].decode()
                    statuses[(sock.fileno(), event.stream_id)] = status
            sock.sendall(conn.data_to_send())
    counts = {}
    for status in statuses.values():
        counts[status or "none"] = counts.get(status or "none", 0) + 1
    for status, count in sorted(counts.items()):
        print(f"{status}: {count}", flush=True)


def trickle(port, path, length, ms):
    sock, conn = connect(port)
    fields = headers("POST", path) + [("content-length", str(length))]
    conn.send_headers(1, fields, end_stream=False)
    sock.sendall(conn.data_to_send())
    start = time.time()
    took = lambda: round((time.time() - start) * 1000)
    sent = 0
    while time.time() - start < 10:
        if sent < length:
            conn.send_data(1, b"x", end_stream=sent + 1 == length)
            sent += 1
        try:
            sock.sendall(conn.data_to_send())
            events = pump(sock, conn, ms / 1000)
        except socket.timeout:
            continue
        except (OSError, SystemExit):
            print(f"closed after {took()} ms")
            return
        for event in events:
            if isinstance(event, h2.events.ResponseReceived) and event.stream_id == 1:
                print(f"{STATUSES[1]} after {took()} ms")
                return
            if isinstance(event, h2.events.StreamReset) and event.stream_id == 1:
                print(f"reset after {took()} ms")
                return
            if isinstance(event, h2.events.ConnectionTerminated):
                print(f"closed after {took()} ms")
                return
    print(f"still open after {took()} ms")


if __name__ == "__main__":
    port, mode = int(sys.argv[1]), sys.argv[2]
    path = sys.argv[3] if len(sys.argv) > 3 else None
    if mode == "reset":
        reset(port, path, int(sys.argv[4]))
    elif mode == "early-then-post":
        early_then_post(port, path)
    elif mode == "connect":
        connect_tunnel(port, path)
    elif mode == "post":
        post(port, path, sys.argv[4:])
    elif mode == "get":
        get(port, path, sys.argv[4], sys.argv[5:])
    elif mode == "trailers":
        trailers(port, path, sys.argv[4:])
    elif mode == "staggered":
        staggered(port, path, int(sys.argv[4]), int(sys.argv[5]))
    elif mode == "hold":
        hold(port, path, int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]))
    elif mode == "trickle":
        trickle(port, path, int(sys.argv[4]), int(sys.argv[5]))
    else:
        raise SystemExit(f"unknown mode {mode}")
