/*
 * Unit test of typeahead-serve's signals (server/srv_life.c; docs/server.md, "Stop"): a SIGHUP
 * or SIGTERM that arrives while srv_new() loads the tries (1 to 2 s for a 10 M-query trie, and
 * every market's file with --trie-dir) must not kill the process: SIGHUP reloads and SIGTERM
 * stops cleanly once srv_run() handles them. Before, only srv_run() blocked them, so the default
 * action of either (termination) applied during the whole load: a deploy's "kill -HUP" right
 * after a restart took the server down. The child raises both between srv_new() and srv_run(),
 * the end of the window in which they were lost, and must exit 0 from srv_run().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../trie/trie_test_util.h"
#include "srv.h"

static const trie_entry_t ENTRIES[] = {
    {"new york", 8, "new york", 8, 100},
    {"newark", 6, "newark", 6, 50},
};

/* In a child: srv_new, the signals sig_a then sig_b as if sent during the load, srv_run. Returns
 * the child's wait status. */
static int run_child(int sig_a, int sig_b) {
  char path[4200];
  snprintf(path, sizeof path, "%s/t.trie", tu_dir);
  assert_int_equal(tu_write(path, ENTRIES, 2, 5, "test", 1), 0);
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    srv_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.trie_path = path;
    cfg.listen = "127.0.0.1:0";
    cfg.threads = 1;
    srv_t *s = NULL;
    if (srv_new(&cfg, &s) != 0) _exit(3);
    raise(sig_a);
    raise(sig_b);
    int rc = srv_run(s);
    srv_free(s);
    _exit(rc == 0 ? 0 : 4);
  }
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  return status;
}

static void test_hup_then_term_before_run(void **state) {
  (void)state;
  int status = run_child(SIGHUP, SIGTERM);
  if (WIFSIGNALED(status)) fail_msg("killed by signal %d during the start", WTERMSIG(status));
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_term_before_run(void **state) {
  (void)state;
  int status = run_child(SIGTERM, SIGTERM);
  if (WIFSIGNALED(status)) fail_msg("killed by signal %d during the start", WTERMSIG(status));
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hup_then_term_before_run),
      cmocka_unit_test(test_term_before_run),
  };
  return cmocka_run_group_tests(tests, tu_setup_dir, tu_teardown_dir);
}
