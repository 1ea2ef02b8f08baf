/*
 * clone.c — clone a directory tree, sharing extents where the filesystem can.
 *
 * Each regular file is cloned with ioctl(FICLONE) (XFS with reflink=1,
 * btrfs); when the filesystem refuses, the rest of the tree falls back to
 * copy_file_range(), then to read/write.  The method actually used is
 * reported so an O(size) copy is never mistaken for an O(1) clone.
 */
#include "postgres.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/fs.h>
#include <linux/fiemap.h>

#include "common/file_perm.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "portability/instr_time.h"
#include "storage/fd.h"
#include "storage/latch.h"
#include "utils/memutils.h"
#include "utils/wait_event.h"

#include "clone.h"

typedef enum FileMethod
{
	FILE_FICLONE,
	FILE_COPY_RANGE,
	FILE_READ_WRITE
} FileMethod;

/*
 * One clone's walk.  It makes system calls only (no palloc, no ereport),
 * so that it can run in a thread of its own (BpCloneTreeBegin): the first
 * failure is recorded, what is open is closed, and the walk unwinds.
 */
typedef struct CloneState
{
	FileMethod	next;			/* best method not yet refused */
	BpCloneStats *stats;
	BpCloneFilterFn filter;
	const char *src_root;
	const char *dst_root;
	bool		interruptible;	/* the backend's own thread: stop for its interrupts */
	bool		walking;		/* a tree's walk: a file gone since it was listed is skipped */
	pg_atomic_uint32 *cancel;	/* a thread's: set by the backend to stop it */
	const char *failed;			/* "could not ... file", NULL while all is well */
	bool		not_regular;	/* it failed on what is neither file nor directory */
	char		path[MAXPGPATH];	/* what it failed on */
	int			err;			/* and its errno */
} CloneState;

/* The name of a clone method as reported to users. */
const char *
BpCloneMethodName(BpCloneMethod method)
{
	return method == BP_CLONE_REFLINK ? "reflink" : "copy";
}

/* Does errno say "this filesystem cannot do that", rather than a real error? */
static bool
Unsupported(int err)
{
	return err == EOPNOTSUPP || err == ENOTTY || err == EXDEV ||
		err == EINVAL || err == ENOSYS || err == ENOTSUP;
}

/* Record the walk's first failure (errno as it is); always false. */
static bool
Fail(CloneState *st, const char *failed, const char *path)
{
	if (st->failed == NULL)
	{
		st->err = errno;
		st->failed = failed;
		strlcpy(st->path, path, sizeof(st->path));
	}
	return false;
}

/* Should the walk stop: an interrupt of the backend, or its thread cancelled? */
static bool
Stopped(CloneState *st, const char *path)
{
	if (st->interruptible ? (QueryCancelPending || ProcDiePending) :
		pg_atomic_read_u32(st->cancel) != 0)
	{
		errno = EINTR;
		return !Fail(st, "stopped while cloning", path);
	}
	return false;
}

/* Copy the rest of src into dst with read/write. */
static bool
CopyReadWrite(CloneState *st, int in, int out, const char *src, const char *dst)
{
	const size_t size = 1024 * 1024;
	char	   *buf = malloc(size);	/* not palloc: it may run in a thread */
	bool		ok = true;

	if (buf == NULL)
		return Fail(st, "out of memory copying file", src);
	while (ok)
	{
		ssize_t		n = read(in, buf, size);
		ssize_t		off = 0;

		if (n < 0)
			ok = Fail(st, "could not read file", src);
		if (n <= 0)
			break;
		while (ok && off < n)
		{
			ssize_t		w = write(out, buf + off, n - off);

			if (w < 0)
				ok = Fail(st, "could not write file", dst);
			off += w;
		}
		ok = ok && !Stopped(st, src);
	}
	free(buf);
	return ok;
}

/* Copy src into dst with copy_file_range; false and st->next moved on if refused at once. */
static bool
CopyRange(CloneState *st, int in, int out, const char *src, off_t size)
{
	off_t		left = size;

	while (left > 0)
	{
		ssize_t		n = copy_file_range(in, NULL, out, NULL, left, 0);

		if (n < 0)
		{
			if (Unsupported(errno) && left == size)
			{
				st->next = FILE_READ_WRITE;
				return true;
			}
			return Fail(st, "could not copy file", src);
		}
		if (n == 0)
			break;				/* the file shrank while we copied */
		left -= n;
		if (Stopped(st, src))
			return false;
	}
	return true;
}

