/* SPDX-License-Identifier: GPL-2.0-or-later */
/* snapshot_list.c - `quiesce snapshot list`: the snapshots of the store,
 * each with its job, label, whether its storage is still as recorded
 * (verify.c) and who pins it (pin.h); a table, or --json.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "cli.h"
#include "jsonutil.h"
#include "pin.h"
#include "snapshot.h"

enum {
        OPT_STORE = 0x100,
};

int cli_snapshot_list(struct cli *cli, int argc, char **argv) {
        static const struct option longopts[] = {
                {"store", required_argument, NULL, OPT_STORE},
                {"json", no_argument, NULL, 'J'},
                CLI_COMMON_LONGOPTS,
                {NULL, 0, NULL, 0},
        };
        const char *store_opt = NULL;
        bool json = false;
        int opt;
        while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS "J", longopts, NULL)) != -1) {
                switch (opt) {
                case OPT_STORE:
                        store_opt = optarg;
                        break;
                case 'J':
                        json = true;
                        break;
                default: {
                        int r = cli_common_option(cli, "snapshot list", opt, argv);
                        if (r >= 0)
                                return r;
                }
                }
        }
        if (optind < argc)
                return cli_usage_error("snapshot list: unexpected argument '%s'", argv[optind]);
        char *store = qz_store_dir(store_opt);
        qz_manifest **v;
        size_t n, bad;
        int r = qz_manifest_list(store, &v, &n, &bad);
        if (r < 0) {
                cli_error("%s: %s", store, strerror(-r));
                free(store);
                return EXIT_FAILURE;
        }
        if (bad)
                cli_error("%s: %zu file(s) that are not readable manifests skipped", store, bad);
        /* Is each snapshot's storage still there, as recorded? */
        qz_snap_state *states = calloc(n ? n : 1, sizeof(*states));
        qz_snap_check **checks = calloc(n ? n : 1, sizeof(*checks));
        qz_pin **pins = calloc(n ? n : 1, sizeof(*pins)); /* and who pins it */
        size_t *n_pins = calloc(n ? n : 1, sizeof(*n_pins));
        if (!states || !checks || !pins || !n_pins)
                abort();
        for (size_t i = 0; i < n; i++) {
                if (qz_pins_get(store, v[i]->name, &pins[i], &n_pins[i]) < 0)
                        cli_error("%s: cannot read the pins of %s", store, v[i]->name);
                checks[i] = calloc(v[i]->n_fs ? v[i]->n_fs : 1, sizeof(**checks));
                if (!checks[i])
                        abort();
                states[i] = qz_snapshot_verify(v[i], checks[i]);
        }
        if (json) {
                json_object *a = json_object_new_array();
                for (size_t i = 0; i < n; i++) {
                        char *t = qz_manifest_to_json(v[i]);
                        json_object *mo = json_tokener_parse(t);
                        free(t);
                        json_object_object_add(mo, "state",
                                               json_object_new_string(qz_snap_state_name(states[i])));
                        if (!v[i]->job)
                                json_object_object_add(mo, "job", NULL);
                        json_object *pa = json_object_new_array();
                        for (size_t k = 0; k < n_pins[i]; k++) {
                                const qz_pin *pn = &pins[i][k];
                                json_object *po = json_object_new_object();
                                char *d = qz_pin_describe(pn);
                                json_object_object_add(po, "lasting", json_object_new_boolean(pn->lasting));
                                json_object_object_add(po, "pid",
                                                       pn->pid ? json_object_new_int64(pn->pid) : NULL);
                                json_object_object_add(po, "command",
                                                       pn->command ? json_object_new_string(pn->command)
                                                                   : NULL);
                                json_object_object_add(
                                        po, "reason", pn->reason ? json_object_new_string(pn->reason) : NULL);
                                json_object_object_add(po, "since",
                                                       pn->since ? json_object_new_string(pn->since) : NULL);
                                json_object_object_add(po, "description", json_object_new_string(d));
                                free(d);
                                json_object_array_add(pa, po);
                        }
                        json_object_object_add(mo, "pins", pa);
                        json_object *fss = qz_json_get_array(mo, "filesystems");
                        if (fss)
                                for (size_t j = 0; j < v[i]->n_fs && j < json_object_array_length(fss); j++) {
                                        json_object *fo = json_object_array_get_idx(fss, j);
                                        json_object_object_add(fo, "state",
                                                               json_object_new_string(qz_snap_state_name(
                                                                       checks[i][j].state)));
                                        json_object_object_add(fo, "state_reason",
                                                               json_object_new_string(checks[i][j].reason));
                                }
                        json_object_array_add(a, mo);
                }
                puts(json_object_to_json_string_ext(a, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                               JSON_C_TO_STRING_NOSLASHESCAPE));
                json_object_put(a);
        } else if (n) {
                size_t wn = 4, wp = 8, wl = 5, wf = 11, ws = 7, wj = 3; /* "damaged" */
                char **fss = calloc(n, sizeof(*fss));
                char(*sizes)[32] = calloc(n, sizeof(*sizes));
                if (!fss || !sizes)
                        abort();
                for (size_t i = 0; i < n; i++) {
                        int64_t total = 0;
                        bool known = false;
                        char **mps = calloc(v[i]->n_fs + 1, sizeof(*mps));
                        if (!mps)
                                abort();
                        for (size_t j = 0; j < v[i]->n_fs; j++) {
                                mps[j] = v[i]->fs[j].mountpoint ? v[i]->fs[j].mountpoint : "?";
                                if (v[i]->fs[j].size_bytes >= 0) {
                                        total += v[i]->fs[j].size_bytes;
                                        known = true;
                                }
                        }
                        fss[i] = cli_join(mps, v[i]->n_fs, ",");
                        free(mps);
                        if (known)
                                qz_format_bytes((uint64_t)total, sizes[i], sizeof(sizes[i]));
                        else
                                snprintf(sizes[i], sizeof(sizes[i]), "-");
                        wn = strlen(v[i]->name) > wn ? strlen(v[i]->name) : wn;
                        wp = v[i]->provider && strlen(v[i]->provider) > wp ? strlen(v[i]->provider) : wp;
                        wl = strlen(qz_label_name(v[i]->label)) > wl ? strlen(qz_label_name(v[i]->label))
                                                                     : wl;
                        wf = strlen(fss[i]) > wf ? strlen(fss[i]) : wf;
                        wj = v[i]->job && strlen(v[i]->job) > wj ? strlen(v[i]->job) : wj;
                }
                printf("%-*s %-20s %-*s %-*s %-*s %-*s %-*s %s\n", (int)wn, "NAME", "CREATED", (int)wj, "JOB",
                       (int)wl, "LABEL", (int)ws, "STATE", (int)wp, "PROVIDER", (int)wf, "FILESYSTEMS",
                       "SIZE");
                for (size_t i = 0; i < n; i++) {
                        printf("%-*s %-20s %-*s %-*s %-*s %-*s %-*s %s\n", (int)wn, v[i]->name,
                               v[i]->created ? v[i]->created : "?", (int)wj, v[i]->job ? v[i]->job : "-",
                               (int)wl, qz_label_name(v[i]->label), (int)ws, qz_snap_state_name(states[i]),
                               (int)wp, v[i]->provider ? v[i]->provider : "?", (int)wf, fss[i], sizes[i]);
                        free(fss[i]);
                        /* who pins it, and what is wrong, under the snapshot's line */
                        for (size_t k = 0; k < n_pins[i]; k++) {
                                char *d = qz_pin_describe(&pins[i][k]);
                                printf("  pinned by %s\n", d);
                                free(d);
                        }
                        for (size_t j = 0; j < v[i]->n_fs; j++)
                                if (checks[i][j].state != QZ_SNAP_INTACT)
                                        printf("  %s: %s: %s\n",
                                               v[i]->fs[j].mountpoint ? v[i]->fs[j].mountpoint : "?",
                                               qz_snap_state_name(checks[i][j].state), checks[i][j].reason);
                }
                free(fss);
                free(sizes);
        }
        for (size_t i = 0; i < n; i++) {
                qz_snap_checks_done(checks[i], v[i]->n_fs);
                free(checks[i]);
                qz_pins_free(pins[i], n_pins[i]);
        }
        free(pins);
        free(n_pins);
        free(checks);
        free(states);
        qz_manifest_list_free(v, n);
        free(store);
        return EXIT_SUCCESS;
}
