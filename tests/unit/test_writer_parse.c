/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_writer_parse.c - the writers' requests as parse.c takes them:
 * RegisterWriter (name, targets, required, the phase timeouts: defaults,
 * ceilings) and WriterAnswer (freeze id, phase, answer, detail). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "parse.h"

static int parse(const char *text, qz_request *req, qz_request_error *e) {
        return qz_request_parse(text, req, e);
}

static void test_register_defaults(void **state) {
        (void)state;
        qz_request req;
        qz_request_error e;
        assert_int_equal(parse("{\"method\":\"io.quiesce.RegisterWriter\",\"parameters\":{\"name\":\"pg\","
                               "\"paths\":[\"/srv/db\"]}}",
                               &req, &e),
                         0);
        assert_int_equal(req.method, QZ_METHOD_REGISTER_WRITER);
        assert_string_equal(req.writer_name, "pg");
        assert_false(req.required);
        assert_int_equal(req.n_targets, 1);
        assert_true(req.phase_timeout[QZ_PHASE_PREPARE] == (usec_t)QZ_WRITER_PREPARE_DEFAULT_MS * 1000);
        assert_true(req.phase_timeout[QZ_PHASE_FREEZE] == (usec_t)QZ_WRITER_FREEZE_DEFAULT_MS * 1000);
        assert_true(req.phase_timeout[QZ_PHASE_THAW] == (usec_t)QZ_WRITER_THAW_DEFAULT_MS * 1000);
        assert_true(req.phase_timeout[QZ_PHASE_ABORT] == req.phase_timeout[QZ_PHASE_THAW]);
        qz_request_done(&req);
}

static void test_register_values_and_refusals(void **state) {
        (void)state;
        qz_request req;
        qz_request_error e;
        assert_int_equal(parse("{\"method\":\"io.quiesce.RegisterWriter\",\"parameters\":{\"name\":\"m\","
                               "\"paths\":[\"/a\",\"/b\"],\"required\":true,\"freeze_timeout_ms\":500}}",
                               &req, &e),
                         0);
        assert_true(req.required);
        assert_int_equal(req.n_targets, 2);
        assert_true(req.phase_timeout[QZ_PHASE_FREEZE] == 500000);
        qz_request_done(&req);

        static const char *const bad[] = {
                "{\"method\":\"io.quiesce.RegisterWriter\",\"parameters\":{\"paths\":[\"/a\"]}}",
                "{\"method\":\"io.quiesce.RegisterWriter\",\"parameters\":{\"name\":\"a "
                "b\",\"paths\":[\"/a\"]}}",
                "{\"method\":\"io.quiesce.RegisterWriter\",\"parameters\":{\"name\":\"\",\"paths\":[\"/"
                "a\"]}}",
                "{\"method\":\"io.quiesce.RegisterWriter\",\"parameters\":{\"name\":\"x\"}}",
                "{\"method\":\"io.quiesce.RegisterWriter\",\"parameters\":{\"name\":\"x\",\"paths\":[\"rel\"]"
                "}}",
                "{\"method\":\"io.quiesce.RegisterWriter\",\"parameters\":{\"name\":\"x\",\"paths\":[\"/a\"],"
                "\"freeze_timeout_ms\":60001}}",
                "{\"method\":\"io.quiesce.RegisterWriter\",\"parameters\":{\"name\":\"x\",\"paths\":[\"/a\"],"
                "\"prepare_timeout_ms\":0}}",
                "{\"method\":\"io.quiesce.RegisterWriter\",\"parameters\":{\"name\":\"x\",\"paths\":[\"/a\"],"
                "\"required\":1}}",
                "{\"method\":\"io.quiesce.RegisterWriter\",\"parameters\":{\"name\":"
                "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"paths\":[\"/a\"]}}",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                assert_int_equal(parse(bad[i], &req, &e), -1);
                assert_int_equal(req.method, QZ_METHOD_REGISTER_WRITER);
                assert_int_equal(e.err, 22);
                assert_true(strlen(e.message) > 0);
        }
}

static void test_answer(void **state) {
        (void)state;
        qz_request req;
        qz_request_error e;
        assert_int_equal(parse("{\"method\":\"io.quiesce.WriterAnswer\",\"parameters\":{\"freeze\":7,"
                               "\"phase\":\"freeze\",\"answer\":\"ok\",\"detail\":\"pos=12\"}}",
                               &req, &e),
                         0);
        assert_true(req.freeze_id == 7);
        assert_int_equal(req.phase, QZ_PHASE_FREEZE);
        assert_int_equal(req.answer, QZ_ANSWER_OK);
        assert_string_equal(req.detail, "pos=12");
        qz_request_done(&req);
        assert_int_equal(parse("{\"method\":\"io.quiesce.WriterAnswer\",\"parameters\":{\"freeze\":1,"
                               "\"phase\":\"prepare\",\"answer\":\"veto\"}}",
                               &req, &e),
                         0);
        assert_int_equal(req.answer, QZ_ANSWER_VETO);
        assert_null(req.detail);
        qz_request_done(&req);

        static const char *const bad[] = {
                "{\"method\":\"io.quiesce.WriterAnswer\",\"parameters\":{\"phase\":\"freeze\",\"answer\":"
                "\"ok\"}}",
                "{\"method\":\"io.quiesce.WriterAnswer\",\"parameters\":{\"freeze\":0,\"phase\":\"freeze\","
                "\"answer\":\"ok\"}}",
                "{\"method\":\"io.quiesce.WriterAnswer\",\"parameters\":{\"freeze\":1,\"phase\":\"melt\","
                "\"answer\":\"ok\"}}",
                "{\"method\":\"io.quiesce.WriterAnswer\",\"parameters\":{\"freeze\":1,\"phase\":\"thaw\","
                "\"answer\":\"maybe\"}}",
                "{\"method\":\"io.quiesce.WriterAnswer\",\"parameters\":{\"freeze\":1,\"phase\":\"thaw\","
                "\"answer\":\"ok\",\"detail\":\"two\\nlines\"}}",
                "{\"method\":\"io.quiesce.WriterAnswer\",\"parameters\":{\"freeze\":1,\"phase\":\"thaw\","
                "\"answer\":\"ok\",\"detail\":5}}",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                assert_int_equal(parse(bad[i], &req, &e), -1);
                assert_int_equal(req.method, QZ_METHOD_WRITER_ANSWER);
        }
}

static void test_names(void **state) {
        (void)state;
        assert_string_equal(qz_phase_name(QZ_PHASE_PREPARE), "prepare");
        assert_string_equal(qz_phase_name(QZ_PHASE_ABORT), "abort");
        assert_string_equal(qz_answer_name(QZ_ANSWER_FAIL), "fail");
        assert_string_equal(qz_answer_name(QZ_ANSWER_NONE), "none");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_register_defaults),
                cmocka_unit_test(test_register_values_and_refusals),
                cmocka_unit_test(test_answer),
                cmocka_unit_test(test_names),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
