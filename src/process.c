/*
 * process.c — starting programs from the reconciler.
 *
 * Programs are exec'd from an argv array (no shell, so no quoting of user
 * input can go wrong), with stdin from /dev/null, stdout and stderr appended
 * to a log file, every other descriptor closed and signal state reset.
 * Computes are double-forked into their own session so they outlive the
 * control server and never become its zombies.
 */
#include "postgres.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/timestamp.h"

#include "process.h"

/* Absolute path of a program installed beside this server's postgres. */
char *
BpBinPath(const char *program)
{
	char		dir[MAXPGPATH];

	strlcpy(dir, my_exec_path, sizeof(dir));
	get_parent_directory(dir);
	return psprintf("%s/%s", dir, program);
}

/* The time timeout_ms from now. */
TimestampTz
BpDeadline(int timeout_ms)
{
	return TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_ms);
}

/* Has deadline passed? */
bool
BpPast(TimestampTz deadline)
{
	return GetCurrentTimestamp() >= deadline;
}

/*
 * Wait up to ms on our latch (a set latch ends the nap early), honouring
 * interrupts and postmaster death.  Callers loop until their condition
 * holds or a deadline from BpDeadline passes.
 */
void
BpNap(int ms)
{
	(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					 ms, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
}

/*
 * Wait until pid is gone (BpPidAlive) or timeout_ms passed; true if it is
 * gone.  A pidfd (Linux 5.3+) turns readable when the process exits, so
 * the wait ends then, on the latch, instead of at the next of 10 ms naps
 * (the fallback where pidfd_open is refused).  A pidfd that is readable
 * while /proc does not show the zombie yet is rechecked after 1 ms.
 */
bool
BpWaitGone(pid_t pid, int timeout_ms)
{
	TimestampTz deadline = BpDeadline(timeout_ms);
	int			fd = -1;
	volatile bool gone = false;

#ifdef SYS_pidfd_open
	fd = (int) syscall(SYS_pidfd_open, pid, 0);
#endif
	PG_TRY();
	{
		while (!(gone = !BpPidAlive(pid)) && !BpPast(deadline))
		{
			long		left = (long) ((deadline - GetCurrentTimestamp()) / 1000) + 1;
			int			rc;

			if (fd < 0)
			{
				BpNap(10);
				continue;
			}
			rc = WaitLatchOrSocket(MyLatch, WL_LATCH_SET | WL_SOCKET_READABLE | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
								   fd, Min(left, 1000L), PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
			if ((rc & WL_SOCKET_READABLE) && BpPidAlive(pid))
				BpNap(1);
		}
	}
	PG_FINALLY();
	{
		if (fd >= 0)
			close(fd);
	}
	PG_END_TRY();
	return gone;
}

/*
 * Is there a live process with this pid?  A zombie is not: computes are
 * re-parented to init, and an init that reaps lazily would otherwise make
 * every stop wait for it.
 */
bool
BpPidAlive(pid_t pid)
{
	char		path[64];
	char		buf[512];
	FILE	   *f;
	char	   *close_paren;
	size_t		n;

	if (pid <= 0 || (kill(pid, 0) != 0 && errno != EPERM))
		return false;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
	f = fopen(path, "r");
	if (f == NULL)
		return true;			/* no /proc (or it just exited): trust kill() */
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* "pid (comm) S ...": the state follows the last ')' */
	close_paren = strrchr(buf, ')');
	return !(close_paren && close_paren[1] == ' ' && close_paren[2] == 'Z');
}

/*
 * Did process pid start within slack_s seconds of when (epoch seconds)?
 * From /proc/<pid>/stat's start time (clock ticks after boot) and the boot
 * time in /proc/stat; true when either cannot be read (no /proc: trust the
 * pid).  Tells a postmaster from an unrelated process that got its pid
 * after a crash.
 */
bool
BpProcessStartedNear(pid_t pid, time_t when, int slack_s)
{
	char		path[64];
	char		buf[1024];
	FILE	   *f;
	char	   *p;
	size_t		n;
	unsigned long long ticks = 0;
	long long	btime = -1;
	long		hz = sysconf(_SC_CLK_TCK);
	double		started;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
	if ((f = fopen(path, "r")) == NULL)
		return true;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* after "pid (comm) ": field 3 is the state; the start time is field 22 */
	if ((p = strrchr(buf, ')')) == NULL ||
		sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
			   &ticks) != 1)
		return true;
	if ((f = fopen("/proc/stat", "r")) == NULL)
		return true;
	while (fgets(buf, sizeof(buf), f))
		if (sscanf(buf, "btime %lld", &btime) == 1)
			break;
	fclose(f);
	if (btime < 0 || hz <= 0)
		return true;
	started = (double) btime + (double) ticks / (double) hz;
	return started >= (double) when - slack_s && started <= (double) when + slack_s;
}

/*
 * In a freshly forked child: point stdio at /dev/null and the log, close
 * everything else, reset signals, exec.  Only async-signal-safe calls.
 */
static void
ExecChild(char *const argv[], int logfd)
{
	int			devnull = open("/dev/null", O_RDONLY);
	sigset_t	none;

	if (devnull < 0 || dup2(devnull, STDIN_FILENO) < 0 ||
		dup2(logfd, STDOUT_FILENO) < 0 || dup2(logfd, STDERR_FILENO) < 0)
		_exit(126);
	closefrom(3);
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execv(argv[0], argv);
	_exit(127);
}

static int
OpenLog(const char *logpath)
{
	int			fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open log file \"%s\": %m", logpath)));
	return fd;
}

