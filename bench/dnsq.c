/* Sequential DNS A queries to one server; prints the median and p99 latency in
 * microseconds. Run inside a container's network namespace (nsenter --net=...).
 * usage: dnsq SERVER_IP COUNT NAME... */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char** argv) {
  if (argc < 4) return 2;
  int count = atoi(argv[2]);
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(53)};
  inet_pton(AF_INET, argv[1], &a.sin_addr);
  if (connect(s, (struct sockaddr*)&a, sizeof a) != 0) return perror("connect"), 1;
  struct timeval tv = {.tv_sec = 2};
  setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  double* lat = calloc(count, sizeof *lat);
  int ok = 0, failed = 0;
  for (int i = 0; i < count; ++i) {
    const char* name = argv[3 + i % (argc - 3)];
    unsigned char q[512] = {(unsigned char)(i >> 8), (unsigned char)i, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0};
    size_t n = 12;
    for (const char* p = name; *p;) {
      const char* dot = strchr(p, '.');
      size_t len = dot ? (size_t)(dot - p) : strlen(p);
      q[n++] = (unsigned char)len;
      memcpy(q + n, p, len);
      n += len;
      p += len + (dot ? 1 : 0);
    }
    q[n++] = 0;
    q[n++] = 0, q[n++] = 1, q[n++] = 0, q[n++] = 1;
    unsigned char r[1500];
    double t0 = now_us();
    send(s, q, n, 0);
    ssize_t got = recv(s, r, sizeof r, 0);
    double t1 = now_us();
    /* An answer with at least one record counts. */
    if (got > 12 && r[0] == q[0] && r[1] == q[1] && (r[6] | r[7]) != 0) {
      lat[ok++] = t1 - t0;
    } else {
      ++failed;
    }
  }
  if (ok == 0) return fprintf(stderr, "no answers\n"), 1;
  qsort(lat, ok, sizeof *lat, cmp);
  printf("%.0f %.0f %d\n", lat[ok / 2], lat[(int)(ok * 0.99)], failed);
  return 0;
}
