"""Proxyless gRPC over xDS against `sockmesh control-plane`: interoperability with software we did
not write. grpcio's built-in xDS client (C-core) resolves `xds:///<name>` through Listener ->
RouteConfiguration -> Cluster -> ClusterLoadAssignment from the control plane named in the bootstrap
file, then calls a grpcio echo server at the endpoint the control plane listed.

Usage:
  grpc_xds_client.py serve PORT            run an echo server (bytes in, b"echo:" + bytes out)
  grpc_xds_client.py call CP_ADDR TARGET N make N calls to xds:///TARGET; print one JSON line

Needs only PyPI `grpcio` (the xDS client is part of grpcio's core; no xds-protos needed).
"""

import json
import os
import sys
import tempfile
import time


def serve(port):
    import grpc
    from concurrent import futures

    def say(request, context):
        return b"echo:" + request

    handler = grpc.method_handlers_generic_handler(
        "sockmesh.test.Echo",
        {"Say": grpc.unary_unary_rpc_method_handler(say)},
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    print("serving", flush=True)
    server.wait_for_termination()


def call(cp_addr, target, n):
    bootstrap = {
        "xds_servers": [
            {
                "server_uri": cp_addr,
                "channel_creds": [{"type": "insecure"}],
                "server_features": ["xds_v3"],
            }
        ],
        "node": {"id": "grpcio-xds-client", "cluster": "interop", "locality": {"zone": "z"}},
    }
    fd, path = tempfile.mkstemp(suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(bootstrap, f)
    # Must be set before the channel is created; the resolver reads it then.
    os.environ["GRPC_XDS_BOOTSTRAP"] = path
    import grpc

    start = time.monotonic()
    replies = []
    with grpc.insecure_channel(f"xds:///{target}") as channel:
        grpc.channel_ready_future(channel).result(timeout=20)
        say = channel.unary_unary("/sockmesh.test.Echo/Say")
        for i in range(n):
            replies.append(say(f"hello-{i}".encode(), timeout=10, wait_for_ready=True).decode())
    os.unlink(path)
    print(json.dumps({"replies": replies, "seconds": round(time.monotonic() - start, 3)}), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(int(sys.argv[2]))
    elif sys.argv[1] == "call":
        call(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        sys.exit(f"unknown command {sys.argv[1]}")
