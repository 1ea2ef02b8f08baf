/*
 * api_access.c — argument checks and access checks: names, the caller's
 * roles, a project and a compute loaded with a precise error.  Shared by the
 * SQL-callable functions (apiutil.h).
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"

#include "apiutil.h"
#include "names.h"

/* A required text argument; NULL is an error, not a NULL result. */
char *
ArgText(FunctionCallInfo fcinfo, int n, const char *name)
{
	if (PG_ARGISNULL(n))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", name),
				 errhint("Pass a value for %s.", name)));
	return text_to_cstring(PG_GETARG_TEXT_PP(n));
}

void
RequireName(const char *what, const char *name)
{
	if (!BpNameIsValid(name))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("invalid %s name \"%s\"", what, name),
				 errhint("Names start with a lowercase letter followed by at most 62 lowercase letters, digits, '_' or '-'.")));
}

/* A new project's name: valid, and not one every compute already has. */
void
RequireNewProjectName(const char *name)
{
	RequireName("project", name);
	if (BpNameIsReserved(name) || strcmp(name, BpOsUserName()) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_RESERVED_NAME),
				 errmsg("project name \"%s\" is reserved", name),
				 errhint("A project's name is also its role and database on every compute; choose a name that is not postgres, template0/1, public, none, branchpromote, the OS user's name or pg_*.")));
}

/* Is the caller a superuser, or has it the privileges of role (if it exists)? */
bool
CallerIsSuperuserOr(const char *role)
{
	Oid			r = get_role_oid(role, true);

	return superuser() || (OidIsValid(r) && has_privs_of_role(GetUserId(), r));
}

/* The caller may create projects: superuser or a deployer. */
void
RequireDeployer(void)
{
	if (CallerIsSuperuserOr("branchpromote_deployer"))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to manage branchpromote projects"),
			 errhint("Ask an administrator to GRANT branchpromote_deployer to your role.")));
}

/*
 * The caller may act on this project: its owner (or a member of the owner
 * role), or an admin.  Runs inside the catalog session, where the current
 * user is the extension owner, so it asks about the saved caller.
 */
void
RequireProjectAccess(const BpProject *p)
{
	Oid			admin = get_role_oid("branchpromote_admin", true);
	Oid			me = CatalogCaller();
	char	   *owner;

	if (superuser_arg(me) || has_privs_of_role(me, p->owner) ||
		(OidIsValid(admin) && has_privs_of_role(me, admin)))
		return;
	owner = GetUserNameFromId(p->owner, true);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied for project \"%s\"", p->name),
			 errhint("Ask its owner to GRANT role \"%s\" to you, or ask a branchpromote_admin.",
					 owner ? owner : "(dropped role)")));
}

/*
 * May the caller see a project of this owner (the views' rule, _can_see):
 * a superuser, a viewer, an admin, or a member of the owner role.
 */
bool
CanSeeProject(Oid owner)
{
	Oid			me = CatalogCaller();
	Oid			viewer = get_role_oid("branchpromote_viewer", true);
	Oid			admin = get_role_oid("branchpromote_admin", true);

	return superuser_arg(me) || has_privs_of_role(me, owner) ||
		(OidIsValid(viewer) && has_privs_of_role(me, viewer)) ||
		(OidIsValid(admin) && has_privs_of_role(me, admin));
}

/* Load a project the caller may act on (catalog session open). */
void
LoadProject(const char *name, bool for_update, BpProject *p)
{
	/*
	 * Check access before taking the lock, so a caller without rights is
	 * refused at once instead of queueing behind the project's operations;
	 * then lock and read again (it may have been dropped meanwhile).
	 */
	RequireName("project", name);
	for (int pass = 0; pass < (for_update ? 2 : 1); pass++)
	{
		if (!CatalogFindProject(name, pass == 1, p))
		{
			char	   *kept_until;

			if (CatalogFindDroppedProject(name, p, &kept_until) && CanSeeProject(p->owner))
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_OBJECT),
						 errmsg("project \"%s\" was dropped", name),
						 errdetail("It is kept until %s.", kept_until),
						 errhint("SELECT branchpromote.undrop_project('%s') brings it back.", name)));
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("project \"%s\" does not exist", name),
					 errhint("SELECT project FROM branchpromote.projects lists the projects you can see.")));
		}
		RequireProjectAccess(p);
	}
}

/* A project's compute for env, with a precise error when there is none. */
void
LoadCompute(const BpProject *p, const char *env, BpComputeRow *c)
{
	RequireName("environment", env);
	if (!CatalogGetCompute(p->id, env, c))
	{
		if (strcmp(env, "prod") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("project \"%s\" has no prod environment yet", p->name),
					 errhint("Prod appears at the first promotion: SELECT branchpromote.promote_branch('%s');", p->name)));
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("project \"%s\" has no environment \"%s\"", p->name, env),
				 errhint("SELECT env FROM branchpromote.environments WHERE project = '%s' lists them.", p->name)));
	}
}

char *
CallerName(void)
{
	return GetUserNameFromId(GetUserId(), false);
}

/*
 * An interval argument in milliseconds.  Months count 30 days, as
 * interval arithmetic does; beyond 100 years either way, as a whole, is
 * refused, and so is a positive one below a millisecond (it would round to
 * 0, which means "never" where a timeout takes it).
 */
int64
IntervalMs(const Interval *iv, const char *what, const char *hint)
{
	const int64 limit_us = INT64CONST(100) * 366 * USECS_PER_DAY;
	int64		us;

	/* each field bounded first, so the sum cannot overflow; then the whole */
	if (iv->month > 12 * 100 || iv->month < -12 * 100 || iv->day > 36600 || iv->day < -36600 ||
		iv->time > limit_us || iv->time < -limit_us ||
		(us = iv->time + ((int64) iv->day + (int64) iv->month * DAYS_PER_MONTH) * USECS_PER_DAY) > limit_us ||
		us < -limit_us)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be at most 100 years", what),
				 errhint("%s", hint)));
	if (us > 0 && us < 1000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be at least 1 millisecond, or 0", what),
				 errhint("%s", hint)));
	return us / 1000;
}

/* An optional release argument: NULL, or 1 to 200 bytes without control characters. */
char *
OptText(FunctionCallInfo fcinfo, int n)
{
	char	   *s;

	if (PG_ARGISNULL(n))
		return NULL;
	s = text_to_cstring(PG_GETARG_TEXT_PP(n));
	for (const char *c = s; *c; c++)
		if ((unsigned char) *c < 0x20)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("release must not contain control characters"),
					 errhint("Pass the released commit or tag, e.g. a git SHA, or NULL.")));
	if (s[0] == '\0' || strlen(s) > 200)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("release must be 1 to 200 bytes long"),
				 errhint("Pass the released commit or tag, e.g. a git SHA, or NULL.")));
	return s;
}