/*
 * Start argv[0] detached (own session, re-parented to init) and return the
 * pid of the process that execs it; a failed exec shows as that process
 * exiting, which callers watch for.
 */
pid_t
BpSpawnDetached(char *const argv[], const char *logpath)
{
	int			logfd = OpenLog(logpath);
	int			fds[2];
	pid_t		child;
	pid_t		grandchild = -1;
	int			status;

	if (pipe2(fds, O_CLOEXEC) != 0)
	{
		int			save = errno;

		close(logfd);
		errno = save;
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("could not create a pipe: %m")));
	}
	fflush(NULL);
	child = fork();
	if (child < 0)
	{
		close(fds[0]);
		close(fds[1]);
		close(logfd);
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("could not fork: %m")));
	}
	if (child == 0)
	{
		pid_t		gc;

		setsid();
		gc = fork();
		if (gc == 0)
			ExecChild(argv, logfd);
		if (write(fds[1], &gc, sizeof(gc)) != sizeof(gc))
			_exit(1);
		_exit(0);
	}
	close(fds[1]);
	close(logfd);
	if (read(fds[0], &grandchild, sizeof(grandchild)) != sizeof(grandchild))
		grandchild = -1;
	close(fds[0]);
	while (waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
	if (grandchild <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("could not start \"%s\"", argv[0])));
	return grandchild;
}

/*
 * Run argv[0] to completion (output to logpath), waiting on the latch so
 * postmaster death and interrupts are honoured.  Returns its exit code.
 */
int
BpRunAndWait(char *const argv[], const char *logpath, int timeout_ms)
{
	int			logfd = OpenLog(logpath);
	pid_t		pid;
	TimestampTz deadline = BpDeadline(timeout_ms);

	fflush(NULL);
	pid = fork();
	if (pid < 0)
	{
		close(logfd);
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("could not fork: %m")));
	}
	if (pid == 0)
		ExecChild(argv, logfd);
	close(logfd);
	for (;;)
	{
		int			status;
		pid_t		r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		if (r < 0 && errno != EINTR)
			ereport(ERROR,
					(errcode(ERRCODE_SYSTEM_ERROR),
					 errmsg("could not wait for \"%s\": %m", argv[0])));
		if (BpPast(deadline))
		{
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			ereport(ERROR,
					(errcode(ERRCODE_QUERY_CANCELED),
					 errmsg("\"%s\" did not finish within %d ms", argv[0], timeout_ms)));
		}
		BpNap(20);
	}
}