/* Clone one regular file with the best method the filesystem accepts. */
static bool
CloneFile(CloneState *st, const char *src, const char *dst, mode_t mode, off_t size)
{
	int			in;
	int			out;
	bool		ok = true;

	/*
	 * Gone since the walk listed it: a running source's checkpoint unlinks
	 * the old files of relations dropped or rewritten before it (TRUNCATE,
	 * VACUUM FULL; their WAL says so), as it may between the lstat and
	 * here; a base backup skips them too.
	 */
	in = open(src, O_RDONLY | O_CLOEXEC | PG_BINARY);
	if (in < 0)
		return (st->walking && errno == ENOENT) || Fail(st, "could not open file", src);
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | PG_BINARY, mode & 0777);
	if (out < 0)
	{
		Fail(st, "could not create file", dst);
		close(in);
		return false;
	}

	/*
	 * An empty file has nothing to share: creating it is all its clone
	 * takes (a sixth of a fresh cluster's files).  A running source may
	 * have grown it since the lstat; a base backup may copy a file at any
	 * moment of the backup, and the WAL from its start redoes the rest.
	 */
	if (size == 0)
		goto done;
	if (st->next == FILE_FICLONE)
	{
		if (ioctl(out, FICLONE, in) == 0)
			goto done;
		if (!Unsupported(errno))
		{
			ok = Fail(st, "could not clone file", src);
			goto done;
		}
		st->next = FILE_COPY_RANGE;
	}
	st->stats->method = BP_CLONE_COPY;
	if (st->next == FILE_COPY_RANGE)
	{
		ok = CopyRange(st, in, out, src, size);
		if (!ok || st->next == FILE_COPY_RANGE)
			goto done;
	}
	ok = CopyReadWrite(st, in, out, src, dst);

done:
	st->stats->files++;
	st->stats->bytes += size;
	if (close(out) != 0 && ok)
		ok = Fail(st, "could not close file", dst);
	close(in);
	return ok;
}

/* Report a walk's failure in the backend, where it may ereport. */
static void
ReportFailure(CloneState *st)
{
	if (st->failed == NULL)
		return;
	CHECK_FOR_INTERRUPTS();		/* an interrupt that stopped it, as itself */
	if (st->not_regular)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot clone \"%s\": not a regular file or directory", st->path),
				 errhint("Timelines with tablespaces or symbolic links are not supported by the local driver.")));
	errno = st->err;
	ereport(ERROR,
			(errcode_for_file_access(),
			 errmsg("%s \"%s\": %m", st->failed, st->path)));
}

static void
InitState(CloneState *st, const char *src, const char *dst, BpCloneFilterFn filter,
		  BpCloneStats *stats)
{
	memset(st, 0, sizeof(*st));
	st->next = FILE_FICLONE;
	st->stats = stats;
	st->filter = filter;
	st->src_root = src;
	st->dst_root = dst;
	st->interruptible = true;
	st->walking = true;
}

/*
 * Clone one regular file src to dst (which must not exist), with the best
 * method the filesystem accepts; stats counts it.
 */
void
BpCloneFile(const char *src, const char *dst, mode_t mode, BpCloneStats *stats)
{
	CloneState	st;
	struct stat sb;

	InitState(&st, src, dst, NULL, stats);
	st.walking = false;
	if (stat(src, &sb) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat file \"%s\": %m", src)));
	(void) CloneFile(&st, src, dst, mode, sb.st_size);
	ReportFailure(&st);
}

static bool CloneDir(CloneState *st, const char *rel);

/* One entry of a directory being cloned (rel relative to the roots). */
static bool
CloneEntry(CloneState *st, const char *relpath)
{
	char		src[MAXPGPATH];
	char		dst[MAXPGPATH];
	struct stat sb;
	BpCloneFilter f;

	snprintf(src, sizeof(src), "%s/%s", st->src_root, relpath);
	snprintf(dst, sizeof(dst), "%s/%s", st->dst_root, relpath);
	if (lstat(src, &sb) != 0)
		return errno == ENOENT || Fail(st, "could not stat file", src);	/* ENOENT: removed
																		 * while we walked a
																		 * running source */
	f = st->filter ? st->filter(relpath, S_ISDIR(sb.st_mode)) : BP_CLONE_KEEP;
	if (f == BP_CLONE_SKIP)
		return true;
	if (S_ISDIR(sb.st_mode))
	{
		if (mkdir(dst, pg_dir_create_mode) != 0)
			return Fail(st, "could not create directory", dst);
		return f != BP_CLONE_KEEP || CloneDir(st, relpath);
	}
	if (S_ISREG(sb.st_mode))
		return !Stopped(st, src) && CloneFile(st, src, dst, sb.st_mode, sb.st_size);
	st->not_regular = st->failed == NULL;
	return Fail(st, "cannot clone", src);
}

