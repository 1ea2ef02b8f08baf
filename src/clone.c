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
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/fs.h>
#include <linux/fiemap.h>

#include "common/file_perm.h"
#include "miscadmin.h"
#include "storage/fd.h"

#include "clone.h"

typedef enum FileMethod
{
	FILE_FICLONE,
	FILE_COPY_RANGE,
	FILE_READ_WRITE
} FileMethod;

typedef struct CloneState
{
	FileMethod	next;			/* best method not yet refused */
	BpCloneStats *stats;
	BpCloneFilterFn filter;
	const char *src_root;
	const char *dst_root;
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

/* Copy the rest of src into dst with read/write. */
static void
CopyReadWrite(int in, int out, const char *src, const char *dst)
{
	char	   *buf = palloc(1024 * 1024);

	for (;;)
	{
		ssize_t		n = read(in, buf, 1024 * 1024);
		ssize_t		off = 0;

		if (n < 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read file \"%s\": %m", src)));
		if (n == 0)
			break;
		while (off < n)
		{
			ssize_t		w = write(out, buf + off, n - off);

			if (w < 0)
				ereport(ERROR,
						(errcode_for_file_access(),
						 errmsg("could not write file \"%s\": %m", dst)));
			off += w;
		}
		CHECK_FOR_INTERRUPTS();
	}
	pfree(buf);
}

/* Clone one regular file with the best method the filesystem accepts. */
static void
CloneFile(CloneState *st, const char *src, const char *dst, mode_t mode, off_t size)
{
	int			in;
	int			out;

	in = OpenTransientFile(src, O_RDONLY | PG_BINARY);
	if (in < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\": %m", src)));
	out = OpenTransientFilePerm(dst, O_WRONLY | O_CREAT | O_EXCL | PG_BINARY,
								mode & 0777);
	if (out < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create file \"%s\": %m", dst)));

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
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not clone file \"%s\" to \"%s\": %m", src, dst)));
		st->next = FILE_COPY_RANGE;
	}
	st->stats->method = BP_CLONE_COPY;
	if (st->next == FILE_COPY_RANGE)
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
					break;
				}
				ereport(ERROR,
						(errcode_for_file_access(),
						 errmsg("could not copy file \"%s\" to \"%s\": %m", src, dst)));
			}
			if (n == 0)
				break;			/* the file shrank while we copied */
			left -= n;
			CHECK_FOR_INTERRUPTS();
		}
		if (st->next == FILE_COPY_RANGE)
			goto done;
	}
	CopyReadWrite(in, out, src, dst);

done:
	st->stats->files++;
	st->stats->bytes += size;
	if (CloseTransientFile(out) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not close file \"%s\": %m", dst)));
	CloseTransientFile(in);
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

	memset(&st, 0, sizeof(st));
	st.next = FILE_FICLONE;
	st.stats = stats;
	if (stat(src, &sb) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat file \"%s\": %m", src)));
	CloneFile(&st, src, dst, mode, sb.st_size);
}

/* Clone the directory rel (relative to the roots), recursively. */
static void
CloneDir(CloneState *st, const char *rel)
{
	char		srcdir[MAXPGPATH];
	DIR		   *dir;
	struct dirent *de;

	snprintf(srcdir, sizeof(srcdir), "%s%s%s", st->src_root, rel[0] ? "/" : "", rel);
	dir = AllocateDir(srcdir);
	while ((de = ReadDir(dir, srcdir)) != NULL)
	{
		char		relpath[MAXPGPATH];
		char		src[MAXPGPATH];
		char		dst[MAXPGPATH];
		struct stat sb;
		BpCloneFilter f;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(relpath, sizeof(relpath), "%s%s%s", rel, rel[0] ? "/" : "", de->d_name);
		snprintf(src, sizeof(src), "%s/%s", st->src_root, relpath);
		snprintf(dst, sizeof(dst), "%s/%s", st->dst_root, relpath);
		if (lstat(src, &sb) != 0)
		{
			if (errno == ENOENT)
				continue;		/* removed while we walked: a running source */
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not stat file \"%s\": %m", src)));
		}
		f = st->filter ? st->filter(relpath, S_ISDIR(sb.st_mode)) : BP_CLONE_KEEP;
		if (f == BP_CLONE_SKIP)
			continue;
		if (S_ISDIR(sb.st_mode))
		{
			if (MakePGDirectory(dst) != 0)
				ereport(ERROR,
						(errcode_for_file_access(),
						 errmsg("could not create directory \"%s\": %m", dst)));
			if (f == BP_CLONE_KEEP)
				CloneDir(st, relpath);
		}
		else if (S_ISREG(sb.st_mode))
			CloneFile(st, src, dst, sb.st_mode, sb.st_size);
		else
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot clone \"%s\": not a regular file or directory", src),
					 errhint("Timelines with tablespaces or symbolic links are not supported by the local driver.")));
	}
	FreeDir(dir);
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

	stats->method = BP_CLONE_REFLINK;
	stats->files = 0;
	stats->bytes = 0;
	st.next = FILE_FICLONE;
	st.stats = stats;
	st.filter = filter;
	st.src_root = src;
	st.dst_root = dst;
	if (MakePGDirectory(dst) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create directory \"%s\": %m", dst)));
	CloneDir(&st, "");
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
