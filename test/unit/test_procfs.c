#include <criterion/criterion.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "proc/procfs.h"

/* Criterion runs each test in a child of its own: renaming it is safe. */
Test(procfs, reads_a_comm_with_spaces_and_parens, .timeout = 5)
{
    cr_assert_eq(prctl(PR_SET_NAME, "a) (b c) d", 0, 0, 0), 0);
    struct procfs_stat st;
    cr_assert_eq(procfs_read_stat("self", &st), 0);
    cr_expect_str_eq(st.comm, "a) (b c) d");
    cr_expect_eq(st.state, 'R');
    cr_expect_eq(st.ppid, getppid());
    cr_expect_eq(st.pgrp, getpgrp());
    cr_expect_gt(st.start, 0);
    cr_expect_gt(st.vsize, 0);
    cr_expect_gt(st.rss, 0);
}

Test(procfs, cuts_a_long_comm_and_reads_by_pid, .timeout = 5)
{
    cr_assert_eq(prctl(PR_SET_NAME, "0123456789abcdefghij", 0, 0, 0), 0);
    char pid[32];
    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    struct procfs_stat st;
    cr_assert_eq(procfs_read_stat(pid, &st), 0);
    cr_expect_str_eq(st.comm, "0123456789abcde", "the kernel keeps 15");
}

Test(procfs, a_process_gone_is_an_error, .timeout = 5)
{
    struct procfs_stat st;
    cr_expect_eq(procfs_read_stat("0", &st), -1);
    cr_expect_eq(procfs_read_stat("no-such", &st), -1);
}