/* Clone the directory rel (relative to the roots), recursively. */
static bool
CloneDir(CloneState *st, const char *rel)
{
	char		srcdir[MAXPGPATH];
	DIR		   *dir;
	struct dirent *de;
	bool		ok = true;

	snprintf(srcdir, sizeof(srcdir), "%s%s%s", st->src_root, rel[0] ? "/" : "", rel);
	dir = opendir(srcdir);		/* raw: the walk raises no ERROR (it may run in a thread) */
	if (dir == NULL)
		return Fail(st, "could not open directory", srcdir);
	while (ok && (errno = 0, de = readdir(dir)) != NULL)	/* raw: nor does its loop */
	{
		char		relpath[MAXPGPATH];

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(relpath, sizeof(relpath), "%s%s%s", rel, rel[0] ? "/" : "", de->d_name);
		ok = CloneEntry(st, relpath);
	}
	if (ok && errno != 0)
		ok = Fail(st, "could not read directory", srcdir);
	closedir(dir);				/* raw: on every way out */
	return ok;
}

/* The whole walk: dst (which must not exist), then what src holds. */
static bool
CloneRoot(CloneState *st)
{
	st->stats->method = BP_CLONE_REFLINK;
	st->stats->files = 0;
	st->stats->bytes = 0;
	if (mkdir(st->dst_root, pg_dir_create_mode) != 0)
		return Fail(st, "could not create directory", st->dst_root);
	return CloneDir(st, "");
}

/*
 * Clone the tree at src into dst, which must not exist.  The filter (may be
 * NULL) sees each path relative to src.  Nothing is fsynced here: the caller
 * makes the finished tree durable once with BpSyncTree.
 */
void
BpCloneTree(const char *src, const char *dst, BpCloneFilterFn filter,
			BpCloneStats *stats)
{
	CloneState	st;

	InitState(&st, src, dst, filter, stats);
	(void) CloneRoot(&st);
	ReportFailure(&st);
}

/* A clone in a thread of its own: what it was given, and what it did. */
struct BpCloneJob
{
	pthread_t	thread;
	bool		threaded;		/* false: it ran at once in the backend */
	CloneState	st;
	BpCloneStats stats;
	char		src[MAXPGPATH];
	char		dst[MAXPGPATH];
	pg_atomic_uint32 cancel;
	pg_atomic_uint32 done;
	instr_time	began;
	double		ms;				/* its own time, start to end */
};

static void *
CloneThread(void *arg)
{
	BpCloneJob *job = arg;
	instr_time	end;

	(void) CloneRoot(&job->st);
	INSTR_TIME_SET_CURRENT(end);
	INSTR_TIME_SUBTRACT(end, job->began);
	job->ms = INSTR_TIME_GET_MILLISEC(end);
	pg_memory_barrier();		/* what it did, before it says so */
	pg_atomic_write_u32(&job->done, 1);
	return NULL;
}

/*
 * Begin cloning src into dst (as BpCloneTree) in a thread of its own, so
 * that the backend can go on meanwhile; BpCloneTreeEnd waits for it, and
 * BpCloneTreeAbandon stops it.  Every signal is blocked in the thread: the
 * backend's handlers run in the backend's thread only.  If no thread can
 * be made, the clone runs here and now.
 */
BpCloneJob *
BpCloneTreeBegin(const char *src, const char *dst, BpCloneFilterFn filter)
{
	BpCloneJob *job = MemoryContextAllocZero(TopMemoryContext, sizeof(BpCloneJob));
	sigset_t	all;
	sigset_t	old;

	strlcpy(job->src, src, sizeof(job->src));
	strlcpy(job->dst, dst, sizeof(job->dst));
	InitState(&job->st, job->src, job->dst, filter, &job->stats);
	job->st.interruptible = false;
	job->st.cancel = &job->cancel;
	pg_atomic_init_u32(&job->cancel, 0);
	pg_atomic_init_u32(&job->done, 0);
	INSTR_TIME_SET_CURRENT(job->began);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	job->threaded = pthread_create(&job->thread, NULL, CloneThread, job) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!job->threaded)
		(void) CloneThread(job);
	return job;
}

