/*
 * defrag.c — rewriting fragmented relation files in place (XFS).
 *
 * A reflink clone costs per extent (about 11 µs each here), and every
 * write to a block that a snapshot shares leaves the writer a new extent.
 * A prod that takes random writes after each snapshot ends up with tens of
 * thousands of them, and every later snapshot, preview and rollback clones
 * them all.  Rewriting such a file as one contiguous copy puts it back to a
 * few extents; the snapshots keep the old blocks they share.
 *
 * The rewrite is XFS's own online defragmentation step (what xfs_fsr
 * does): copy the file into an unnamed temporary file beside it, then
 * XFS_IOC_SWAPEXT, which swaps the two files' extents in one transaction
 * only if the file's change and modification times are still those seen
 * before the copy.  A write in between makes it refuse (EBUSY): the file is
 * counted busy and left as it was.  The file keeps its inode, so a server
 * that has it open goes on with it.  With multigrain timestamps (Linux
 * 6.13+) a write after the times were looked at always changes them;
 * before that, a write within the same clock tick could go unseen, so a
 * running server's files are rewritten only on such kernels
 * (BpDefragOnlineSafe).
 *
 * System calls only (no palloc, no ereport): branchpromote_helper links it
 * to rewrite files it owns as the compute user.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <linux/fiemap.h>
#include <linux/fs.h>

#include "defrag.h"

/* XFS_IOC_SWAPEXT's argument (xfs_fs.h, a stable ABI; xfslibs-dev not needed). */
struct bp_xfs_bstime
{
	long		tv_sec;
	int32_t		tv_nsec;
};

struct bp_xfs_bstat
{
	uint64_t	bs_ino;
	uint16_t	bs_mode;
	uint16_t	bs_nlink;
	uint32_t	bs_uid;
	uint32_t	bs_gid;
	uint32_t	bs_rdev;
	int32_t		bs_blksize;
	int64_t		bs_size;
	struct bp_xfs_bstime bs_atime;
	struct bp_xfs_bstime bs_mtime;
	struct bp_xfs_bstime bs_ctime;
	int64_t		bs_blocks;
	uint32_t	bs_xflags;
	int32_t		bs_extsize;
	int32_t		bs_extents;
	uint32_t	bs_gen;
	uint16_t	bs_projid_lo;
	uint16_t	bs_forkoff;
	uint16_t	bs_projid_hi;
	uint16_t	bs_sick;
	uint16_t	bs_checked;
	unsigned char bs_pad[2];
	uint32_t	bs_cowextsize;
	uint32_t	bs_dmevmask;
	uint16_t	bs_dmstate;
	uint16_t	bs_aextents;
};

struct bp_xfs_swapext
{
	int64_t		sx_version;
	int64_t		sx_fdtarget;
	int64_t		sx_fdtmp;
	int64_t		sx_offset;
	int64_t		sx_length;
	char		sx_pad[16];
	struct bp_xfs_bstat sx_stat;
};

#define BP_XFS_IOC_SWAPEXT _IOWR('X', 109, struct bp_xfs_swapext)

#define CHUNK (1024 * 1024)
#define GIB ((uint64_t) 1024 * 1024 * 1024)
#define XFS_MAGIC 0x58465342	/* statfs f_type of XFS */

_Static_assert(sizeof(struct bp_xfs_swapext) == 192, "struct xfs_swapext is 192 bytes on LP64");

typedef struct Walk
{
	uint64_t	min_extents;
	int			dry;
	volatile sig_atomic_t *stop;
	struct timespec deadline;	/* tv_sec 0: none */
	BpDefragStats *st;
	char	   *buf;			/* CHUNK bytes */
	char	   *err;
	size_t		errlen;
} Walk;

/* out = a/b; -1 if it does not fit. */
static int
Join(char *out, size_t n, const char *a, const char *b)
{
	int			r = snprintf(out, n, "%s/%s", a, b);

	return r < 0 || (size_t) r >= n ? -1 : 0;
}

int
BpDefragOnlineSafe(void)
{
	struct utsname u;
	int			major = 0;
	int			minor = 0;

	if (uname(&u) != 0 || sscanf(u.release, "%d.%d", &major, &minor) != 2)
		return 0;
	return major > 6 || (major == 6 && minor >= 13);
}

