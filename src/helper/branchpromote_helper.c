/*
 * branchpromote_helper — the one privileged step of the local drivers when
 * computes run as an OS user of their own (branchpromote.compute_os_user).
 *
 * A postmaster insists on owning its data directory, and a compute's OS
 * user must not be the control server's (a compute superuser could then run
 * programs as the owner of the control plane).  So the control server's
 * reconciler asks this program, through sudo as root, for what crossing
 * between the two users needs, and for nothing else:
 *
 *   branchpromote_helper USER remove PGDATA        remove a data directory
 *   branchpromote_helper USER signal PGDATA SIG    signal PGDATA's postmaster (INT, QUIT,
 *                                                  KILL, HUP) if it runs as USER there
 *   branchpromote_helper USER defrag PGDATA MIN MS  become USER and rewrite PGDATA's relation files
 *                                                  of more than MIN extents contiguously (defrag.c),
 *                                                  stopping after MS ms; PGDATA must be USER's already
 *   branchpromote_helper USER exec   PGDATA ARG... become USER and exec this installation's
 *                                                  postgres -D PGDATA ARG...; first, if PGDATA
 *                                                  is not USER's yet (a fork's new clone), hand
 *                                                  it over (owner USER, group USER's, dirs 0750,
 *                                                  files 0640: the control reads it by group;
 *                                                  depth first, PGDATA itself last, so its owner
 *                                                  says the walk finished), and remove a
 *                                                  postmaster.pid no postmaster of it owns
 *
 * The sudoers rule pins USER.  Every PGDATA must be absolute, canonical (no
 * symbolic link, no "..") and end in /timelines/<digits>/pgdata; only files
 * owned by USER or by the user who ran sudo are touched, symbolic links are
 * never followed, and USER may be neither root nor that user.  Nothing runs
 * through a shell.  Exit codes: 0 done, 1 refused or failed (a message on
 * stderr), 2 usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "../defrag.h"

static uid_t user_uid;			/* the compute user */
static gid_t user_gid;
static uid_t caller_uid;		/* who ran sudo */

static void
Die(const char *fmt,...)
{
	va_list		ap;

	fprintf(stderr, "branchpromote_helper: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* PGDATA as the one shape this program touches, or die. */
static void
CheckPgdata(const char *pgdata)
{
	char		real[PATH_MAX];
	const char *tail = "/pgdata";
	size_t		n = strlen(pgdata);
	const char *p;
	const char *digits;

	if (pgdata[0] != '/' || n < strlen(tail) || strcmp(pgdata + n - strlen(tail), tail) != 0)
		Die("\"%s\" is not an absolute path ending in /pgdata", pgdata);
	if (realpath(pgdata, real) == NULL)
		Die("could not resolve \"%s\": %s", pgdata, strerror(errno));
	if (strcmp(real, pgdata) != 0)
		Die("\"%s\" is not canonical (it resolves to \"%s\")", pgdata, real);
	/* .../timelines/<digits>/pgdata */
	p = pgdata + n - strlen(tail);
	digits = p;
	while (digits > pgdata && digits[-1] >= '0' && digits[-1] <= '9')
		digits--;
	if (digits == p || digits - pgdata < (long) strlen("/timelines/") ||
		strncmp(digits - strlen("/timelines/"), "/timelines/", strlen("/timelines/")) != 0)
		Die("\"%s\" is not a timeline's data directory (.../timelines/<id>/pgdata)", pgdata);
}

/* May this file be touched: owned by the compute user or the caller? */
static bool
Ours(const struct stat *sb)
{
	return sb->st_uid == user_uid || sb->st_uid == caller_uid;
}

static int
AdoptOne(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	mode_t		mode;

	(void) ftw;
	if (!Ours(sb))
		Die("\"%s\" belongs to uid %d, neither the compute user nor the caller", path, (int) sb->st_uid);
	if (lchown(path, user_uid, user_gid) != 0)
		Die("could not change the owner of \"%s\": %s", path, strerror(errno));
	if (type == FTW_SL)
		return 0;				/* a link's own mode means nothing */
	mode = type == FTW_D || type == FTW_DP ? 0750 : 0640;
	/* a clone keeps its source's modes, mostly these already: a syscall saved per file */
	if ((sb->st_mode & 07777) != mode && chmod(path, mode) != 0)
		Die("could not change the mode of \"%s\": %s", path, strerror(errno));
	return 0;
}

/* Hand pgdata to the compute user: its contents first, pgdata itself last. */
static void
Adopt(const char *pgdata)
{
	if (nftw(pgdata, AdoptOne, 32, FTW_PHYS | FTW_MOUNT | FTW_DEPTH) != 0)
		Die("could not walk \"%s\": %s", pgdata, strerror(errno));
}

static int
RemoveOne(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void) ftw;
	if (!Ours(sb))
		Die("\"%s\" belongs to uid %d, neither the compute user nor the caller", path, (int) sb->st_uid);
	if ((type == FTW_DP ? rmdir(path) : unlink(path)) != 0 && errno != ENOENT)
		Die("could not remove \"%s\": %s", path, strerror(errno));
	return 0;
}

/* The postmaster of pgdata, if it runs as the compute user in pgdata; 0 if none. */
static pid_t
Postmaster(const char *pgdata)
{
	char		path[PATH_MAX];
	char		cwd[PATH_MAX];
	char		line[64];
	FILE	   *f;
	long		pid;
	struct stat sb;
	ssize_t		n;

	snprintf(path, sizeof(path), "%s/postmaster.pid", pgdata);
	{
		/* no symbolic link, no FIFO to block on: a regular file only */
		int			fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);

		if (fd < 0)
			return 0;
		if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || (f = fdopen(fd, "r")) == NULL)
		{
			close(fd);
			return 0;
		}
	}
	if (fgets(line, sizeof(line), f) == NULL)
	{
		fclose(f);
		return 0;
	}
	fclose(f);
	pid = strtol(line, NULL, 10);
	if (pid <= 1)
		return 0;
	/* the process's owner and working directory tell a reused pid */
	snprintf(path, sizeof(path), "/proc/%ld", pid);
	if (stat(path, &sb) != 0 || sb.st_uid != user_uid)
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/cwd", pid);
	n = readlink(path, cwd, sizeof(cwd) - 1);
	if (n < 0)
		return 0;
	cwd[n] = '\0';
	return strcmp(cwd, pgdata) == 0 ? (pid_t) pid : 0;
}