/* Wait for the thread to end (none: it ran already). */
static void
Join(BpCloneJob *job)
{
	if (job->threaded)
		pthread_join(job->thread, NULL);
	job->threaded = false;
}

/*
 * Wait for a clone begun with BpCloneTreeBegin; its statistics and its own
 * time (ms) out, its failure raised here.  The wait answers interrupts:
 * then the clone is stopped first.
 */
void
BpCloneTreeEnd(BpCloneJob *job, BpCloneStats *stats, double *ms)
{
	CloneState	st;

	PG_TRY();
	{
		while (pg_atomic_read_u32(&job->done) == 0)
		{
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 1,
							 PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
	}
	PG_CATCH();
	{
		BpCloneTreeAbandon(job);
		PG_RE_THROW();
	}
	PG_END_TRY();
	Join(job);
	*stats = job->stats;
	*ms = job->ms;
	st = job->st;
	pfree(job);
	st.interruptible = true;
	ReportFailure(&st);
}

/*
 * Stop a clone begun with BpCloneTreeBegin and wait for it (on the way
 * out of an error: it raises none).  What it cloned stays for the caller
 * to remove.
 */
void
BpCloneTreeAbandon(BpCloneJob *job)
{
	pg_atomic_write_u32(&job->cancel, 1);
	Join(job);
	pfree(job);
}

/* Remove a tree; a missing tree is not an error. */
void
BpRemoveTree(const char *path)
{
	struct stat sb;

	if (lstat(path, &sb) != 0 && errno == ENOENT)
		return;
	if (!rmtree(path, true))
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not remove directory \"%s\"", path)));
}

/* Bytes of fd's extents that are shared with other files (FIEMAP). */
static uint64
SharedBytes(int fd)
{
	union
	{
		struct fiemap map;
		char		buf[sizeof(struct fiemap) + 64 * sizeof(struct fiemap_extent)];
	}			u;
	uint64		start = 0;
	uint64		shared = 0;

	for (;;)
	{
		bool		last = false;

		memset(&u, 0, sizeof(u));
		u.map.fm_start = start;
		u.map.fm_length = FIEMAP_MAX_OFFSET - start;
		u.map.fm_extent_count = 64;
		if (ioctl(fd, FS_IOC_FIEMAP, &u.map) != 0 || u.map.fm_mapped_extents == 0)
			return shared;
		for (uint32 i = 0; i < u.map.fm_mapped_extents; i++)
		{
			struct fiemap_extent *e = &u.map.fm_extents[i];

			if (e->fe_flags & FIEMAP_EXTENT_SHARED)
				shared += e->fe_length;
			start = e->fe_logical + e->fe_length;
			last |= (e->fe_flags & FIEMAP_EXTENT_LAST) != 0;
		}
		if (last)
			return shared;
	}
}

/*
 * Bytes allocated under path, and how many of them sit in extents shared
 * with other files (reflink clones); shared stays 0 where the filesystem
 * cannot tell.
 */
void
BpTreeUsage(const char *path, uint64 *bytes, uint64 *shared)
{
	DIR		   *dir;
	struct dirent *de;

	dir = AllocateDir(path);
	while ((de = ReadDirExtended(dir, path, LOG)) != NULL)
	{
		char		p[MAXPGPATH];
		struct stat sb;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", path, de->d_name);
		if (lstat(p, &sb) != 0)
			continue;
		if (S_ISDIR(sb.st_mode))
			BpTreeUsage(p, bytes, shared);
		else if (S_ISREG(sb.st_mode))
		{
			int			fd = OpenTransientFile(p, O_RDONLY | PG_BINARY);

			*bytes += (uint64) sb.st_blocks * 512;
			if (fd >= 0)
			{
				uint64		sh = SharedBytes(fd);	/* once: Min() evaluates twice */

				*shared += Min(sh, (uint64) sb.st_blocks * 512);
				CloseTransientFile(fd);
			}
		}
	}
	if (dir)
		FreeDir(dir);
}

/*
 * Make everything written under path durable: one syncfs() of its
 * filesystem, which costs what is dirty rather than one fsync per file.
 */
void
BpSyncTree(const char *path)
{
	int			fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);

	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open \"%s\": %m", path)));
	/* ERROR, not PANIC: the new timeline is not committed yet, and its
	 * directory is removed by the reconciler when the transaction aborts */
	if (syncfs(fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not synchronize file system for \"%s\": %m", path)));
	CloseTransientFile(fd);
}
