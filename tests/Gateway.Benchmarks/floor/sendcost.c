/*
 * The floor under any WebSocket fan-out on this machine: what it costs the kernel to send one small
 * frame to each of N loopback TCP sockets, with no gateway at all. One process accepts N connections
 * and, R times, writes a 20-byte WebSocket text frame to every socket from T threads; a second
 * process reads them all with epoll. Prints wall and CPU time per round for the sender and the
 * reader's CPU per delivery. (C, so that no runtime of ours is in the figure.)
 *
 *   gcc -O2 -pthread -o /tmp/sendcost-floor tests/Gateway.Benchmarks/floor/sendcost.c
 *   /tmp/sendcost-floor 10000 20 2      # sockets (one process each side), rounds, sender threads
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FRAME 20

static int *sockets;
static int count;
static int threads;
static char frame[FRAME];

static double ms(clockid_t clock)
{
    struct timespec t;
    clock_gettime(clock, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void *send_share(void *arg)
{
    long part = (long)arg;
    for (int i = (int)(count * part / threads); i < (int)(count * (part + 1) / threads); i++) {
        if (send(sockets[i], frame, FRAME, 0) != FRAME) {
            perror("send");
            exit(1);
        }
    }
    return NULL;
}

static void read_all(struct sockaddr_in *address, int rounds)
{
    int poll = epoll_create1(0);
    for (int i = 0; i < count; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(fd, (struct sockaddr *)address, sizeof *address) != 0) {
            perror("connect");
            exit(1);
        }
        struct epoll_event event = { .events = EPOLLIN, .data.fd = fd };
        epoll_ctl(poll, EPOLL_CTL_ADD, fd, &event);
    }

    long received = 0, expected = (long)count * rounds * FRAME;
    char buffer[4096];
    struct epoll_event events[512];
    double cpu = ms(CLOCK_PROCESS_CPUTIME_ID);
    while (received < expected) {
        int ready = epoll_wait(poll, events, 512, 10000);
        if (ready <= 0) {
            fprintf(stderr, "reader: stalled at %ld of %ld bytes\n", received, expected);
            exit(1);
        }
        for (int i = 0; i < ready; i++) {
            ssize_t n = recv(events[i].data.fd, buffer, sizeof buffer, 0);
            if (n > 0) {
                received += n;
            }
        }
    }
    cpu = ms(CLOCK_PROCESS_CPUTIME_ID) - cpu;
    printf("reader: %.2f us cpu per delivery\n", cpu * 1000 / ((double)count * rounds));
    exit(0);
}

int main(int argc, char **argv)
{
    count = argc > 1 ? atoi(argv[1]) : 9000;
    int rounds = argc > 2 ? atoi(argv[2]) : 20;
    threads = argc > 3 ? atoi(argv[3]) : 2;
    int one = 1;
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = 0 };
    inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
    socklen_t length = sizeof address;
    if (bind(listener, (struct sockaddr *)&address, sizeof address) != 0 || listen(listener, 4096) != 0
        || getsockname(listener, (struct sockaddr *)&address, &length) != 0) {
        perror("listen");
        return 1;
    }

    fflush(stdout);
    pid_t reader = fork();
    if (reader == 0) {
        read_all(&address, rounds);
    }

    sockets = calloc(count, sizeof *sockets);
    for (int i = 0; i < count; i++) {
        sockets[i] = accept(listener, NULL, NULL);
        setsockopt(sockets[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }

    frame[0] = (char)0x81; /* FIN, text */
    frame[1] = FRAME - 2;
    memset(frame + 2, 'x', FRAME - 2);
    usleep(300 * 1000); /* let the reader settle into epoll_wait: every round starts from idle */

    double wall = 0, cpu = 0;
    for (int r = 0; r < rounds; r++) {
        double wall0 = ms(CLOCK_MONOTONIC), cpu0 = ms(CLOCK_PROCESS_CPUTIME_ID);
        pthread_t workers[64];
        for (long t = 0; t < threads && t < 64; t++) {
            pthread_create(&workers[t], NULL, send_share, (void *)t);
        }
        for (int t = 0; t < threads && t < 64; t++) {
            pthread_join(workers[t], NULL);
        }
        wall += ms(CLOCK_MONOTONIC) - wall0;
        cpu += ms(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
        usleep(250 * 1000); /* rounds apart, as sends at 4/s */
    }

    printf("sender: %d sockets, %d threads: %.1f ms wall and %.1f ms cpu per round, %.2f us cpu per send\n",
           count, threads, wall / rounds, cpu / rounds, cpu * 1000 / rounds / count);
    fflush(stdout);
    int status;
    waitpid(reader, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