static int
SignalNumber(const char *name)
{
	if (strcmp(name, "INT") == 0)
		return SIGINT;
	if (strcmp(name, "QUIT") == 0)
		return SIGQUIT;
	if (strcmp(name, "KILL") == 0)
		return SIGKILL;
	if (strcmp(name, "HUP") == 0)
		return SIGHUP;
	Die("unknown signal \"%s\" (INT, QUIT, KILL or HUP)", name);
	return 0;
}

/*
 * A postmaster.pid that no postmaster of pgdata owns any more (its pid was
 * reused after a crash): the postmaster would refuse to start while that
 * pid lives, so it goes.  Only a regular file of the compute user's.
 */
static void
ClearStaleLock(const char *pgdata)
{
	char		path[PATH_MAX];
	struct stat sb;
	int			fd;

	snprintf(path, sizeof(path), "%s/postmaster.pid", pgdata);
	/* no symbolic link, no FIFO to block on: a regular file of the compute user's */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return;
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_uid != user_uid)
	{
		close(fd);
		return;
	}
	close(fd);
	if (Postmaster(pgdata) != 0)
		return;
	if (unlink(path) != 0 && errno != ENOENT)
		Die("could not remove the stale \"%s\": %s", path, strerror(errno));
}

/* Become the compute user for good. */
static void
Become(const char *user)
{
	if (initgroups(user, user_gid) != 0 || setgid(user_gid) != 0 || setuid(user_uid) != 0)
		Die("could not become %s: %s", user, strerror(errno));
	if (setuid(0) == 0)
		Die("could still regain root after becoming %s", user);
}

static volatile sig_atomic_t stop_asked;

static void
AskStop(int sig)
{
	(void) sig;
	stop_asked = 1;
}

/* A whole number of decimal digits only, at most max; else die. */
static unsigned long long
WholeNumber(const char *what, const char *s, unsigned long long max)
{
	unsigned long long v;
	char	   *end;

	if (*s < '0' || *s > '9')
		Die("%s must be a whole number, not \"%s\"", what, s);
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end != '\0' || errno == ERANGE || v > max)
		Die("%s must be a whole number up to %llu, not \"%s\"", what, max, s);
	return v;
}

