/* SPDX-License-Identifier: GPL-2.0-or-later */
/* journal.c - one structured journal entry per job run (sd_journal_send),
 * so `journalctl QUIESCE_JOB=db` finds a job's runs with their label,
 * snapshot, stall, time frozen and a named writer that failed them. Skipped where journald is not running.
 */
#include <errno.h>
#include <inttypes.h>
#include <syslog.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#include "jobrun.h"

#define JOURNAL_SOCKET "/run/systemd/journal/socket"

int qz_job_journal(const qz_job *j, const qz_job_run *run) {
        if (access(JOURNAL_SOCKET, F_OK) < 0)
                return 0;
        const qz_manifest *m = run->snapshot;
        int64_t stall_ms = -1;
        for (size_t i = 0; m && i < m->n_fs; i++)
                if (m->fs[i].stall_ms > stall_ms)
                        stall_ms = m->fs[i].stall_ms;
        const char *label = m ? qz_label_name(run->label) : "none";
        const char *snap = m ? m->name : "";
        const char *writer = ""; /* the first named writer not registered, or not acknowledging */
        for (size_t i = 0; i < run->n_writers && !*writer; i++)
                if (run->writers[i].registered != 1 ||
                    (run->writers[i].judged && !run->writers[i].acknowledged))
                        writer = run->writers[i].name;
        int r = sd_journal_send(
                "MESSAGE=job %s: %s, snapshot %s (%s) in %" PRId64 " ms", j->name,
                run->ok ? "succeeded" : "failed", m ? m->name : "none", label, run->duration_ms,
                "PRIORITY=%d", run->ok ? LOG_INFO : LOG_ERR, "SYSLOG_IDENTIFIER=quiesce", "QUIESCE_JOB=%s",
                j->name, "QUIESCE_RESULT=%s", run->ok ? "success" : "failure", "QUIESCE_LABEL=%s", label,
                "QUIESCE_SNAPSHOT=%s", snap, "QUIESCE_STALL_USEC=%" PRId64,
                stall_ms >= 0 ? stall_ms * 1000 : 0, "QUIESCE_FROZEN_USEC=%" PRId64,
                m && m->frozen_ms > 0 ? m->frozen_ms * 1000 : 0, "QUIESCE_DURATION_USEC=%" PRId64,
                run->duration_ms * 1000, "QUIESCE_ARCHIVE=%s", run->archive ? run->archive : "",
                "QUIESCE_WRITER_FAILED=%s", writer, NULL);
        return r < 0 ? r : 1;
}
