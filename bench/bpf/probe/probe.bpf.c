// A minimal sockops + sk_msg splice, the reference the bench compares Sockmesh's own programs
// with: IPv4 only, no counters, no configuration map, no network-namespace cookie in the key.
// Sockets whose local or remote port is in [PORT_LO, PORT_HI] go into a SOCKHASH on
// establishment; every send is redirected into the peer socket's receive queue.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define PORT_LO 15000
#define PORT_HI 15099

struct key {
    __u32 sip, dip;
    __u32 sport, dport; // host byte order
};

struct {
    __uint(type, BPF_MAP_TYPE_SOCKHASH);
    __uint(max_entries, 65536);
    __type(key, struct key);
    __type(value, __u32);
} socks SEC(".maps");

static __always_inline int ours(__u32 a, __u32 b)
{
    return (a >= PORT_LO && a <= PORT_HI) || (b >= PORT_LO && b <= PORT_HI);
}

SEC("sockops")
int probe_sockops(struct bpf_sock_ops *ops)
{
    if (ops->family != 2 /* AF_INET */)
        return 1;
    if (ops->op != BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB && ops->op != BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB)
        return 1;
    __u32 lport = ops->local_port;               // host byte order
    __u32 rport = bpf_ntohl(ops->remote_port);   // network byte order in the upper half
    if (!ours(lport, rport))
        return 1;
    struct key k = { .sip = ops->local_ip4, .dip = ops->remote_ip4, .sport = lport, .dport = rport };
    bpf_sock_hash_update(ops, &socks, &k, BPF_NOEXIST);
    return 1;
}

SEC("sk_msg")
int probe_sk_msg(struct sk_msg_md *msg)
{
    if (msg->family != 2)
        return SK_PASS;
    struct key k = {
        .sip = msg->remote_ip4,
        .dip = msg->local_ip4,
        .sport = bpf_ntohl(msg->remote_port),
        .dport = msg->local_port,
    };
    bpf_msg_redirect_hash(msg, &socks, &k, BPF_F_INGRESS);
    return SK_PASS;
}

char LICENSE[] SEC("license") = "GPL";