/* How many extents fd's data has (FIEMAP's count), or 0 if it cannot tell. */
static uint64_t
Extents(int fd)
{
	struct fiemap map;

	memset(&map, 0, sizeof(map));
	map.fm_length = FIEMAP_MAX_OFFSET;
	map.fm_extent_count = 0;	/* count only */
	if (ioctl(fd, FS_IOC_FIEMAP, &map) != 0)
		return 0;
	return map.fm_mapped_extents;
}

/* Asked to stop, or past the deadline? */
static int
Stopping(const Walk *w)
{
	struct timespec now;

	if (w->stop && *w->stop)
		return 1;
	if (w->deadline.tv_sec == 0)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > w->deadline.tv_sec ||
		(now.tv_sec == w->deadline.tv_sec && now.tv_nsec >= w->deadline.tv_nsec);
}

/* Copy fd's size bytes into tmp; 0, or -1 (errno set; EINTR when stopping). */
static int
CopyInto(Walk *w, int fd, int tmp, off_t size)
{
	for (off_t off = 0; off < size;)
	{
		size_t		want = (size - off) < CHUNK ? (size_t) (size - off) : CHUNK;
		ssize_t		n;

		if (Stopping(w))
		{
			errno = EINTR;
			return -1;
		}
		n = pread(fd, w->buf, want, off);
		if (n <= 0)
		{
			if (n == 0)
				errno = EIO;	/* shorter than it was: it changed */
			return -1;
		}
		if (pwrite(tmp, w->buf, (size_t) n, off) != n)
		{
			if (errno == EINTR)
				errno = EIO;	/* not ours to stop on */
			return -1;
		}
		off += n;
	}
	return fdatasync(tmp);
}

/*
 * Copy fd (path's, sb its stat) into a new file beside it and swap that in,
 * unless it was written meanwhile.  1 when stopping, else 0 (counted).
 */
static int
Rewrite(Walk *w, int fd, const char *path, const struct stat *sb)
{
	char		dir[4096];
	char	   *slash;
	struct statvfs vfs;
	uint64_t	keep;
	struct bp_xfs_swapext sx;
	int			tmp;
	int			rc = 0;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';

	/*
	 * Room for the copy, and after it still a tenth of the filesystem (at
	 * least 1 GiB) for the servers' WAL: the old blocks stay with the
	 * snapshots that share them, so a copy is not given back.
	 */
	if (statvfs(dir, &vfs) != 0)
	{
		w->st->skipped++;
		return 0;
	}
	keep = (uint64_t) vfs.f_blocks * vfs.f_frsize / 10;
	if (keep < GIB)
		keep = GIB;
	if ((uint64_t) vfs.f_bavail * vfs.f_frsize < (uint64_t) sb->st_size + keep)
	{
		w->st->skipped++;		/* no room for the copy */
		return 0;
	}

	tmp = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (tmp < 0)
	{
		w->st->skipped++;
		return 0;
	}
	if (fallocate(tmp, 0, 0, sb->st_size) != 0)
		w->st->skipped++;
	else if (CopyInto(w, fd, tmp, sb->st_size) != 0)
	{
		if (errno == EINTR)
			rc = 1;
		else
			w->st->skipped++;
	}
	else
	{
		/* the times seen before the copy: the swap refuses if they moved */
		memset(&sx, 0, sizeof(sx));
		sx.sx_version = 0;
		sx.sx_fdtarget = fd;
		sx.sx_fdtmp = tmp;
		sx.sx_offset = 0;
		sx.sx_length = sb->st_size;
		sx.sx_stat.bs_mtime.tv_sec = sb->st_mtim.tv_sec;
		sx.sx_stat.bs_mtime.tv_nsec = (int32_t) sb->st_mtim.tv_nsec;
		sx.sx_stat.bs_ctime.tv_sec = sb->st_ctim.tv_sec;
		sx.sx_stat.bs_ctime.tv_nsec = (int32_t) sb->st_ctim.tv_nsec;
		if (ioctl(fd, BP_XFS_IOC_SWAPEXT, &sx) != 0)
		{
			if (errno == EBUSY)
				w->st->busy++;
			else
				w->st->skipped++;
		}
		else
		{
			(void) fsync(fd);
			w->st->rewritten++;
			w->st->bytes += (uint64_t) sb->st_size;
		}
	}
	close(tmp);					/* the old extents go with it (or stay shared) */
	return rc;
}

