// Loads probe.bpf.o, attaches the sockops program to a cgroup (a link: gone when this process
// exits) and the sk_msg program to the SOCKHASH, prints "attached", and waits for SIGTERM.
//     probe OBJECT CGROUP_DIR
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s OBJECT CGROUP_DIR\n", argv[0]);
        return 2;
    }
    struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
    if (!obj || bpf_object__load(obj)) {
        fprintf(stderr, "cannot load %s\n", argv[1]);
        return 1;
    }
    int cg = open(argv[2], O_RDONLY | O_DIRECTORY);
    if (cg < 0) {
        perror(argv[2]);
        return 1;
    }
    struct bpf_program *ops = bpf_object__find_program_by_name(obj, "probe_sockops");
    struct bpf_program *msg = bpf_object__find_program_by_name(obj, "probe_sk_msg");
    int map = bpf_object__find_map_fd_by_name(obj, "socks");
    if (!ops || !msg || map < 0) {
        fprintf(stderr, "programs or map missing in %s\n", argv[1]);
        return 1;
    }
    struct bpf_link *link = bpf_program__attach_cgroup(ops, cg);
    if (!link) {
        fprintf(stderr, "cannot attach sockops to %s\n", argv[2]);
        return 1;
    }
    if (bpf_prog_attach(bpf_program__fd(msg), map, BPF_SK_MSG_VERDICT, 0)) {
        perror("attach sk_msg");
        return 1;
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    printf("attached\n");
    fflush(stdout);
    while (!stop)
        pause();
    bpf_prog_detach2(bpf_program__fd(msg), map, BPF_SK_MSG_VERDICT);
    bpf_link__destroy(link);
    bpf_object__close(obj);
    return 0;
}
