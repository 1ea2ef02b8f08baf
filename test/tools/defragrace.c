/*
 * defragrace — defrag.c's rewrite against a writer, for TAP 021.
 *
 *   defragrace DIR MODE
 *
 * Makes DIR/pgdata/base/1/1000 (16 MB), clones it (FICLONE) so that its
 * blocks are shared, and fragments it with 2,000 random 8 kB writes.  Then
 * BpDefragTree(min 100) on DIR/pgdata, with a thread writing meanwhile:
 *
 *   quiet   no writer: the file must be rewritten (1 rewritten, 0 busy)
 *   busy    a writer that never pauses: every swap must be refused (0
 *           rewritten, >= 1 busy) and the file keep its extents
 *   bursts  writes in bursts with pauses, rewrites (the file shared again
 *           every other round) until one was refused and one done
 *
 * In every mode each block must end with the last value the writer (or the
 * set-up) wrote to it.  Prints "rewritten R busy B wrong W extents E" and
 * exits 0 only if the mode's expectation held.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "defrag.h"

#define BLOCKS 2048				/* 16 MB of 8 kB blocks */

static uint64_t last[BLOCKS];
static volatile int stop;
static int bursts;
static int fd;

static void
Die(const char *what)
{
	perror(what);
	exit(2);
}

static void
WriteBlock(int b, uint64_t v)
{
	char		buf[8192];

	memset(buf, 0, sizeof(buf));
	memcpy(buf, &v, sizeof(v));
	if (pwrite(fd, buf, sizeof(buf), (off_t) b * 8192) != (ssize_t) sizeof(buf))
		Die("pwrite");
	last[b] = v;
}

static void *
Writer(void *arg)
{
	uint64_t	v = 1u << 20;
	unsigned	seed = 7;

	(void) arg;
	while (!stop)
	{
		WriteBlock(rand_r(&seed) % BLOCKS, v++);
		if (bursts && v % 20 == 0)
			usleep(20000 + (v % 13) * 1000);
	}
	return NULL;
}

static uint64_t
Extents(const char *path)
{
	BpDefragStats st;
	char		err[256];

	(void) path;
	if (BpDefragTree(path, UINT64_MAX, 1, 0, NULL, &st, err, sizeof(err)) != 0)
	{
		fprintf(stderr, "count: %s\n", err);
		exit(2);
	}
	return st.extents;
}

int
main(int argc, char **argv)
{
	char		path[4096];
	char		file[4200];
	char		clone[4200];
	int			cfd;
	unsigned	seed = 1;
	pthread_t	th;
	BpDefragStats st = {0};
	uint64_t	rewritten = 0;
	uint64_t	busy = 0;
	int			wrong = 0;
	int			rounds;
	const char *mode;

	if (argc != 3)
	{
		fprintf(stderr, "usage: defragrace DIR quiet|busy|bursts\n");
		return 2;
	}
	mode = argv[2];
	snprintf(path, sizeof(path), "%s/pgdata", argv[1]);
	snprintf(file, sizeof(file), "%s/global", path);
	if (mkdir(path, 0700) != 0 || mkdir(file, 0700) != 0)
		Die("mkdir");
	snprintf(file, sizeof(file), "%s/base", path);
	if (mkdir(file, 0700) != 0)
		Die("mkdir base");
	snprintf(file, sizeof(file), "%s/base/1", path);
	if (mkdir(file, 0700) != 0)
		Die("mkdir base/1");
	snprintf(file, sizeof(file), "%s/base/1/1000", path);
	snprintf(clone, sizeof(clone), "%s/clone", argv[1]);
	if ((fd = open(file, O_RDWR | O_CREAT | O_EXCL, 0600)) < 0)
		Die("open");
	for (int b = 0; b < BLOCKS; b++)
		WriteBlock(b, (uint64_t) b + 1);
	if (fsync(fd) != 0)
		Die("fsync");
	if ((cfd = open(clone, O_WRONLY | O_CREAT | O_EXCL, 0600)) < 0 || ioctl(cfd, FICLONE, fd) != 0)
		Die("FICLONE");
	close(cfd);
	for (int i = 0; i < 2000; i++)
		WriteBlock(rand_r(&seed) % BLOCKS, 1000000 + i);
	if (fsync(fd) != 0)
		Die("fsync");

	rounds = strcmp(mode, "bursts") == 0 ? 3000 : 1;	/* bursts: until both were seen */
	bursts = strcmp(mode, "bursts") == 0;
	if (strcmp(mode, "quiet") != 0 && pthread_create(&th, NULL, Writer, NULL) != 0)
		Die("pthread_create");
	if (strcmp(mode, "busy") == 0)
		usleep(50000);
	for (int r = 0; r < rounds; r++)
	{
		char		err[256];

		if (BpDefragTree(path, 100, 0, 0, NULL, &st, err, sizeof(err)) != 0)
		{
			fprintf(stderr, "defrag: %s\n", err);
			return 2;
		}
		rewritten += st.rewritten;
		busy += st.busy;
		if (bursts && rewritten >= 1 && busy >= 1)
			break;
		if (bursts && r % 2 == 0)	/* share it again, so that writes fragment it */
		{
			unlink(clone);
			if ((cfd = open(clone, O_WRONLY | O_CREAT | O_EXCL, 0600)) < 0 || ioctl(cfd, FICLONE, fd) != 0)
				Die("FICLONE");
			close(cfd);
		}
	}
	stop = 1;
	if (strcmp(mode, "quiet") != 0)
		pthread_join(th, NULL);
	for (int b = 0; b < BLOCKS; b++)
	{
		uint64_t	v = 0;

		if (pread(fd, &v, sizeof(v), (off_t) b * 8192) != (ssize_t) sizeof(v))
			Die("pread");
		wrong += v != last[b];
	}
	printf("rewritten %llu busy %llu wrong %d extents %llu\n", (unsigned long long) rewritten,
		   (unsigned long long) busy, wrong, (unsigned long long) Extents(path));
	if (wrong)
		return 1;
	if (strcmp(mode, "quiet") == 0)
		return rewritten == 1 && busy == 0 ? 0 : 1;
	if (strcmp(mode, "busy") == 0)
		return rewritten == 0 && busy >= 1 ? 0 : 1;
	return rewritten >= 1 && busy >= 1 ? 0 : 1;
}
