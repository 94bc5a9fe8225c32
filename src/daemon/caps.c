/* SPDX-License-Identifier: GPL-2.0-or-later */
/* caps.c - dropping capabilities after start (see caps.h). Direct capget/
 * capset and prctl: no library, nothing to load at run time.
 */
#include "caps.h"
#include "sysfs.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char *const cap_names[] = {
        "cap_chown",
        "cap_dac_override",
        "cap_dac_read_search",
        "cap_fowner",
        "cap_fsetid",
        "cap_kill",
        "cap_setgid",
        "cap_setuid",
        "cap_setpcap",
        "cap_linux_immutable",
        "cap_net_bind_service",
        "cap_net_broadcast",
        "cap_net_admin",
        "cap_net_raw",
        "cap_ipc_lock",
        "cap_ipc_owner",
        "cap_sys_module",
        "cap_sys_rawio",
        "cap_sys_chroot",
        "cap_sys_ptrace",
        "cap_sys_pacct",
        "cap_sys_admin",
        "cap_sys_boot",
        "cap_sys_nice",
        "cap_sys_resource",
        "cap_sys_time",
        "cap_sys_tty_config",
        "cap_mknod",
        "cap_lease",
        "cap_audit_write",
        "cap_audit_control",
        "cap_setfcap",
        "cap_mac_override",
        "cap_mac_admin",
        "cap_syslog",
        "cap_wake_alarm",
        "cap_block_suspend",
        "cap_audit_read",
        "cap_perfmon",
        "cap_bpf",
        "cap_checkpoint_restore",
};

static int last_cap(void) {
        char buf[16];
        int n = -1;
        if (qz_read_line_at(AT_FDCWD, "/proc/sys/kernel/cap_last_cap", buf, sizeof(buf)) < 0 ||
            sscanf(buf, "%d", &n) != 1)
                n = -1;
        if (n < 0 || n > 63) {
                /* No /proc: probe the bounding set. */
                for (n = 0; n < 63 && prctl(PR_CAPBSET_READ, n + 1, 0, 0, 0) >= 0; n++)
                        ;
        }
        return n;
}

static int get_sets(struct __user_cap_data_struct data[2]) {
        struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
        memset(data, 0, 2 * sizeof(*data));
        return (int)syscall(SYS_capget, &hdr, data);
}

static uint64_t mask_of(const struct __user_cap_data_struct data[2], int which) {
        uint32_t lo = which == 0 ? data[0].effective : which == 1 ? data[0].permitted : data[0].inheritable;
        uint32_t hi = which == 0 ? data[1].effective : which == 1 ? data[1].permitted : data[1].inheritable;
        return (uint64_t)lo | (uint64_t)hi << 32;
}

uint64_t qz_caps_effective(void) {
        struct __user_cap_data_struct data[2];
        return get_sets(data) < 0 ? 0 : mask_of(data, 0);
}

const char *qz_caps_format(uint64_t mask, char *buf, size_t size) {
        size_t len = 0;
        buf[0] = '\0';
        for (int c = 0; c < 64 && len < size; c++) {
                if (!(mask & QZ_CAP(c)))
                        continue;
                int n;
                if (c < (int)(sizeof(cap_names) / sizeof(cap_names[0])))
                        n = snprintf(buf + len, size - len, "%s%s", len ? "," : "", cap_names[c]);
                else
                        n = snprintf(buf + len, size - len, "%scap_%d", len ? "," : "", c);
                if (n < 0)
                        break;
                len += (size_t)n;
        }
        if (!buf[0])
                snprintf(buf, size, "none");
        return buf;
}

bool qz_caps_unlimit_memlock(void) {
        struct rlimit rl = {RLIM_INFINITY, RLIM_INFINITY};
        if (setrlimit(RLIMIT_MEMLOCK, &rl) == 0)
                return true;
        return getrlimit(RLIMIT_MEMLOCK, &rl) == 0 && rl.rlim_cur == RLIM_INFINITY;
}

int qz_caps_drop(uint64_t keep, char *err, size_t errlen) {
        struct __user_cap_data_struct data[2];
        err[0] = '\0';
        if (get_sets(data) < 0) {
                int e = errno;
                snprintf(err, errlen, "capget: %s", strerror(e));
                return -e;
        }
        bool setpcap = mask_of(data, 0) & QZ_CAP(CAP_SETPCAP);
        if (setpcap) {
                /* The bounding set first: dropping from it needs CAP_SETPCAP, which goes below. */
                int last = last_cap();
                for (int c = 0; c <= last; c++) {
                        if (keep & QZ_CAP(c))
                                continue;
                        if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 1 &&
                            prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0) {
                                int e = errno;
                                snprintf(err, errlen, "cannot drop %s from the bounding set: %s",
                                         c < (int)(sizeof(cap_names) / sizeof(cap_names[0])) ? cap_names[c]
                                                                                             : "a capability",
                                         strerror(e));
                                return -e;
                        }
                }
                /* uid 0 gains no capability by exec, and nothing can undo that.
                 * A bit already locked (by systemd's SecureBits=) stays as it is. */
                static const int pairs[][2] = {
                        {SECBIT_NOROOT, SECBIT_NOROOT_LOCKED},
                        {SECBIT_NO_SETUID_FIXUP, SECBIT_NO_SETUID_FIXUP_LOCKED},
                        {0, SECBIT_KEEP_CAPS_LOCKED},
                        {SECBIT_NO_CAP_AMBIENT_RAISE, SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED},
                };
                int cur = prctl(PR_GET_SECUREBITS, 0, 0, 0, 0);
                int bits = cur < 0 ? 0 : cur;
                for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++)
                        if (!(bits & pairs[i][1]))
                                bits |= pairs[i][0] | pairs[i][1];
                if (bits != cur && prctl(PR_SET_SECUREBITS, bits, 0, 0, 0) < 0) {
                        int e = errno;
                        snprintf(err, errlen, "cannot lock the securebits: %s", strerror(e));
                        return -e;
                }
        }
        /* Ambient capabilities would survive an exec; none of ours may. EINVAL: a kernel without them. */
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) {
                int e = errno;
                snprintf(err, errlen, "cannot clear the ambient capabilities: %s", strerror(e));
                return -e;
        }
        uint64_t have = mask_of(data, 1) & keep;
        struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
        struct __user_cap_data_struct set[2] = {
                {.effective = (uint32_t)have, .permitted = (uint32_t)have, .inheritable = 0},
                {.effective = (uint32_t)(have >> 32), .permitted = (uint32_t)(have >> 32), .inheritable = 0},
        };
        if (syscall(SYS_capset, &hdr, set) < 0) {
                int e = errno;
                snprintf(err, errlen, "capset: %s", strerror(e));
                return -e;
        }
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
                int e = errno;
                snprintf(err, errlen, "cannot set no_new_privs: %s", strerror(e));
                return -e;
        }
        /* Check what the kernel now says. */
        if (get_sets(data) < 0 || mask_of(data, 0) != have || mask_of(data, 1) != have ||
            mask_of(data, 2) != 0) {
                snprintf(err, errlen, "capabilities not as asked after capset");
                return -EPERM;
        }
        return 0;
}
