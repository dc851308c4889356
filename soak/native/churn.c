/*
 * Process churn for the soak: short-lived children, each one counted from fork to reaped exit status, so
 * the harness can say that every process started was accounted for.
 *
 *   churn storm RATE_PER_S MAX_LIVE COUNTS_FILE   fork RATE_PER_S children a second until SIGTERM
 *   churn burst N COUNTS_FILE                      fork N children at once, then reap them all
 *
 * Each child spins ~200 us of CPU, sleeps ~20 ms (so many are alive at once) and exits 0. COUNTS_FILE is
 * rewritten every second and at exit as one line: "started reaped ok failed". Exit status: 0 when every
 * child started was reaped with status 0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NSEC_PER_SEC 1000000000LL
#define CHILD_SPIN_NS 200000LL
#define CHILD_SLEEP_NS 20000000LL

static volatile sig_atomic_t stopping;
static long long started, reaped, ok, failed;
static const char *counts_path;

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

static void on_term(int sig) {
  (void)sig;
  stopping = 1;
}

static void write_counts(void) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", counts_path);
  FILE *f = fopen(tmp, "w");
  if (!f) return;
  fprintf(f, "%lld %lld %lld %lld\n", started, reaped, ok, failed);
  fclose(f);
  rename(tmp, counts_path);
}

static void child_body(void) {
  long long until = now_ns() + CHILD_SPIN_NS;
  volatile unsigned long x = 0;
  while (now_ns() < until) x++;
  struct timespec nap = {0, CHILD_SLEEP_NS};
  nanosleep(&nap, NULL);
  _exit(0);
}

static int spawn_one(void) {
  pid_t pid = fork();
  if (pid == 0) child_body();
  if (pid < 0) return -1;
  started++;
  return 0;
}

static void account(int status) {
  reaped++;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) ok++;
  else failed++;
}

/* Reaps what has exited; with block set, waits for at least one child. */
static void reap(int block) {
  int status;
  for (;;) {
    pid_t pid = waitpid(-1, &status, block ? 0 : WNOHANG);
    if (pid > 0) {
      account(status);
      block = 0;
      continue;
    }
    if (pid < 0 && errno == EINTR && block) continue;
    return;
  }
}

static void reap_all(void) {
  int status;
  for (;;) {
    pid_t pid = waitpid(-1, &status, 0);
    if (pid > 0) account(status);
    else if (errno != EINTR) return;
  }
}

static int storm(long rate, long max_live) {
  long long interval_ns = rate > 0 ? NSEC_PER_SEC / rate : NSEC_PER_SEC;
  long long next = now_ns(), next_report = next + NSEC_PER_SEC;
  while (!stopping) {
    reap(0);
    long long t = now_ns();
    if (rate > 0 && t >= next) {
      if (started - reaped >= max_live) reap(1);
      else if (spawn_one() == 0) next += interval_ns;
      else reap(1);
      if (next < t - NSEC_PER_SEC) next = t; /* after a long stop, do not fork a backlog at once */
      continue;
    }
    if (t >= next_report) {
      write_counts();
      next_report = t + NSEC_PER_SEC;
    }
    long long wait = (rate > 0 ? next : next_report) - t;
    if (wait > 0) {
      struct timespec nap = {wait / NSEC_PER_SEC, wait % NSEC_PER_SEC};
      nanosleep(&nap, NULL);
    }
  }
  reap_all();
  write_counts();
  return failed == 0 && started == reaped ? 0 : 1;
}

static int burst(long n) {
  for (long i = 0; i < n && !stopping; i++) {
    while (spawn_one() != 0) reap(1); /* out of processes: wait for one to finish */
  }
  reap_all();
  write_counts();
  return failed == 0 && started == reaped && started == n ? 0 : 1;
}

int main(int argc, char **argv) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_term;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  if (argc == 5 && strcmp(argv[1], "storm") == 0) {
    counts_path = argv[4];
    return storm(atol(argv[2]), atol(argv[3]));
  }
  if (argc == 4 && strcmp(argv[1], "burst") == 0) {
    counts_path = argv[3];
    return burst(atol(argv[2]));
  }
  fprintf(stderr, "usage: churn storm RATE_PER_S MAX_LIVE COUNTS_FILE | churn burst N COUNTS_FILE\n");
  return 2;
}
