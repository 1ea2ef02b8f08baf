/*
 * guc.h — branchpromote's configuration parameters.
 */
#ifndef BP_GUC_H
#define BP_GUC_H

extern char *bp_data_root_setting;
extern char *bp_socket_directory_setting;
extern char *bp_database_name;
extern char *bp_compute_os_user;
extern int	bp_compute_port_base;
extern int	bp_compute_port_count;
extern int	bp_compute_start_timeout_ms;
extern int	bp_operation_timeout_ms;
extern int	bp_reconcile_interval_ms;
extern int	bp_migration_lock_timeout_ms;
extern int	bp_migration_retry_for_ms;
extern int	bp_migration_statement_timeout_ms;
extern int	bp_history_retention_s;
extern int	bp_trash_retention_s;
extern int	bp_snapshot_interval_s;
extern int	bp_defragment_extents;
extern int	bp_suspend_timeout_s;
extern int	bp_recovery_window_s;
extern char *bp_crash_at;
extern int	bp_proxy_port;
extern char *bp_proxy_listen_addresses;
extern int	bp_proxy_connect_timeout_ms;
extern int	bp_proxy_max_connections;
extern char *bp_proxy_ssl_cert_file;
extern char *bp_proxy_ssl_key_file;

extern void BpGucInit(void);
extern const char *BpDataRoot(void);
extern const char *BpSocketRoot(void);

#endif
