"""An HTTP/2 origin (h2c, prior knowledge; the Python `h2` stack) that shows the request
trailers it received, which nginx does not.

    python3 h2_origin.py PORT     # prints "ready" once listening, then one line per event

Each request is answered, once it ends, with 200 and a body naming its trailer fields
(`trailers: name=value ...`, or `trailers: none`); the same line is printed. A stream the proxy
resets prints "reset".
"""
import socket
import sys
import threading

import h2.config
import h2.connection
import h2.events


def say(line):
    print(line, flush=True)


def serve(sock):
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    trailers = {}
    while True:
        data = sock.recv(65536)
        if not data:
            return
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.DataReceived):
                conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.TrailersReceived):
                trailers[event.stream_id] = [
                    f"{n.decode()}={v.decode()}" for n, v in event.headers
                ]
            elif isinstance(event, h2.events.StreamEnded):
                got = trailers.pop(event.stream_id, None)
                line = "trailers: " + (" ".join(got) if got else "none")
                say(line)
                body = (line + "\n").encode()
                conn.send_headers(
                    event.stream_id,
                    [(":status", "200"), ("content-length", str(len(body)))],
                )
                conn.send_data(event.stream_id, body, end_stream=True)
            elif isinstance(event, h2.events.StreamReset):
                say("reset")
        sock.sendall(conn.data_to_send())


def main(port):
    listener = socket.create_server(("127.0.0.1", port))
    say("ready")
    while True:
        sock, _ = listener.accept()
        threading.Thread(target=serve, args=(sock,), daemon=True).start()


if __name__ == "__main__":
    main(int(sys.argv[1]))
