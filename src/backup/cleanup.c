/* cleanup.c - the registry of temporary objects (mounts, loop devices,
 * directories, files, children) a backup makes, undone in reverse on every
 * exit path; SIGINT/SIGTERM/SIGHUP only set a flag the loops check.
 */
#include <signal.h>

#include "backup.h"

static volatile sig_atomic_t interrupted;

static void on_signal(int sig) {
        interrupted = sig;
}

int bk_cleanup_init(void) {
        struct sigaction sa = {.sa_handler = on_signal};
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGHUP, &sa, NULL);
        return 0;
}

bool bk_interrupted(void) {
        return interrupted != 0;
}
