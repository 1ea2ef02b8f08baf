/*
 * catalog.c — the catalog session: SPI as the extension owner, the
 * incarnation, and the helpers every table group uses (catalog_spi.h).
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "access/xlog.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/pg_lsn.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "catalog.h"
#include "catalog_spi.h"
#include "guc.h"

static Oid	saved_user = InvalidOid;
static int	saved_sec = 0;

/* Is the extension installed in this database? */
bool
CatalogExtensionInstalled(void)
{
	return OidIsValid(get_extension_oid("branchpromote", true));
}

char		bp_incarnation[40] = "";
static LocalTransactionId incarnation_lxid = InvalidLocalTransactionId;
static void ReadIncarnation(void);

/* Connect SPI and act as the extension's owner. */
void
CatalogBegin(void)
{
	Oid			nsp = get_namespace_oid("branchpromote", false);
	HeapTuple	tup = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(nsp));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for namespace %u", nsp);
	owner = ((Form_pg_namespace) GETSTRUCT(tup))->nspowner;
	ReleaseSysCache(tup);
	GetUserIdAndSecContext(&saved_user, &saved_sec);
	SetUserIdAndSecContext(owner, saved_sec | SECURITY_LOCAL_USERID_CHANGE);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ReadIncarnation();
}

/*
 * What an owner file says besides its creating transaction: the catalog's
 * incarnation and the control server's WAL timeline.  NULL if no catalog
 * session has read the incarnation yet.
 */
char *
BpOwnerStamp(void)
{
	if (bp_incarnation[0] == '\0')
		return NULL;
	return psprintf("%s %u", bp_incarnation, (unsigned int) GetWALInsertionTimeLine());
}

/* Who called: the user in effect before CatalogBegin switched to the owner. */
Oid
CatalogCaller(void)
{
	Assert(OidIsValid(saved_user));
	return saved_user;
}

/* Disconnect SPI and act as the caller again. */
void
CatalogEnd(void)
{
	SPI_finish();
	SetUserIdAndSecContext(saved_user, saved_sec);
}

/* Run one statement with up to 8 arguments; nulls[i] == 'n' for NULL. */
int
Run(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls,
	int expect)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);

	if (rc != expect)
		elog(ERROR, "branchpromote catalog statement failed (%d): %s", rc, sql);
	return (int) SPI_processed;
}

/*
 * May the caller (between CatalogBegin and CatalogEnd) see a project's
 * rows?  As branchpromote._can_see: viewers and admins see every project;
 * others only those whose owner role they have.  project NULL (never
 * routed) or unknown (dropped): only viewers and admins.  actor, if given:
 * the caller's own calls are always theirs to see.
 */
bool
CatalogCallerSees(const char *project, const char *actor)
{
	Oid			caller = CatalogCaller();
	const char *const wide[] = {"branchpromote_viewer", "branchpromote_admin"};
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	bool		isnull;

	if (actor != NULL)
	{
		char	   *me = GetUserNameFromId(caller, true);

		if (me != NULL && strcmp(me, actor) == 0)
			return true;
	}
	for (int i = 0; i < lengthof(wide); i++)
	{
		Oid			role = get_role_oid(wide[i], true);

		if (OidIsValid(role) && has_privs_of_role(caller, role))
			return true;
	}
	if (project == NULL)
		return false;
	values[0] = CStringGetTextDatum(project);
	if (Run("SELECT owner FROM branchpromote.project WHERE name = $1", 1, types, values, NULL,
			SPI_OK_SELECT) != 1)
		return false;
	return has_privs_of_role(caller, DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
																	 SPI_tuptable->tupdesc, 1,
																	 &isnull)));
}

Datum
Col(int row, int col, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, isnull);
}

/* The catalog's incarnation, read once per transaction (SPI connected). */
static void
ReadIncarnation(void)
{
	bool		isnull;

	if (incarnation_lxid == MyProc->lxid && bp_incarnation[0] != '\0' &&
		strcmp(bp_incarnation, "pre-0.5.0") != 0)
		return;					/* (the fallback is read again: an update may come) */
	Run("SELECT pg_catalog.to_regclass('branchpromote.incarnation') IS NOT NULL",
		0, NULL, NULL, NULL, SPI_OK_SELECT);
	/* a catalog not yet updated to 0.5.0 has none: one stamp for all of it */
	if (DatumGetBool(Col(0, 1, &isnull)) &&
		Run("SELECT id::pg_catalog.text FROM branchpromote.incarnation", 0, NULL, NULL, NULL,
			SPI_OK_SELECT) > 0)
		strlcpy(bp_incarnation, TextDatumGetCString(Col(0, 1, &isnull)), sizeof(bp_incarnation));
	else
		strlcpy(bp_incarnation, "pre-0.5.0", sizeof(bp_incarnation));
	incarnation_lxid = MyProc->lxid;
}

int64
ColInt64(int row, int col)
{
	bool		isnull;
	Datum		d = Col(row, col, &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

int
ColInt32(int row, int col)
{
	bool		isnull;
	Datum		d = Col(row, col, &isnull);

	return isnull ? 0 : DatumGetInt32(d);
}

/* A text column copied into the caller's memory context (NULL stays NULL). */
char *
ColText(int row, int col)
{
	char	   *v = SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col);
	char	   *copy;

	if (v == NULL)
		return NULL;
	copy = SPI_palloc(strlen(v) + 1);
	strcpy(copy, v);
	return copy;
}

/* The first column of every row of a query, as ids (List of int64 *). */
List *
Ids(const char *sql, int nargs, Oid *types, Datum *values)
{
	List	   *out = NIL;
	int			n = Run(sql, nargs, types, values, NULL, SPI_OK_SELECT);

	for (int i = 0; i < n; i++)
	{
		int64	   *id = SPI_palloc(sizeof(int64));

		*id = ColInt64(i, 1);
		out = lappend(out, id);
	}
	return out;
}

bool
Exists(const char *sql, int64 id)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(id)};

	return Run(sql, 1, types, values, NULL, SPI_OK_SELECT) > 0;
}

/* The first column of the first row of a query on one id, or NULL. */
char *
FirstText(const char *sql, int64 id)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(id)};

	if (Run(sql, 1, types, values, NULL, SPI_OK_SELECT) == 0)
		return NULL;
	return ColText(0, 1);
}
