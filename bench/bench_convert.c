/*
 * Runs a command several times and prints its median wall-clock time, its
 * median CPU time (user + system) and its peak resident memory (the
 * child's ru_maxrss), for bench/convert:
 *   bench_convert [-n RUNS] [-l LABEL] [-o FILE] -- COMMAND [ARG]...
 * prints "LABEL  <wall> s  <cpu> s  <peak> MiB"; -o sends the command's
 * standard output to FILE. Exit 1 when the command fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Orders doubles. */
static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	int runs = 3, i = 1;
	const char *label = "", *out = NULL;
	double t[64], cpu[64];
	long peak = 0;

	for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
			runs = (int)strtol(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "-l") == 0 && i + 1 < argc)
			label = argv[++i];
		else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
			out = argv[++i];
	}
	if (i + 1 >= argc || runs < 1 || runs > 64) {
		fprintf(
		    stderr,
		    "usage: bench_convert [-n RUNS] [-l LABEL] [-o FILE] -- COMMAND [ARG]...\n");
		return 2;
	}
	for (int r = 0; r < runs; r++) {
		struct timespec a, b;
		struct rusage ru;
		int status;
		pid_t pid;

		clock_gettime(CLOCK_MONOTONIC, &a);
		pid = fork();
		if (pid == 0) {
			if (out && freopen(out, "w", stdout) == NULL) {
				perror(out);
				_exit(127);
			}
			execvp(argv[i + 1], argv + i + 1);
			perror(argv[i + 1]);
			_exit(127);
		}
		if (pid < 0 || wait4(pid, &status, 0, &ru) < 0) {
			perror("fork");
			return 1;
		}
		clock_gettime(CLOCK_MONOTONIC, &b);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "bench_convert: %s failed (status %d)\n", argv[i + 1],
				WIFEXITED(status) ? WEXITSTATUS(status) : -1);
			return 1;
		}
		t[r] = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
		cpu[r] = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
			 (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
		if (ru.ru_maxrss > peak)
			peak = ru.ru_maxrss;
	}
	qsort(t, (size_t)runs, sizeof *t, cmp);
	qsort(cpu, (size_t)runs, sizeof *cpu, cmp);
	printf("%-34s %8.3f s %8.3f s %9.1f MiB\n", label, t[runs / 2], cpu[runs / 2],
	       (double)peak / 1024.0);
	return 0;
}
