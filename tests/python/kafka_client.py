"""Kafka clients for the Kafka tests (tests/src/tansu.rs, `kafka_client`): librdkafka 2.16 (the
confluent-kafka wheel) and kafka-python 3, two clients whose protocol code shares nothing.

    kafka_client.py LIB produce BOOTSTRAP TOPIC COUNT [--size N | --sizes A,B,..] [--client-id ID]
                                                      [--idempotent]
    kafka_client.py LIB consume BOOTSTRAP TOPIC COUNT [--group G] [--client-id ID] [--timeout S]
    kafka_client.py LIB metadata BOOTSTRAP [--client-id ID]

LIB is `confluent` or `kafka-python`. Message i carries its index and a payload of its size, so
the consumer can check order and content. Prints one JSON object and exits 0 whatever happened:

    produce:  {"delivered": N, "errors": ["TOPIC_AUTHORIZATION_FAILED", ...]}
    consume:  {"received": N, "in_order": true, "intact": true, "errors": [...]}
    metadata: {"brokers": ["host:port", ...], "topics": [...], "errors": [...]}

Errors are Kafka error names (as both libraries spell them, upper case) or "EXCEPTION: text".
"""

import argparse
import hashlib
import json
import sys
import time


def payload(i, size):
    head = b"%08d:" % i
    if size <= len(head):
        return head[:size]
    body = hashlib.sha256(head).hexdigest().encode() * (size // 64 + 1)
    return head + body[: size - len(head)]


def sizes_of(args):
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else [args.size]
    if min(sizes) < 9:
        raise SystemExit("message sizes must be at least 9 bytes (an 8-digit index and a colon)")
    return sizes


def error_name(e):
    # kafka-python's errors carry the protocol's name as `message`.
    message = getattr(type(e), "message", None)
    if isinstance(message, str) and message.isupper():
        return message
    name = getattr(e, "name", None)
    if callable(name):
        name = name()
    if name:
        return str(name).upper()
    return "EXCEPTION: %s" % e


# ---------------------------------------------------------------- confluent-kafka (librdkafka)


def confluent_conf(args, **extra):
    conf = {
        "bootstrap.servers": args.bootstrap,
        "client.id": args.client_id,
        "socket.timeout.ms": 10000,
    }
    conf.update(extra)
    return conf


def confluent_produce(args):
    from confluent_kafka import Producer

    errors, delivered = [], [0]

    def report(err, _msg):
        if err is None:
            delivered[0] += 1
        else:
            errors.append(err.name().upper())

    conf = confluent_conf(args, **{"enable.idempotence": args.idempotent, "linger.ms": 5})
    conf["message.timeout.ms"] = int(args.timeout * 1000)
    p = Producer(conf)
    sizes = sizes_of(args)
    for i in range(args.count):
        while True:
            try:
                p.produce(args.topic, payload(i, sizes[i % len(sizes)]), on_delivery=report)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    # Every message gets its report by message.timeout.ms (the timeout): wait past it, or a
    # busy machine returns from flush just before the reports of refused messages come.
    p.flush(args.timeout + 10)
    return {"delivered": delivered[0], "errors": sorted(set(errors))}


def confluent_consume(args):
    from confluent_kafka import Consumer, KafkaError, TopicPartition

    group = args.group or "sockmesh-test-%d" % int(time.time() * 1000)
    errors = []
    conf = confluent_conf(
        args,
        **{
            # Errors that come outside a message (a subscribed topic's authorization, say).
            "error_cb": lambda err: errors.append(err.name().upper()),
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": True,
            "session.timeout.ms": 10000,
            # tansu makes a Fetch wait half of this (../shared/DESIGN.md); librdkafka pauses
            # fetching this long when its queue is full.
            "fetch.wait.max.ms": 1,
            "fetch.queue.backoff.ms": 10,
        },
    )
    c = Consumer(conf)
    if args.group:
        c.subscribe([args.topic], on_assign=lambda _c, _p: None)
    else:
        c.assign([TopicPartition(args.topic, 0, 0)])
    got, in_order, intact = 0, True, True
    deadline = time.time() + args.timeout
    while got < args.count and time.time() < deadline:
        if any("AUTHORIZATION" in e for e in errors):
            break
        m = c.poll(0.2)
        if m is None:
            continue
        if m.error():
            if m.error().code() != KafkaError._PARTITION_EOF:
                errors.append(m.error().name().upper())
            continue
        if any("AUTHORIZATION" in e for e in errors):
            break
        value = m.value() or b""
        idx = int(value[:8]) if value[:8].isdigit() else -1
        if idx != got:
            in_order = False
        if value != payload(idx, len(value)):
            intact = False
        got += 1
    try:
        if args.group and got:
            c.commit(asynchronous=False)
    except Exception as e:  # an authorization error on commit is an answer too
        errors.append(error_name(e.args[0] if e.args else e))
    c.close()
    return {"received": got, "in_order": in_order, "intact": intact, "errors": sorted(set(errors))}


def confluent_metadata(args):
    from confluent_kafka.admin import AdminClient

    a = AdminClient({"bootstrap.servers": args.bootstrap, "client.id": args.client_id})
    md = a.list_topics(timeout=args.timeout)
    brokers = ["%s:%d" % (b.host, b.port) for b in md.brokers.values()]
    errors = [t.error.name().upper() for t in md.topics.values() if t.error]
    return {"brokers": sorted(brokers), "topics": sorted(md.topics), "errors": sorted(set(errors))}


# ---------------------------------------------------------------- kafka-python


def kp_conf(args):
    return {
        "bootstrap_servers": args.bootstrap,
        "client_id": args.client_id,
        "request_timeout_ms": int(args.timeout * 1000),
    }


def kp_produce(args):
    from kafka import KafkaProducer

    p = KafkaProducer(enable_idempotence=args.idempotent, linger_ms=5, **kp_conf(args))
    futures, errors, delivered = [], [], 0
    sizes = sizes_of(args)
    for i in range(args.count):
        futures.append(p.send(args.topic, payload(i, sizes[i % len(sizes)])))
    p.flush(args.timeout)
    for f in futures:
        try:
            f.get(timeout=args.timeout)
            delivered += 1
        except Exception as e:
            errors.append(error_name(e))
    p.close(1)
    return {"delivered": delivered, "errors": sorted(set(errors))}


class AuthorizationLog:
    """kafka-python reports a subscribed topic's TOPIC_AUTHORIZATION_FAILED from its metadata
    listener, where the exception is logged, not raised to poll(): collect those log records."""

    def __init__(self, errors):
        import logging

        handler = logging.Handler()
        handler.emit = self.emit
        logging.getLogger("kafka").addHandler(handler)
        self.errors = errors

    def emit(self, record):
        text = record.getMessage()
        if "not authorized" in text or "TopicAuthorizationFailed" in text:
            self.errors.append("TOPIC_AUTHORIZATION_FAILED")


def kp_consume(args):
    from kafka import KafkaConsumer, TopicPartition

    errors = []
    AuthorizationLog(errors)
    c = KafkaConsumer(
        group_id=args.group,
        auto_offset_reset="earliest",
        enable_auto_commit=bool(args.group),
        fetch_max_wait_ms=1,
        **kp_conf(args),
    )
    try:
        if args.group:
            c.subscribe([args.topic])
        else:
            c.assign([TopicPartition(args.topic, 0)])
            c.seek(TopicPartition(args.topic, 0), 0)
    except Exception as e:
        errors.append(error_name(e))
    got, in_order, intact = 0, True, True
    deadline = time.time() + args.timeout
    while not errors and got < args.count and time.time() < deadline:
        try:
            batch = c.poll(timeout_ms=200)
        except Exception as e:
            errors.append(error_name(e))
            break
        for records in batch.values():
            for m in records:
                value = m.value or b""
                idx = int(value[:8]) if value[:8].isdigit() else -1
                if idx != got:
                    in_order = False
                if value != payload(idx, len(value)):
                    intact = False
                got += 1
    try:
        if args.group and got:
            c.commit()
    except Exception as e:
        errors.append(error_name(e))
    c.close()
    return {"received": got, "in_order": in_order, "intact": intact, "errors": sorted(set(errors))}


def kp_metadata(args):
    # A consumer's view of the cluster (Metadata only; DescribeCluster is an admin request).
    from kafka import KafkaConsumer

    c = KafkaConsumer(**kp_conf(args))
    topics = c.topics()
    brokers = ["%s:%d" % (b.host, b.port) for b in c._client.cluster.brokers()]
    c.close()
    return {"brokers": sorted(brokers), "topics": sorted(topics), "errors": []}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("lib", choices=["confluent", "kafka-python"])
    ap.add_argument("op", choices=["produce", "consume", "metadata"])
    ap.add_argument("bootstrap")
    ap.add_argument("topic", nargs="?")
    ap.add_argument("count", nargs="?", type=int, default=0)
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--sizes")
    ap.add_argument("--client-id", default="sockmesh-test")
    ap.add_argument("--group")
    ap.add_argument("--idempotent", action="store_true")
    ap.add_argument("--timeout", type=float, default=20.0)
    args = ap.parse_args()
    ops = {
        ("confluent", "produce"): confluent_produce,
        ("confluent", "consume"): confluent_consume,
        ("confluent", "metadata"): confluent_metadata,
        ("kafka-python", "produce"): kp_produce,
        ("kafka-python", "consume"): kp_consume,
        ("kafka-python", "metadata"): kp_metadata,
    }
    try:
        out = ops[(args.lib, args.op)](args)
    except Exception as e:
        out = {"errors": [error_name(e)]}
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
