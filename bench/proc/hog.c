/* A CPU hog that counts its work: spins until a wall-clock deadline, then prints one JSON line with its
   iteration count and CPU time, in all and after an optional warm-up (argv[2] seconds). Compiled by the
   benchmark (gcc), so counts measure work and not a JIT. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>

#define CHUNK 1000000UL

static long cpu_us(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000L + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  double seconds = argc > 1 ? atof(argv[1]) : 5;
  double warmup = argc > 2 ? atof(argv[2]) : 0;
  double start = now_s();
  double deadline = start + seconds;
  long cpu_at_warmup = -1;
  volatile unsigned long sink = 0;
  unsigned long count = 0;
  while (now_s() < deadline) {
    for (unsigned long i = 0; i < CHUNK; i++) sink += i;
    count += CHUNK;
    if (cpu_at_warmup < 0 && now_s() >= start + warmup) cpu_at_warmup = cpu_us();
  }
  long total = cpu_us();
  printf("{\"pid\":%d,\"count\":%lu,\"cpuUs\":%ld,\"cpuAfterWarmupUs\":%ld}\n", (int)getpid(), count, total,
         cpu_at_warmup < 0 ? 0 : total - cpu_at_warmup);
  return 0;
}
