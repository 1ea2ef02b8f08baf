/*
 * localuser.c — the computes' own OS user (branchpromote.compute_os_user).
 *
 * With the setting empty, computes run as the control server's OS user, as
 * they always did.  With it set, a compute's superuser is not the control
 * plane's: computes run as that user, their data directories are its own
 * (0750/0640, so the control server reads them through the user's group
 * for forks), and what crosses between the two users goes through one
 * small program run with sudo (src/helper/branchpromote_helper.c): hand a
 * new data directory over, remove one, signal or start a postmaster.  Only
 * the reconciler runs it.
 */
#include "postgres.h"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "miscadmin.h"

#include "guc.h"
#include "localuser.h"
#include "process.h"

#define SUDO_PATH "/usr/bin/sudo"

typedef struct ComputeUser
{
	bool		looked_up;
	uid_t		uid;
	gid_t		gid;
	char		group[NAMEDATALEN];
} ComputeUser;

static ComputeUser cu;

bool
LocalSeparateUser(void)
{
	return bp_compute_os_user != NULL && bp_compute_os_user[0] != '\0';
}

/* Look the user up once, and check it is one we may hand computes to. */
static const ComputeUser *
Lookup(void)
{
	struct passwd *pw;
	struct group *gr;
	gid_t		groups[256];
	int			n;
	bool		member = false;

	Assert(LocalSeparateUser());
	if (cu.looked_up)
		return &cu;
	pw = getpwnam(bp_compute_os_user);
	if (pw == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("branchpromote.compute_os_user \"%s\" is not an OS user", bp_compute_os_user),
				 errhint("Create it (useradd --system %s) or empty the setting, then restart the server.",
						 bp_compute_os_user)));
	if (pw->pw_uid == 0 || pw->pw_uid == geteuid())
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("branchpromote.compute_os_user must be neither root nor the server's own OS user"),
				 errhint("Name an unprivileged OS user made for computes alone.")));
	n = getgroups(lengthof(groups), groups);
	for (int i = 0; i < n; i++)
		member |= groups[i] == pw->pw_gid;
	if (!member && getegid() != pw->pw_gid)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("the server's OS user is not in the group of compute OS user \"%s\"", bp_compute_os_user),
				 errhint("Add it (usermod -aG <group> <server user>) and restart the server: forks read computes' data through that group.")));
	gr = getgrgid(pw->pw_gid);
	if (gr == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("the primary group of compute OS user \"%s\" has no name", bp_compute_os_user),
				 errhint("Give the user a primary group with an /etc/group entry.")));
	cu.uid = pw->pw_uid;
	cu.gid = pw->pw_gid;
	strlcpy(cu.group, gr->gr_name, sizeof(cu.group));
	cu.looked_up = true;
	return &cu;
}

uid_t
LocalComputeUid(void)
{
	return LocalSeparateUser() ? Lookup()->uid : geteuid();
}

const char *
LocalComputeGroupName(void)
{
	return Lookup()->group;
}

void
LocalShare(const char *path, mode_t mode)
{
	if (!LocalSeparateUser())
		return;
	if (chown(path, (uid_t) -1, Lookup()->gid) != 0 || chmod(path, mode) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not share \"%s\" with the compute OS user's group: %m", path),
				 errhint("The server's OS user must own it and be in the group of branchpromote.compute_os_user.")));
}

/* sudo -n <bindir>/branchpromote_helper USER cmd pgdata, with room for more. */
static char **
HelperArgv(const char *cmd, const char *pgdata, int nextra, int *n)
{
	char	  **argv = palloc0(sizeof(char *) * (7 + nextra));
	int			i = 0;

	argv[i++] = SUDO_PATH;
	argv[i++] = "-n";
	argv[i++] = BpBinPath("branchpromote_helper");
	argv[i++] = bp_compute_os_user;
	argv[i++] = unconstify(char *, cmd);
	argv[i++] = unconstify(char *, pgdata);
	*n = i;
	return argv;
}

void
LocalHelper(const char *cmd, const char *pgdata, const char *arg)
{
	LocalHelperWithin(cmd, pgdata, arg, NULL, bp_compute_start_timeout_ms);
}

void
LocalHelperWithin(const char *cmd, const char *pgdata, const char *arg, const char *arg2,
				  int timeout_ms)
{
	int			n;
	char	  **argv = HelperArgv(cmd, pgdata, 2, &n);
	char	   *log = psprintf("%s/helper.log", BpDataRoot());
	int			rc;

	(void) Lookup();
	if (arg)
		argv[n++] = unconstify(char *, arg);
	if (arg && arg2)
		argv[n++] = unconstify(char *, arg2);
	argv[n] = NULL;
	rc = BpRunAndWait(argv, log, timeout_ms);
	if (rc != 0)
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("branchpromote_helper %s of \"%s\" failed with exit code %d", cmd, pgdata, rc),
				 errhint("See %s; the server's OS user must be allowed to run %s as root through sudo without a password (see doc/computes.md).",
						 log, argv[2])));
}

char **
LocalExecArgv(const char *pgdata, int nextra, int *n)
{
	(void) Lookup();
	return HelperArgv("exec", pgdata, nextra, n);
}