/* Count one file's extents; rewrite it if it has too many.  1 when stopping. */
static int
DefragFile(Walk *w, const char *path)
{
	int			fd;
	struct stat sb;
	uint64_t	extents;
	int			rc = 0;

	/* O_NONBLOCK: a FIFO planted here must not hang us (no effect on files) */
	fd = open(path, (w->dry ? O_RDONLY : O_RDWR) | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return 0;				/* gone (dropped, truncated away) or not ours */
	if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0)
	{
		extents = Extents(fd);
		w->st->files++;
		w->st->extents += extents;
		if (extents > w->min_extents)
		{
			w->st->over++;
			if (!w->dry)
				rc = Rewrite(w, fd, path, &sb);
		}
	}
	close(fd);
	return rc;
}

/*
 * each(w, dir/<entry>) for every entry of dir whose name starts with a
 * digit (relation files are <relfilenode>[_fork][.segment], database
 * directories <oid>).  Returns 0; 1 when stopping (each's 1, or the stop
 * and deadline); -1 with err set if dir cannot be read (or each's -1).
 * A dir that does not exist is fine unless must_exist.
 */
static int
ForEachEntry(Walk *w, const char *dir, int must_exist, int (*each) (Walk *, const char *))
{
	DIR		   *d = opendir(dir);	/* raw: no ERROR can be raised while it is open */
	struct dirent *de;
	int			rc = 0;

	if (d == NULL)
	{
		if (!must_exist && errno == ENOENT)
			return 0;
		snprintf(w->err, w->errlen, "could not open directory \"%s\": %s", dir, strerror(errno));
		return -1;
	}
	while (rc == 0 && (de = readdir(d)) != NULL)	/* raw: as above */
	{
		char		p[4096];

		if (Stopping(w))
			rc = 1;
		else if (isdigit((unsigned char) de->d_name[0]) && Join(p, sizeof(p), dir, de->d_name) == 0)
			rc = each(w, p);
	}
	closedir(d);				/* raw: as above */
	return rc;
}

/* The files of one database directory (dropped meanwhile: nothing). */
static int
DefragDatabase(Walk *w, const char *dir)
{
	return ForEachEntry(w, dir, 0, DefragFile);
}

int
BpDefragSupported(const char *pgdata)
{
	struct statfs fs;

	return statfs(pgdata, &fs) == 0 && (unsigned long) fs.f_type == XFS_MAGIC;
}

int
BpDefragTree(const char *pgdata, uint64_t min_extents, int dry, int timeout_ms,
			 volatile sig_atomic_t *stop, BpDefragStats *st, char *err, size_t errlen)
{
	Walk		w = {min_extents, dry, stop, {0, 0}, st, NULL, err, errlen};
	char		path[4096];
	int			rc;

	memset(st, 0, sizeof(*st));
	err[0] = '\0';
	if (timeout_ms > 0)
	{
		clock_gettime(CLOCK_MONOTONIC, &w.deadline);
		w.deadline.tv_sec += timeout_ms / 1000;
		w.deadline.tv_nsec += (long) (timeout_ms % 1000) * 1000000;
		if (w.deadline.tv_nsec >= 1000000000)
		{
			w.deadline.tv_sec++;
			w.deadline.tv_nsec -= 1000000000;
		}
	}
	if (Join(path, sizeof(path), pgdata, "global") != 0)
	{
		snprintf(err, errlen, "the path is too long");
		return -1;
	}
	if (!dry && (w.buf = malloc(CHUNK)) == NULL)
	{
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	rc = ForEachEntry(&w, path, 1, DefragFile);
	(void) Join(path, sizeof(path), pgdata, "base");	/* no longer than global */
	if (rc == 0)
		rc = ForEachEntry(&w, path, 1, DefragDatabase);
	free(w.buf);
	return rc;
}