/* As the compute user, rewrite pgdata's fragmented relation files. */
static int
Defrag(const char *user, const char *pgdata, const char *min, const char *ms)
{
	struct stat sb;
	BpDefragStats st;
	char		err[512];
	unsigned long long min_extents = WholeNumber("MIN", min, ULLONG_MAX);
	int			timeout_ms = (int) WholeNumber("MS", ms, INT_MAX);
	int			rc;

	if (lstat(pgdata, &sb) != 0)
		Die("could not stat \"%s\": %s", pgdata, strerror(errno));
	if (sb.st_uid != user_uid)
		Die("\"%s\" is not %s's", pgdata, user);
	Become(user);
	signal(SIGTERM, AskStop);
	signal(SIGINT, AskStop);
	rc = BpDefragTree(pgdata, min_extents, 0, timeout_ms, &stop_asked, &st, err, sizeof(err));
	if (rc < 0)
		Die("%s", err);
	printf("defrag %s%s: %llu files, %llu extents, %llu over %llu, %llu rewritten (%llu bytes), %llu busy, %llu skipped\n",
		   pgdata, rc > 0 ? " (stopped early)" : "", (unsigned long long) st.files, (unsigned long long) st.extents,
		   (unsigned long long) st.over, min_extents, (unsigned long long) st.rewritten,
		   (unsigned long long) st.bytes, (unsigned long long) st.busy, (unsigned long long) st.skipped);
	return 0;
}

/* Become the compute user for good, then exec postgres beside this program. */
static void
ExecPostgres(const char *user, const char *pgdata, int argc, char **argv)
{
	char		self[PATH_MAX];
	char	   *slash;
	char	  **args = calloc(argc + 4, sizeof(char *));
	int			n = 0;
	struct stat sb;

	if (args == NULL || realpath("/proc/self/exe", self) == NULL || (slash = strrchr(self, '/')) == NULL)
		Die("could not find this program's directory");
	/* a new data directory (a fork's clone) becomes the compute user's: one sudo per start */
	if (lstat(pgdata, &sb) != 0)
		Die("could not stat \"%s\": %s", pgdata, strerror(errno));
	if (sb.st_uid != user_uid)
		Adopt(pgdata);
	ClearStaleLock(pgdata);
	strcpy(slash + 1, "postgres");
	Become(user);
	if (chdir(pgdata) != 0)
		Die("could not enter \"%s\": %s", pgdata, strerror(errno));
	umask(0027);
	args[n++] = self;
	args[n++] = "-D";
	args[n++] = (char *) pgdata;
	for (int i = 0; i < argc; i++)
		args[n++] = argv[i];
	args[n] = NULL;
	execv(self, args);
	Die("could not run \"%s\": %s", self, strerror(errno));
}

int
main(int argc, char **argv)
{
	const char *user;
	const char *cmd;
	const char *pgdata;
	const char *sudo_uid = getenv("SUDO_UID");
	struct passwd *pw;

	if (argc < 4)
	{
		fprintf(stderr, "usage: branchpromote_helper USER {remove|signal SIG|defrag MIN MS|exec ARG...} PGDATA\n");
		return 2;
	}
	user = argv[1];
	cmd = argv[2];
	pgdata = argv[3];
	if (geteuid() != 0)
		Die("must run as root (through sudo)");
	caller_uid = sudo_uid ? (uid_t) strtoul(sudo_uid, NULL, 10) : getuid();
	pw = getpwnam(user);
	if (pw == NULL)
		Die("no OS user \"%s\"", user);
	user_uid = pw->pw_uid;
	user_gid = pw->pw_gid;
	if (user_uid == 0 || user_uid == caller_uid)
		Die("the compute user must be neither root nor the caller");
	CheckPgdata(pgdata);

	if (strcmp(cmd, "remove") == 0 && argc == 4)
	{
		if (nftw(pgdata, RemoveOne, 32, FTW_PHYS | FTW_MOUNT | FTW_DEPTH) != 0 && errno != ENOENT)
			Die("could not walk \"%s\": %s", pgdata, strerror(errno));
		return 0;
	}
	if (strcmp(cmd, "signal") == 0 && argc == 5)
	{
		int			sig = SignalNumber(argv[4]);
		pid_t		pid = Postmaster(pgdata);

		if (pid > 0 && kill(pid, sig) != 0 && errno != ESRCH)
			Die("could not signal process %d: %s", (int) pid, strerror(errno));
		return 0;
	}
	if (strcmp(cmd, "defrag") == 0 && argc == 6)
		return Defrag(user, pgdata, argv[4], argv[5]);
	if (strcmp(cmd, "exec") == 0)
		ExecPostgres(user, pgdata, argc - 4, argv + 4);
	fprintf(stderr, "usage: branchpromote_helper USER {remove|signal SIG|defrag MIN MS|exec ARG...} PGDATA\n");
	return 2;
}
